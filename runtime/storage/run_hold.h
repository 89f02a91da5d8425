// The holds one live run takes before it writes anything: its run directory and its
// checkpoint store (BlobStore::TakeHold). A second run into either is refused naming the
// first (command, pid, host, start time); a run that died is taken over at once (file://) or
// once its lease lapses (az://).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/storage/blob_store.h"

namespace mt::storage {

constexpr char kRunHoldName[] = "run.lock";       // in the run directory
constexpr char kStoreHoldName[] = "writer.lock";  // at the checkpoint store's root

struct RunHolds {
  std::vector<std::unique_ptr<Hold>> holds;  // released together, at destruction
};

// Takes RUN_DIR/run.lock (when `run_dir` is not empty; created) and STORE/writer.lock (when
// `store_uri` is not empty). `who` names the command ("meshtrain run"). FailedPrecondition
// naming the holder when either is held; then nothing stays held.
absl::StatusOr<std::shared_ptr<RunHolds>> HoldRun(const std::string& run_dir,
                                                  const std::string& store_uri,
                                                  const std::string& who);

}  // namespace mt::storage
