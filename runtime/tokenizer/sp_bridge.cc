// SpBridge (see sp_bridge.h): libmt_sentencepiece.so (sp_plugin.cc) opened with dlopen on
// first use, RTLD_LOCAL | RTLD_DEEPBIND, so its bundled protobuf never meets ours. It is looked
// for next to the running executable, then where the build put it.
#include "runtime/tokenizer/sp_bridge.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

namespace mt::tok {
namespace {

struct Plugin {
  void* (*load)(const char*, char*, size_t) = nullptr;
  void (*free)(void*) = nullptr;
  int (*encode)(void*, const char*, size_t, void*) = nullptr;
  int (*decode)(void*, const int*, size_t, void*) = nullptr;
  int (*info)(void*, int) = nullptr;
  void (*piece)(void*, int, void*) = nullptr;
  std::string error;  // why it is not there
};

const Plugin& GetPlugin() {
  static Plugin p;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> paths;
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) paths.push_back((exe.parent_path() / "libmt_sentencepiece.so").string());
    paths.push_back(MT_SENTENCEPIECE_PLUGIN);
    void* h = nullptr;
    for (const std::string& path : paths) {
      h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (h) break;
      p.error += (p.error.empty() ? "" : "; ") + std::string(dlerror());
    }
    if (!h) return;
    p.load = reinterpret_cast<decltype(p.load)>(dlsym(h, "mt_sp_load"));
    p.free = reinterpret_cast<decltype(p.free)>(dlsym(h, "mt_sp_free"));
    p.encode = reinterpret_cast<decltype(p.encode)>(dlsym(h, "mt_sp_encode"));
    p.decode = reinterpret_cast<decltype(p.decode)>(dlsym(h, "mt_sp_decode"));
    p.info = reinterpret_cast<decltype(p.info)>(dlsym(h, "mt_sp_info"));
    p.piece = reinterpret_cast<decltype(p.piece)>(dlsym(h, "mt_sp_piece"));
    if (!p.load || !p.free || !p.encode || !p.decode || !p.info || !p.piece) {
      p.load = nullptr;
      p.error = "libmt_sentencepiece.so lacks a function";
    }
  });
  return p;
}

}  // namespace

struct SpBridge::Impl {
  void* handle = nullptr;
};

std::unique_ptr<SpBridge> SpBridge::Load(const std::string& file, std::string* error) {
  const Plugin& p = GetPlugin();
  if (!p.load) {
    *error = "the SentencePiece plugin cannot be loaded: " + p.error;
    return nullptr;
  }
  char err[512] = {};
  void* h = p.load(file.c_str(), err, sizeof(err));
  if (!h) {
    *error = err;
    return nullptr;
  }
  std::unique_ptr<SpBridge> b(new SpBridge);
  b->impl_ = std::make_unique<Impl>();
  b->impl_->handle = h;
  return b;
}

SpBridge::~SpBridge() {
  if (impl_ && impl_->handle) GetPlugin().free(impl_->handle);
}

bool SpBridge::Encode(std::string_view text, std::vector<int>& ids) const {
  return GetPlugin().encode(impl_->handle, text.data(), text.size(), &ids) == 0;
}

bool SpBridge::Decode(const std::vector<int>& ids, std::string& text, std::string* error) const {
  if (GetPlugin().decode(impl_->handle, ids.data(), ids.size(), &text) == 0) return true;
  *error = text;
  return false;
}

int SpBridge::size() const { return GetPlugin().info(impl_->handle, 0); }
int SpBridge::bos() const { return GetPlugin().info(impl_->handle, 1); }
int SpBridge::eos() const { return GetPlugin().info(impl_->handle, 2); }
int SpBridge::pad() const { return GetPlugin().info(impl_->handle, 3); }
std::string SpBridge::Piece(int id) const {
  std::string s;
  GetPlugin().piece(impl_->handle, id, &s);
  return s;
}

}  // namespace mt::tok
