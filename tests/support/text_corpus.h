// A varied text corpus for tokenizer tests and benchmarks, deterministic from a seed: English
// prose (Debian's license texts), code (this repository's sources), and generated text in many
// scripts — accented Latin, Greek, Cyrillic, Arabic, Hebrew, Devanagari with combining marks,
// CJK, Hangul, kana, emoji with ZWJ sequences and skin tones — with digit runs, contractions in
// both cases, and whitespace of every kind (runs of spaces and tabs, CRLF, blank lines, NBSP,
// U+3000, U+2028, U+0085).
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/core/text.h"

namespace mt::testing {

inline std::string Utf8Of(uint32_t cp) { return text::Utf8(cp); }

// Generated multilingual text of about `bytes` bytes.
inline std::string GeneratedText(size_t bytes, uint32_t seed) {
  struct Range {
    uint32_t lo, hi;
  };
  const std::vector<std::vector<Range>> scripts = {
      {{'a', 'z'}, {0xE0, 0xFF}},            // accented Latin
      {{0x3B1, 0x3C9}},                      // Greek
      {{0x430, 0x44F}, {0x410, 0x42F}},      // Cyrillic
      {{0x627, 0x64A}},                      // Arabic
      {{0x5D0, 0x5EA}},                      // Hebrew
      {{0x915, 0x939}, {0x93E, 0x94D}},      // Devanagari, vowel signs (combining)
      {{0x4E00, 0x9FFF}},                    // CJK
      {{0xAC00, 0xD7A3}},                    // Hangul
      {{0x3041, 0x3096}, {0x30A1, 0x30FA}},  // kana
      {{0x1F300, 0x1F5FF}, {0x1F600, 0x1F64F}, {0x1F900, 0x1F9FF}},  // emoji
      {{'A', 'Z'}, {'a', 'z'}},                                      // ASCII words
  };
  const std::vector<std::string> spaces = {
      " ",        "  ",           "\t",           "\n",       "\r\n", "\n\n\n", "    ",
      "\xC2\xA0", "\xE3\x80\x80", "\xE2\x80\xA8", "\xC2\x85", " \t ", "\n   \n"};
  const std::vector<std::string> bits = {
      "'s",  "'LL",          "'re",      "'Ve",     "'d", "'M", "'t", ",", ".", "!?",
      "...", "--",           "(",        ")",       "\"", "#",  "$",  "%", "/", "://",
      "+=",  "\xE2\x80\x94", "\xC2\xAB", "\xC2\xBB"};
  std::mt19937 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::string out;
  while (out.size() < bytes) {
    const int kind = static_cast<int>(pick(10));
    if (kind < 6) {  // a word
      const auto& script = scripts[pick(scripts.size())];
      const size_t len = 1 + pick(9);
      for (size_t i = 0; i < len; ++i) {
        const Range r = script[pick(script.size())];
        out += Utf8Of(r.lo + static_cast<uint32_t>(pick(r.hi - r.lo + 1)));
        if (r.lo == 0x1F600 && pick(4) == 0) out += Utf8Of(0x1F3FB + pick(5));         // skin tone
        if (r.lo == 0x1F300 && pick(6) == 0) out += "\xE2\x80\x8D" + Utf8Of(0x1F525);  // ZWJ
      }
    } else if (kind == 6) {  // digits
      const size_t len = 1 + pick(12);
      for (size_t i = 0; i < len; ++i) out += static_cast<char>('0' + pick(10));
    } else if (kind == 7) {
      out += bits[pick(bits.size())];
    } else if (kind == 8 && pick(8) == 0) {  // a long whitespace run
      out += std::string(20 + pick(300), pick(2) ? ' ' : '\n');
    }
    out += spaces[pick(4) == 0 ? pick(spaces.size()) : 0];
  }
  return out;
}

// Files under `dir` with one of `exts`, concatenated (sorted by path, so the same tree gives
// the same text), until `bytes`.
inline std::string FilesText(const std::string& dir, const std::vector<std::string>& exts,
                             size_t bytes) {
  std::vector<std::filesystem::path> paths;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file()) continue;
    const std::string ext = it->path().extension().string();
    for (const std::string& e : exts) {
      if (ext == e || (e.empty() && ext.empty())) paths.push_back(it->path());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::string out;
  for (const auto& p : paths) {
    if (out.size() >= bytes) break;
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out += ss.str();
  }
  if (out.size() <= bytes) return out;
  // Cut at a character boundary: the corpus stays valid UTF-8.
  size_t cut = bytes;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  return out.substr(0, cut);
}

// About `bytes` of valid UTF-8: a third prose, a third code, a third generated.
inline std::string VariedCorpus(const std::string& source_dir, size_t bytes, uint32_t seed) {
  std::string text = FilesText("/usr/share/common-licenses", {""}, bytes / 3);
  text += FilesText(source_dir + "/runtime", {".cc", ".h"}, bytes / 3);
  text += GeneratedText(bytes - std::min(bytes, text.size()), seed);
  return text;
}

}  // namespace mt::testing
