// The control service a job names (control.endpoint): "embedded" is the registry file in
// this process (control.db, default RUN_DIR/control.db); HOST:PORT is a running `meshtrain
// control`, called with the token in control.token_file and, for TLS, the MT_TLS_CA (and
// MT_TLS_CERT / MT_TLS_KEY for mTLS) files the coordinator's clients use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "control/service/control_api.h"
#include "meshtrain/v1/job.pb.h"

namespace mt::control {

absl::StatusOr<std::unique_ptr<ControlApi>> OpenControl(const meshtrain::v1::ControlSpec& spec,
                                                        const std::string& run_dir);

// For checkpoint retention (ckpt::Committer::Protected): the versions of store
// `checkpoint_uri` that the job's registry references, read at each call — the file directly
// when embedded (none while it does not exist), else the service's versions. An error (the
// service unreachable) makes the committer skip that round of pruning.
std::function<absl::StatusOr<std::set<int64_t>>()> ProtectedCheckpoints(
    const meshtrain::v1::ControlSpec& spec, const std::string& run_dir,
    const std::string& checkpoint_uri);

}  // namespace mt::control
