// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of
// JSON {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [...],
// "data_offsets": [begin, end]}, ...}, then the tensor bytes. Used for the final model of a
// run (RUN_DIR/model.safetensors) and by `meshtrain ckpt export`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tensor/tensor.h"

namespace mt::ckpt {

struct NamedTensor {
  std::string name;
  const Tensor* tensor;  // host f32
};

// Writes atomically (temp + fsync + rename). Names must be unique.
absl::Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata);

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Reads and checks a file: header bounds, dtype F32, offsets inside the data and consistent
// with the shapes. Errors name the file and the tensor.
absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path);

}  // namespace mt::ckpt
