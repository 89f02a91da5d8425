// Dataset index (de)serialisation (see index.h).
#include "runtime/data/index.h"

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "runtime/core/status.h"

namespace mt::data {

using json = nlohmann::json;

int64_t DatasetIndex::Samples(const std::string& split) const {
  int64_t n = 0;
  for (const ShardInfo& s : shards) n += s.split == split ? s.samples : 0;
  return n;
}

std::string IndexToJson(const DatasetIndex& index) {
  json j = {{"format", "meshtrain.dataset"},  {"version", kFormatVersion},
            {"tokenizer", index.tokenizer},   {"vocab_size", index.vocab_size},
            {"sample_len", index.sample_len}, {"token_dtype", "uint16"}};
  if (index.answer) j["answer"] = {{"begin", index.answer->begin}, {"end", index.answer->end}};
  if (index.pad) j["pad"] = *index.pad;
  if (!index.provenance.empty()) j["provenance"] = json::parse(index.provenance);
  j["shards"] = json::array();
  for (const ShardInfo& s : index.shards) {
    j["shards"].push_back({{"name", s.name},
                           {"split", s.split},
                           {"samples", s.samples},
                           {"bytes", s.bytes},
                           {"xxh64", s.xxh64}});
  }
  return j.dump(2) + "\n";
}

namespace {

absl::Status Bad(const std::string& source, const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(fmt::format("{}: {}: {}", source, field, what));
}

absl::Status CheckShard(const ShardInfo& s, int64_t sample_len, const std::string& source,
                        size_t i) {
  const std::string field = fmt::format("shards[{}]", i);
  if (s.name.empty() || s.name.find('/') != std::string::npos || s.name[0] == '.') {
    return Bad(source, field + ".name",
               fmt::format("not a plain file name (found \"{}\")", s.name));
  }
  if (s.split != "train" && s.split != "eval") {
    return Bad(source, field + ".split",
               fmt::format("expected train or eval (found \"{}\")", s.split));
  }
  if (s.samples < 0 || s.bytes != s.samples * sample_len * 2) {
    return Bad(source, field + ".bytes",
               fmt::format("expected samples * sample_len * 2 = {} (found {})",
                           s.samples * sample_len * 2, s.bytes));
  }
  if (s.xxh64.size() != 16) {
    return Bad(source, field + ".xxh64",
               fmt::format("expected 16 hex digits (found \"{}\")", s.xxh64));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DatasetIndex> IndexFromJson(const std::string& text, const std::string& source) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad(source, "(root)", "not a JSON object");
  try {
    if (j.value("format", "") != "meshtrain.dataset") {
      return Bad(source, "format", "expected \"meshtrain.dataset\"");
    }
    if (j.value("version", 0) != kFormatVersion) {
      return Bad(source, "version",
                 fmt::format("unsupported (found {}, this build reads {})", j.value("version", 0),
                             kFormatVersion));
    }
    if (j.value("token_dtype", "") != "uint16")
      return Bad(source, "token_dtype", "expected uint16");
    DatasetIndex index;
    index.tokenizer = j.at("tokenizer").get<std::string>();
    index.vocab_size = j.at("vocab_size").get<int64_t>();
    index.sample_len = j.at("sample_len").get<int64_t>();
    if (index.vocab_size <= 0 || index.vocab_size > 65536) {
      return Bad(source, "vocab_size",
                 fmt::format("expected 1..65536 (found {})", index.vocab_size));
    }
    if (index.sample_len < 2) {
      return Bad(source, "sample_len", fmt::format("expected >= 2 (found {})", index.sample_len));
    }
    if (j.contains("answer")) {
      index.answer =
          AnswerSpans{j["answer"].at("begin").get<int32_t>(), j["answer"].at("end").get<int32_t>()};
    }
    if (j.contains("pad")) index.pad = j["pad"].get<int32_t>();
    if (j.contains("provenance")) index.provenance = j["provenance"].dump();
    for (const json& s : j.at("shards")) {
      index.shards.push_back(ShardInfo{s.at("name").get<std::string>(),
                                       s.at("split").get<std::string>(),
                                       s.at("samples").get<int64_t>(), s.at("bytes").get<int64_t>(),
                                       s.at("xxh64").get<std::string>()});
      MT_RETURN_IF_ERROR(
          CheckShard(index.shards.back(), index.sample_len, source, index.shards.size() - 1));
    }
    return index;
  } catch (const json::exception& e) {
    return Bad(source, "(schema)", e.what());
  }
}

}  // namespace mt::data
