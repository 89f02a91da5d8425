// A std-only face of libsentencepiece. Its header declares `namespace absl { using
// std::string_view; }`, which collides with Debian's Abseil (its own string_view) in any file
// that includes both: sp_bridge.cc includes only sentencepiece, the rest only this.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mt::tok {

class SpBridge {
 public:
  // nullptr and `error` set when `file` is not a SentencePiece model.
  static std::unique_ptr<SpBridge> Load(const std::string& file, std::string* error);
  ~SpBridge();
  bool Encode(std::string_view text, std::vector<int>& ids) const;
  bool Decode(const std::vector<int>& ids, std::string& text, std::string* error) const;
  int size() const;
  int bos() const;  // -1: none
  int eos() const;
  int pad() const;
  std::string Piece(int id) const;

 private:
  SpBridge() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mt::tok
