// GPT-2's byte-level alphabet (see byte_level.h).
#include "runtime/tokenizer/byte_level.h"

#include "runtime/core/text.h"

#include <array>
#include <cstdint>
#include <unordered_map>

namespace mt::tok {
namespace {

struct Alphabet {
  std::array<std::string, 256> chars;
  std::unordered_map<uint32_t, unsigned char> bytes;  // code point -> byte
  Alphabet() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? b : next++;
      chars[b] = text::Utf8(cp);
      bytes[cp] = static_cast<unsigned char>(b);
    }
  }
};

const Alphabet& Get() {
  static const Alphabet a;
  return a;
}

}  // namespace

const std::string& ByteLevelChar(unsigned char b) { return Get().chars[b]; }

std::optional<std::string> ByteLevelDecode(std::string_view token) {
  const Alphabet& a = Get();
  std::string out;
  out.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    const auto c = static_cast<unsigned char>(token[i]);
    uint32_t cp = 0;
    size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < token.size()) {
      cp = ((c & 0x1F) << 6) | (token[i + 1] & 0x3F);
      len = 2;
    } else {
      return std::nullopt;  // the alphabet stops at U+0143: two bytes at most
    }
    auto it = a.bytes.find(cp);
    if (it == a.bytes.end()) return std::nullopt;
    out += static_cast<char>(it->second);
    i += len;
  }
  return out;
}

}  // namespace mt::tok
