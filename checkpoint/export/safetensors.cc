// safetensors reader/writer (see safetensors.h).
#include "checkpoint/export/safetensors.h"

#include <cstring>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/status.h"

namespace mt::ckpt {

using json = nlohmann::json;

absl::Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const NamedTensor& t : tensors) {
    if (header.contains(t.name)) {
      return absl::InvalidArgumentError(fmt::format("{}: duplicate tensor {}", path, t.name));
    }
    header[t.name] = {{"dtype", "F32"},
                      {"shape", t.tensor->shape()},
                      {"data_offsets", {offset, offset + t.tensor->nbytes()}}};
    offset += t.tensor->nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::string out(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);  // little-endian hosts
  out += text;
  out.reserve(out.size() + offset);
  for (const NamedTensor& t : tensors) {
    out.append(reinterpret_cast<const char*>(t.tensor->Data<float>()), t.tensor->nbytes());
  }
  return WriteFileAtomic(path, out);
}

namespace {

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::DataLossError(fmt::format("{}: not a valid safetensors file: {}", path, what));
}

}  // namespace

absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path) {
  MT_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  if (bytes.size() < 8) return Corrupt(path, "shorter than its 8-byte header length");
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  if (n > bytes.size() - 8) return Corrupt(path, fmt::format("header length {} past the end", n));
  json header = json::parse(bytes.substr(8, n), nullptr, false);
  if (header.is_discarded() || !header.is_object()) return Corrupt(path, "header is not JSON");
  const size_t data_size = bytes.size() - 8 - n;
  SafetensorsFile f;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      for (auto& [k, v] : entry.items())
        f.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    if (entry.value("dtype", "") != "F32") return Corrupt(path, name + ": dtype is not F32");
    const Shape shape = entry.at("shape").get<Shape>();
    const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
    const uint64_t want = static_cast<uint64_t>(NumElements(shape)) * 4;
    if (offsets.size() != 2 || offsets[1] < offsets[0] || offsets[1] > data_size ||
        offsets[1] - offsets[0] != want) {
      return Corrupt(path, name + ": data_offsets do not match its shape or the file");
    }
    MT_ASSIGN_OR_RETURN(Tensor t, Tensor::Empty(shape));
    std::memcpy(t.Data<float>(), bytes.data() + 8 + n + offsets[0], want);
    f.tensors.emplace(name, std::move(t));
  }
  return f;
}

}  // namespace mt::ckpt
