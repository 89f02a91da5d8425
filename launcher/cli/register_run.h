// The end of `meshtrain run`: the trained model is registered with the job's control service
// (control.endpoint: embedded = RUN_DIR/control.db or control.db; HOST:PORT = a running
// `meshtrain control`) as the next version of `control.model` (default: the job name), or of
// the base's model for a fine-tune, with its checkpoint (the latest committed version, or
// RUN_DIR/model.safetensors), its metrics from summary.json, the data fingerprint, the job hash
// and the job itself; the promotion gate of `control.promote` then decides whether it becomes
// production. The decision goes into summary.json ("registry") and the returned line.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"
#include "nlohmann/json.hpp"

namespace mt::cli {

// Returns the line to print ("registry: add2-gpt v1 -> production (...)"). A version the gate
// cannot judge (its metrics lack the policy's) is registered and reported as not judged.
absl::StatusOr<std::string> RegisterRun(const meshtrain::v1::JobSpec& spec,
                                        const std::string& run_dir);

// "MODEL vN" when a summary.json (parsed) records its registration; nullopt when it does not.
// The one reader of that entry: RegisterRun (register once), `run` on a complete job, `status`.
std::optional<std::string> RegisteredAs(const nlohmann::json& summary);

}  // namespace mt::cli
