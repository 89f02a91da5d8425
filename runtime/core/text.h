// Small string helpers on std::string_view.
//
// Why not absl's: Debian 12 builds Abseil as C++14, so absl::string_view is its own type and
// absl::StrCat / StrSplit / SimpleAtoi do not accept std::string_view. Core code uses these
// helpers and fmt instead; absl::StrCat stays fine with std::string and literals.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mt::text {

std::string_view Trim(std::string_view s);
std::string Lower(std::string_view s);
std::string Upper(std::string_view s);
// Splits on `sep`, trimming each piece and dropping empty ones.
std::vector<std::string_view> Split(std::string_view s, char sep);
// Whole-string parses (after trimming); nullopt on anything else, including overflow.
std::optional<int64_t> ToInt(std::string_view s);
std::optional<double> ToDouble(std::string_view s);
// The UTF-8 encoding of code point `cp` (< 0x110000).
std::string Utf8(uint32_t cp);

}  // namespace mt::text
