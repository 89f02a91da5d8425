// A checkpoint version's manifest (versions/<N>/manifest.json): what makes the version exist.
//
// {"format": "meshtrain.checkpoint.manifest", "version": 12, "step": 600, "parent": 11,
//  "optimizer_step": 600, "cursor": 76800, "mesh": [2, 1, 1], "world_size": 2,
//  "job_hash": "quickstart-...", "metrics": {"loss": 0.01, "eval_loss": 0.012},
//  "created": "2026-11-29T05:10:00Z", "job": "{\"name\": ...}",
//  "files": [{"name": "rank-00000.h5", "rank": 0, "bytes": 1234, "xxh64": "...",
//             "tensors": ["wte.weight", "optim.m.wte.weight", ...]}, ...]}
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::ckpt {

struct FileEntry {
  std::string name;  // relative to the version's directory
  int64_t rank = 0;
  int64_t bytes = 0;
  std::string xxh64;
  std::vector<std::string> tensors;  // what it holds (so a loader reads only what it needs)
};

struct Manifest {
  int64_t version = 0;
  int64_t step = 0;            // training steps done
  int64_t parent = 0;          // the version this run resumed from or saved before; 0: none
  int64_t optimizer_step = 0;  // AdamW updates done (bias correction)
  int64_t cursor = 0;          // global sample position of the next step
  std::vector<int64_t> mesh = {1, 1, 1};
  int64_t world_size = 1;
  std::string job_hash;
  std::map<std::string, double> metrics;
  std::string created;  // UTC, ISO 8601
  std::string job;      // the job spec as JSON (what `ckpt export` and fine-tuning rebuild from)
  std::vector<FileEntry> files;
};

std::string ManifestToJson(const Manifest& m);
// Parses and checks; errors name `source` and the field.
absl::StatusOr<Manifest> ManifestFromJson(const std::string& text, const std::string& source);

}  // namespace mt::ckpt
