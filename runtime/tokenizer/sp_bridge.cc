// The libsentencepiece side of SpBridge (see sp_bridge.h): no Abseil header may be included here.
#include "runtime/tokenizer/sp_bridge.h"

#include <sentencepiece_processor.h>

namespace mt::tok {

struct SpBridge::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

std::unique_ptr<SpBridge> SpBridge::Load(const std::string& file, std::string* error) {
  std::unique_ptr<SpBridge> b(new SpBridge);
  b->impl_ = std::make_unique<Impl>();
  if (auto s = b->impl_->sp.Load(file); !s.ok()) {
    *error = s.ToString();
    return nullptr;
  }
  return b;
}

SpBridge::~SpBridge() = default;

bool SpBridge::Encode(std::string_view text, std::vector<int>& ids) const {
  return impl_->sp.Encode(text, &ids).ok();
}

bool SpBridge::Decode(const std::vector<int>& ids, std::string& text, std::string* error) const {
  auto s = impl_->sp.Decode(ids, &text);
  if (!s.ok()) *error = s.ToString();
  return s.ok();
}

int SpBridge::size() const { return impl_->sp.GetPieceSize(); }
int SpBridge::bos() const { return impl_->sp.bos_id(); }
int SpBridge::eos() const { return impl_->sp.eos_id(); }
int SpBridge::pad() const { return impl_->sp.pad_id(); }
std::string SpBridge::Piece(int id) const { return impl_->sp.IdToPiece(id); }

}  // namespace mt::tok
