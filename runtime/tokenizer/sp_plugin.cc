// The SentencePiece plugin (libmt_sentencepiece.so), loaded by sp_bridge.cc with dlopen.
// Debian's libsentencepiece carries its own copy of protobuf 3.14 with exported symbols; in a
// process that also links libprotobuf 3.21 (meshtrain's gRPC and job specs) the two bind to
// each other's symbols and crash at start-up. Loaded late, RTLD_LOCAL | RTLD_DEEPBIND, the
// library sees only its own copy and meshtrain never sees it. A C ABI, so nothing but these
// functions crosses the boundary. No Abseil header may be included here (sentencepiece's
// header declares absl::string_view itself).
#include <sentencepiece_processor.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

void Copy(const std::string& s, char* out, size_t cap) {
  if (cap == 0) return;
  const size_t n = std::min(s.size(), cap - 1);
  std::memcpy(out, s.data(), n);
  out[n] = '\0';
}

}  // namespace

extern "C" {

void* mt_sp_load(const char* path, char* err, size_t errlen) {
  auto* sp = new sentencepiece::SentencePieceProcessor;
  if (auto s = sp->Load(path); !s.ok()) {
    Copy(s.ToString(), err, errlen);
    delete sp;
    return nullptr;
  }
  return sp;
}

void mt_sp_free(void* h) { delete static_cast<sentencepiece::SentencePieceProcessor*>(h); }

// Encodes into a vector the caller owns (passed as void*: std::vector<int>*).
int mt_sp_encode(void* h, const char* text, size_t len, void* ids) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  return sp->Encode(std::string_view(text, len), static_cast<std::vector<int>*>(ids)).ok() ? 0 : 1;
}

// Decodes into a std::string the caller owns; on failure the message replaces it.
int mt_sp_decode(void* h, const int* ids, size_t n, void* text) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  auto* out = static_cast<std::string*>(text);
  auto s = sp->Decode(std::vector<int>(ids, ids + n), out);
  if (!s.ok()) *out = s.ToString();
  return s.ok() ? 0 : 1;
}

// 0: vocabulary size, 1: bos, 2: eos, 3: pad (-1: none).
int mt_sp_info(void* h, int what) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  switch (what) {
    case 0:
      return sp->GetPieceSize();
    case 1:
      return sp->bos_id();
    case 2:
      return sp->eos_id();
    default:
      return sp->pad_id();
  }
}

void mt_sp_piece(void* h, int id, void* piece) {
  *static_cast<std::string*>(piece) =
      static_cast<sentencepiece::SentencePieceProcessor*>(h)->IdToPiece(id);
}

}  // extern "C"
