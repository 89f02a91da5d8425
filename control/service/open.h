// The control service a job names (control.endpoint): "embedded" is the registry file in
// this process (control.db, default RUN_DIR/control.db); HOST:PORT is a running `meshtrain
// control`, called with the token in control.token_file.
#pragma once

#include <memory>
#include <string>

#include "control/service/control_api.h"
#include "meshtrain/v1/job.pb.h"

namespace mt::control {

absl::StatusOr<std::unique_ptr<ControlApi>> OpenControl(const meshtrain::v1::ControlSpec& spec,
                                                        const std::string& run_dir);

}  // namespace mt::control
