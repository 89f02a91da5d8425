// Resume and job-change checks of a run's start (see start_check.h).
#include "train/start_check.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "checkpoint/store/store.h"
#include "fmt/format.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"
#include "runtime/storage/blob_store.h"

namespace mt::train {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

std::string FieldText(const Message& m, const FieldDescriptor* f) {
  std::string text;
  google::protobuf::TextFormat::PrintFieldValueToString(m, f, -1, &text);
  return text.empty() ? "(unset)" : text;
}

// Appends the fields of `block` (a JobSpec sub-message) that differ, except `free` ones.
void Diff(const Message& saved, const Message& now, const std::string& block,
          const std::vector<std::string>& free, std::vector<JobChange>& out) {
  const auto* d = now.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (std::find(free.begin(), free.end(), f->name()) != free.end()) continue;
    const std::string a = FieldText(saved, f), b = FieldText(now, f);
    if (a != b) out.push_back({block + "." + f->name(), a, b});
  }
}

bool Decays(const meshtrain::v1::TrainSpec& t) { return t.schedule() != "constant"; }

std::string ChangeList(const std::vector<JobChange>& changes) {
  std::vector<std::string> lines;
  for (const JobChange& c : changes) {
    lines.push_back(fmt::format("  {}: {} -> {}", c.field, c.before, c.after));
  }
  return absl::StrJoin(lines, "\n");
}

}  // namespace

absl::StatusOr<int64_t> ResumeVersion(const meshtrain::v1::JobSpec& spec,
                                      const std::string& resume) {
  const std::string mode = resume.empty() ? spec.checkpoint().resume() : resume;
  if (mode == "latest") return 0;
  if (mode == "never") return -1;
  int64_t v = 0;
  if (!absl::SimpleAtoi(mode, &v) || v <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("--resume: '{}' is not latest, never or a version number", mode));
  }
  return v;
}

std::vector<JobChange> TrajectoryChanges(const meshtrain::v1::JobSpec& saved,
                                         const meshtrain::v1::JobSpec& now) {
  std::vector<JobChange> out;
  Diff(saved.model(), now.model(), "model", {}, out);
  Diff(saved.data(), now.data(), "data", {"prefetch", "cache_mb"}, out);
  std::vector<std::string> free_train = {"log_every", "nan_policy"};
  if (!Decays(saved.train()) && !Decays(now.train())) free_train.push_back("steps");
  Diff(saved.train(), now.train(), "train", free_train, out);
  return out;
}

namespace {

// Refuses (unless allowed) a job that changes the trajectory of checkpoint `m` (`c` names it);
// whether it does.
absl::StatusOr<bool> CheckChanges(const meshtrain::v1::JobSpec& spec, const ckpt::Manifest& m,
                                  const StartCheck& c, bool allow_job_change) {
  meshtrain::v1::JobSpec saved;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(m.job, &saved, parse).ok()) {
    MT_LOG(kWarn, kCkpt, "{} version {}: its job is unreadable; not checked for changes", c.store,
           c.version);
    return false;
  }
  const std::vector<JobChange> changes = TrajectoryChanges(saved, spec);
  if (changes.empty()) return false;
  const std::string what = fmt::format(
      "resuming checkpoint version {} of {} (step {}) with a job that changes its "
      "trajectory:\n{}",
      c.version, c.store, c.step, ChangeList(changes));
  if (allow_job_change) {
    MT_LOG(kWarn, kCkpt, "{}\n(allowed by --allow-job-change)", what);
    return true;
  }
  return absl::FailedPreconditionError(fmt::format(
      "{}\npass --allow-job-change to resume with these changes, or --resume never to start "
      "fresh (with a new checkpoint.store)",
      what));
}

}  // namespace

absl::StatusOr<StartCheck> CheckStart(const meshtrain::v1::JobSpec& spec, const std::string& resume,
                                      bool allow_job_change) {
  StartCheck c;
  if (!spec.has_checkpoint()) return c;
  MT_ASSIGN_OR_RETURN(int64_t wanted, ResumeVersion(spec, resume));
  if (wanted < 0) return c;
  MT_ASSIGN_OR_RETURN(auto blobs, storage::OpenBlobStore(spec.checkpoint().store()));
  if (wanted == 0 && blobs->CheckExists().code() == absl::StatusCode::kNotFound) return c;
  MT_ASSIGN_OR_RETURN(auto store, ckpt::CheckpointStore::Open(spec.checkpoint().store()));
  if (wanted == 0) {
    auto latest = store->Latest();
    if (!latest.ok() && latest.status().code() == absl::StatusCode::kNotFound) return c;
    MT_ASSIGN_OR_RETURN(wanted, latest);
  }
  MT_ASSIGN_OR_RETURN(ckpt::Manifest m, store->ReadManifest(wanted));
  c = StartCheck{wanted, m.step, store->uri(), false};
  MT_ASSIGN_OR_RETURN(const bool changed, CheckChanges(spec, m, c, allow_job_change));
  // A changed job (allowed) is not this checkpoint's job: its restore decides.
  if (changed || m.step < spec.train().steps()) return c;
  // Complete only if that version is whole: a damaged one is left to the restore, which falls
  // back to the previous version and trains from there.
  MT_ASSIGN_OR_RETURN(std::vector<std::string> problems, store->Verify(wanted));
  c.complete = problems.empty();
  if (!c.complete) {
    MT_LOG(kWarn, kCkpt, "{} version {} is at step {} but damaged ({}); not complete", c.store,
           c.version, c.step, problems.front());
  }
  return c;
}

}  // namespace mt::train
