// Text datasets (see text_dataset.h).
#include "runtime/data/text_dataset.h"

#include <glob.h>

#include <algorithm>
#include <memory>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/hash.h"
#include "runtime/core/status.h"
#include "runtime/data/writer.h"
#include "runtime/tokenizer/tokenizer.h"

namespace mt::data {
namespace {

using json = nlohmann::json;

// The files `from` names, in order, each pattern's matches sorted (glob's order).
absl::StatusOr<std::vector<std::string>> Expand(const std::vector<std::string>& from) {
  std::vector<std::string> files;
  for (const std::string& pattern : from) {
    glob_t g{};
    const int rc = glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
      globfree(&g);
      return absl::InvalidArgumentError(fmt::format("--from {}: no file matches", pattern));
    }
    if (rc != 0) {
      globfree(&g);
      return absl::InvalidArgumentError(fmt::format("--from {}: cannot be read", pattern));
    }
    for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
  }
  return files;
}

// splitmix64: the eval split's hash of (seed, document number).
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Documents to packed samples, one packer per split.
class Packer {
 public:
  Packer(DatasetWriter& w, std::string split, int64_t len, int64_t& samples)
      : w_(w), split_(std::move(split)), len_(len), samples_(samples) {}
  absl::Status Add(const std::vector<int32_t>& ids) {
    for (int32_t id : ids) {
      buf_.push_back(id);
      if (static_cast<int64_t>(buf_.size()) == len_) {
        MT_RETURN_IF_ERROR(w_.Add(split_, buf_));
        buf_.clear();
        ++samples_;
      }
    }
    return absl::OkStatus();
  }
  int64_t left() const { return static_cast<int64_t>(buf_.size()); }

 private:
  DatasetWriter& w_;
  std::string split_;
  int64_t len_;
  int64_t& samples_;
  std::vector<int32_t> buf_;
};

class TextWriter {
 public:
  TextWriter(const TextOptions& o, const tok::Tokenizer& t, DatasetWriter& w, TextStats& s)
      : o_(o),
        t_(t),
        s_(s),
        train_(w, "train", o.sample_len, s.train_samples),
        eval_(w, "eval", o.sample_len, s.eval_samples) {}

  // One document's text: tokenised (special-token text as plain text), EOS appended.
  absl::Status Document(std::string_view text, const std::string& where) {
    if (text.empty()) return Invalid(where, "an empty document");
    std::vector<int32_t> ids = t_.Encode(text, /*specials=*/false);
    ids.push_back(*t_.special_ids().eos);
    const double u = static_cast<double>(Mix(o_.seed * 0x100000001B3ULL + s_.documents) >> 11) /
                     static_cast<double>(1ULL << 53);
    ++s_.documents;
    s_.tokens += static_cast<int64_t>(ids.size());
    if (u < o_.eval_fraction) {
      ++s_.eval_documents;
      return eval_.Add(ids);
    }
    return train_.Add(ids);
  }

  absl::Status File(const std::string& path, const std::string& text) {
    if (o_.format == "jsonl") return Jsonl(path, text);
    if (o_.doc_sep.empty()) return Document(text, path);
    size_t at = 0;
    int64_t n = 0;
    while (at <= text.size()) {
      const size_t end = std::min(text.find(o_.doc_sep, at), text.size());
      // A separator that ends the file closes the last document; it does not open an empty one.
      if (end > at || end < text.size()) {
        MT_RETURN_IF_ERROR(Document(std::string_view(text).substr(at, end - at),
                                    fmt::format("{} (document {})", path, ++n)));
      }
      if (end == text.size()) break;
      at = end + o_.doc_sep.size();
    }
    return absl::OkStatus();
  }

  int64_t dropped() const { return train_.left() + eval_.left(); }

 private:
  absl::Status Invalid(const std::string& where, const std::string& what) {
    if (o_.skip_invalid) {
      ++s_.skipped;
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        fmt::format("{}: {} (--skip-invalid counts and skips such records)", where, what));
  }

  absl::Status Jsonl(const std::string& path, const std::string& text) {
    size_t at = 0;
    for (int64_t line = 1; at < text.size(); ++line) {
      const size_t end = std::min(text.find('\n', at), text.size());
      const std::string_view l = std::string_view(text).substr(at, end - at);
      at = end + 1;
      if (l.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank line
      const std::string where = fmt::format("{}:{}", path, line);
      const json j = json::parse(l, nullptr, false);
      if (j.is_discarded()) {
        MT_RETURN_IF_ERROR(Invalid(where, "not valid JSON (or not valid UTF-8)"));
        continue;
      }
      if (!j.is_object() || !j.contains(o_.field) || !j[o_.field].is_string()) {
        MT_RETURN_IF_ERROR(Invalid(where, fmt::format("no string field '{}' (--field)", o_.field)));
        continue;
      }
      MT_RETURN_IF_ERROR(Document(j[o_.field].get<std::string>(), where));
    }
    return absl::OkStatus();
  }

  const TextOptions& o_;
  const tok::Tokenizer& t_;
  TextStats& s_;
  Packer train_, eval_;
};

absl::Status CheckOptions(const TextOptions& o, const tok::Tokenizer& t) {
  if (o.format != "text" && o.format != "jsonl") {
    return absl::InvalidArgumentError(fmt::format("--format {}: expected text or jsonl", o.format));
  }
  if (o.sample_len < 2) {
    return absl::InvalidArgumentError(
        fmt::format("--sample-len: must be at least 2 (found {})", o.sample_len));
  }
  if (!t.special_ids().eos) {
    return absl::InvalidArgumentError(fmt::format(
        "--tokenizer {}: it names no end-of-text token, which packing puts between documents",
        o.tokenizer));
  }
  if (t.vocab_size() > 65536) {
    return absl::UnimplementedError(fmt::format(
        "--tokenizer {}: vocabulary {} exceeds the uint16 shard format's 65,536 (wider shards "
        "are not written yet)",
        o.tokenizer, t.vocab_size()));
  }
  return absl::OkStatus();
}

std::string Provenance(const TextOptions& o, const tok::Tokenizer& t, const json& sources,
                       const TextStats& s) {
  json j = {{"tokenizer",
             {{"spec", o.tokenizer},
              {"kind", t.kind()},
              {"vocab_size", t.vocab_size()},
              {"eos", *t.special_ids().eos}}},
            {"format", o.format},
            {"sources", sources},
            {"documents", s.documents},
            {"eval_documents", s.eval_documents},
            {"skipped", s.skipped},
            {"tokens", s.tokens},
            {"dropped_tokens", s.dropped_tokens},
            {"seed", o.seed},
            {"eval_fraction", o.eval_fraction}};
  if (t.special_ids().bos) j["tokenizer"]["bos"] = *t.special_ids().bos;
  return j.dump();
}

}  // namespace

absl::StatusOr<TextStats> WriteTextDataset(const std::string& dir, const TextOptions& o) {
  auto tokenizer = tok::OpenTokenizer(o.tokenizer);
  if (!tokenizer.ok()) return Annotate(tokenizer.status(), "--tokenizer");
  const tok::Tokenizer& t = **tokenizer;
  MT_RETURN_IF_ERROR(CheckOptions(o, t));
  MT_ASSIGN_OR_RETURN(std::vector<std::string> files, Expand(o.from));
  MT_RETURN_IF_ERROR(MakeDirs(dir));
  DatasetIndex header;
  header.tokenizer = t.kind();
  header.vocab_size = t.vocab_size();
  header.sample_len = o.sample_len;
  DatasetWriter w(dir, header, o.samples_per_shard);
  TextStats s;
  TextWriter tw(o, t, w, s);
  json sources = json::array();
  for (const std::string& f : files) {
    MT_ASSIGN_OR_RETURN(std::string text, ReadFile(f));
    ++s.files;
    s.bytes += static_cast<int64_t>(text.size());
    sources.push_back(
        {{"name", f}, {"bytes", text.size()}, {"xxh64", Xxh64Hex(text.data(), text.size())}});
    MT_RETURN_IF_ERROR(tw.File(f, text));
  }
  s.dropped_tokens = tw.dropped();
  if (s.train_samples == 0) {
    return absl::InvalidArgumentError(
        fmt::format("--from: {} documents, {} tokens: not one training sample of {} tokens",
                    s.documents, s.tokens, o.sample_len));
  }
  w.SetProvenance(Provenance(o, t, sources, s));
  MT_RETURN_IF_ERROR(w.Finish());
  return s;
}

}  // namespace mt::data
