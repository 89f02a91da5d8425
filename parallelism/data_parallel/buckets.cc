// Gradient buckets (see buckets.h).
#include "parallelism/data_parallel/buckets.h"

#include <algorithm>
#include <chrono>

#include "runtime/core/status.h"

namespace mt::dp {

GradBuckets::GradBuckets(std::vector<nn::Parameter*> params, int64_t bucket_bytes,
                         comm::Backend& comm)
    : comm_(comm) {
  // Reverse model order: the order backward finishes gradients in.
  std::reverse(params.begin(), params.end());
  for (nn::Parameter* p : params) {
    const int64_t bytes = p->grad.numel() * 4;
    if (buckets_.empty() ||
        (!buckets_.back().flat.empty() &&
         static_cast<int64_t>(buckets_.back().flat.size()) * 4 + bytes > bucket_bytes)) {
      buckets_.emplace_back();
    }
    Bucket& b = buckets_.back();
    where_[p] = {static_cast<int>(buckets_.size()) - 1, static_cast<int>(b.params.size())};
    b.params.push_back(p);
    b.offsets.push_back(static_cast<int64_t>(b.flat.size()));
    b.flat.resize(b.flat.size() + p->grad.numel());
  }
  buckets_.back().flat.push_back(0.0f);  // the loss slot
}

void GradBuckets::Begin(double loss) {
  for (Bucket& b : buckets_) {
    MT_CHECK(!b.work);  // the previous step was finished
    b.ready = 0;
    b.marked.assign(b.params.size(), false);
  }
  buckets_.back().flat.back() = static_cast<float>(loss);
}

nn::GradsReady GradBuckets::Hook() {
  return [this](const std::vector<nn::Parameter*>& done) {
    for (nn::Parameter* p : done) MarkReady(p);
  };
}

void GradBuckets::MarkReady(nn::Parameter* p) {
  auto it = where_.find(p);
  MT_CHECK(it != where_.end());
  Stage(buckets_[it->second.first], it->second.second);
}

void GradBuckets::Stage(Bucket& b, int i) {
  if (b.marked[i]) return;
  b.marked[i] = true;
  std::copy_n(b.params[i]->grad.Data<float>(), b.params[i]->grad.numel(),
              b.flat.data() + b.offsets[i]);
  if (++b.ready == static_cast<int>(b.params.size())) Launch(b);
}

void GradBuckets::Launch(Bucket& b) {
  comm::Options options;
  options.op = comm::ReduceOp::kAvg;
  b.work =
      comm_.AllReduce(b.flat.data(), static_cast<int64_t>(b.flat.size()), DType::kF32, options);
}

absl::StatusOr<double> GradBuckets::Finish() {
  for (Bucket& b : buckets_) {  // what backward did not report
    for (size_t i = 0; i < b.params.size() && !b.work; ++i) Stage(b, static_cast<int>(i));
  }
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status status;
  for (Bucket& b : buckets_) {
    absl::Status s = b.work->Wait(comm::Options{}.timeout);
    b.work.reset();
    if (status.ok() && !s.ok()) status = Annotate(s, "gradient all-reduce");
  }
  exposed_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MT_RETURN_IF_ERROR(status);
  for (Bucket& b : buckets_) {
    for (size_t i = 0; i < b.params.size(); ++i) {
      std::copy_n(b.flat.data() + b.offsets[i], b.params[i]->grad.numel(),
                  b.params[i]->grad.Data<float>());
    }
  }
  return static_cast<double>(buckets_.back().flat.back());
}

}  // namespace mt::dp
