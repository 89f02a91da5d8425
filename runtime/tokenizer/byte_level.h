// GPT-2's byte-level alphabet: each of the 256 bytes as one printable Unicode character, the
// spelling encoder.json, vocab.bpe and HF tokenizer.json (ByteLevel) use for token strings.
// Printable ASCII and Latin-1 bytes map to themselves; the other 68 to U+0100 onwards, in byte
// order (GPT-2's bytes_to_unicode).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mt::tok {

// The UTF-8 of byte b's character.
const std::string& ByteLevelChar(unsigned char b);
// A token string in that alphabet back to its bytes; nullopt when a character is not in it.
std::optional<std::string> ByteLevelDecode(std::string_view token);

}  // namespace mt::tok
