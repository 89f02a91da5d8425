// ZeRO-1 (see zero.h).
#include "parallelism/data_parallel/zero.h"

#include <algorithm>
#include <cstring>

#include "runtime/core/status.h"
#include "runtime/kernels/cpu/adamw.h"

namespace mt::dp {

ZeroOptimizer::ZeroOptimizer(std::vector<nn::Parameter*> params, const optim::AdamWConfig& config,
                             comm::Backend& group)
    : params_(std::move(params)), config_(config), group_(group) {
  int64_t total = 0;
  for (nn::Parameter* p : params_) {
    offsets_.push_back(total);
    total += p->value.numel();
  }
  const int dp = group.size();
  shard_ = (total + dp - 1) / dp;
  flat_.assign(shard_ * dp, 0.0f);
  grad_.assign(shard_, 0.0f);
  m_.assign(shard_, 0.0f);
  v_.assign(shard_, 0.0f);
}

template <typename F>
void ZeroOptimizer::ForShard(F f) const {
  const int64_t lo = group_.rank() * shard_, hi = lo + shard_;
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t begin = std::max(lo, offsets_[i]);
    const int64_t end = std::min(hi, offsets_[i] + params_[i]->value.numel());
    if (begin < end) f(i, begin - offsets_[i], begin - lo, end - begin);
  }
}

absl::Status ZeroOptimizer::ReduceScatter() {
  for (size_t i = 0; i < params_.size(); ++i) {
    std::memcpy(flat_.data() + offsets_[i], params_[i]->grad.Data<float>(),
                params_[i]->grad.numel() * sizeof(float));
  }
  comm::Options o;
  o.op = comm::ReduceOp::kAvg;
  return Annotate(
      group_.ReduceScatter(flat_.data(), grad_.data(), shard_, DType::kF32, o)->Wait(o.timeout),
      "ZeRO-1 gradient reduce-scatter");
}

double ZeroOptimizer::ShardSquaredNorm(const std::vector<double>& weights) const {
  double sum = 0;
  ForShard([&](size_t i, int64_t, int64_t at, int64_t n) {
    if (weights[i] != 0) sum += weights[i] * cpu::SumSquares(grad_.data() + at, n);
  });
  return sum;
}

// All-gathers every rank's shard of the parameter values into the parameters.
absl::Status ZeroOptimizer::Gather(std::vector<float>& mine) {
  comm::Options o;
  MT_RETURN_IF_ERROR(
      Annotate(group_.AllGather(mine.data(), flat_.data(), shard_, DType::kF32, o)->Wait(o.timeout),
               "ZeRO-1 parameter all-gather"));
  for (size_t i = 0; i < params_.size(); ++i) {
    std::memcpy(params_[i]->value.Data<float>(), flat_.data() + offsets_[i],
                params_[i]->value.numel() * sizeof(float));
  }
  return absl::OkStatus();
}

absl::StatusOr<optim::StepStats> ZeroOptimizer::Step(double lr, double grad_norm) {
  const optim::StepStats stats = optim::ClipStats(grad_norm, config_.clip);
  if (!stats.finite) return stats;
  ++step_;
  std::vector<float> mine(shard_, 0.0f);
  ForShard([&](size_t i, int64_t in_param, int64_t at, int64_t n) {
    nn::Parameter* p = params_[i];
    const cpu::AdamWParams a =
        optim::UpdateParams(config_, lr, p->weight_decay, step_, stats.clip_scale);
    float* value = p->value.Data<float>() + in_param;
    cpu::AdamWUpdate(value, grad_.data() + at, m_.data() + at, v_.data() + at, n, a);
    std::memcpy(mine.data() + at, value, n * sizeof(float));
  });
  MT_RETURN_IF_ERROR(Gather(mine));
  return stats;
}

absl::Status ZeroOptimizer::GatherMoments(std::vector<Tensor>& m, std::vector<Tensor>& v) {
  comm::Options o;
  for (auto [shard, out] : {std::pair{&m_, &m}, std::pair{&v_, &v}}) {
    MT_RETURN_IF_ERROR(Annotate(
        group_.AllGather(shard->data(), flat_.data(), shard_, DType::kF32, o)->Wait(o.timeout),
        "ZeRO-1 moment all-gather"));
    if (out->size() != params_.size()) {  // else filled in place (a snapshot may point there)
      out->clear();
      for (nn::Parameter* p : params_) out->push_back(Tensor::Zeros(p->value.shape()));
    }
    for (size_t i = 0; i < params_.size(); ++i) {
      std::memcpy((*out)[i].Data<float>(), flat_.data() + offsets_[i],
                  params_[i]->value.numel() * sizeof(float));
    }
  }
  return absl::OkStatus();
}

void ZeroOptimizer::LoadMoments(const std::vector<Tensor>& m, const std::vector<Tensor>& v) {
  ForShard([&](size_t i, int64_t in_param, int64_t at, int64_t n) {
    std::memcpy(m_.data() + at, m[i].Data<float>() + in_param, n * sizeof(float));
    std::memcpy(v_.data() + at, v[i].Data<float>() + in_param, n * sizeof(float));
  });
}

}  // namespace mt::dp
