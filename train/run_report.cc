// The lead rank's records of a run (see run_report.h).
#include "train/run_report.h"

#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/job/job_id.h"

namespace mt::train {

using json = nlohmann::json;

absl::Status WriteSummary(const TrainOptions& o, const TrainSummary& s) {
  json j = {{"job_id", job::JobId(o.spec)},
            {"final_step", s.steps},
            {"world_size", o.comm ? o.comm->size() : 1},
            {"generations", o.generation},
            {"restarts", o.restarts},
            {"final_loss", s.final_loss},
            {"tokens_per_s", s.tokens_per_s},
            {"wall_s", s.wall_s},
            {"skipped_updates", s.skipped_updates},
            {"data_wait_s", s.data_wait_s},
            {"checkpoint_blocked_s", s.checkpoint_blocked_s},
            {"resumed_from", s.resumed_from},
            {"allreduce_exposed_s", s.allreduce_exposed_s}};
  if (s.eval_loss) j["eval_loss"] = *s.eval_loss;
  if (s.eval_accuracy) j["eval_accuracy"] = *s.eval_accuracy;
  return WriteFileAtomic(o.run_dir + "/summary.json", j.dump(2) + "\n");
}

}  // namespace mt::train
