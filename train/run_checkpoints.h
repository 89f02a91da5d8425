// The checkpoint side of a run's start: resuming the training state from the store (any saved
// mesh), the saver for the run's own versions, and a fine-tune's starting weights.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "train/checkpointing.h"
#include "train/parallel_model.h"
#include "train/trainer.h"

namespace mt::train {

struct Checkpoints {
  std::unique_ptr<Checkpointer> saver;  // null without a checkpoint block
  RestoredState restored;               // version 0: a fresh start
};

// Restores what TrainOptions::resume (or checkpoint.resume) asks for into `pm` and makes the
// saver. Collective over the world (RestoreTogether). Nothing to do without a checkpoint block.
absl::StatusOr<Checkpoints> SetUpCheckpoints(const TrainOptions& o, ParallelModel& pm);

// Fine-tuning (finetune.base): loads the weights TrainOptions::resolve_base names into `pm`.
absl::Status InitFromBase(const TrainOptions& o, ParallelModel& pm);

}  // namespace mt::train
