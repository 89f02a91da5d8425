// Where a model's pieces live under tensor and pipeline parallelism, as seen by one rank, and
// the one collective the layers need (DESIGN §3 "Mesh and parallelism").
//
// Tensor parallelism (Megatron): each of `tp` ranks holds 1/tp of the heads, of the MLP's
// inner size and of the vocabulary. Column-parallel QKV and MLP-up need no communication;
// row-parallel attention-out and MLP-down produce partial sums that TensorParallel::AllReduce
// completes (forward), and the inputs of the column-parallel layers get their gradient summed
// the same way (backward). The embedding and the loss are vocab-parallel: no rank ever holds
// logits for the whole vocabulary.
//
// Pipeline parallelism: the rank runs one or more model chunks, each a contiguous range of
// layers; the chunk starting at layer 0 also holds the embedding, the chunk ending at the last
// layer holds ln_f and the (tied) LM head. The pipeline executor moves activations between
// chunks; the model only computes.
//
// nn defines the interface and parallelism/tensor_parallel implements it over a comm group, so
// dependencies point one way (DESIGN §3).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace mt::nn {

// Reductions over the tensor-parallel group, in place on float buffers. Every rank of the
// group calls them in the same order. Errors are the implementation's to keep (a layer has no
// way to stop mid-forward); the caller checks after the step.
class TensorParallel {
 public:
  virtual ~TensorParallel() = default;
  virtual void AllReduceSum(float* data, int64_t n) = 0;
  virtual void AllReduceMax(float* data, int64_t n) = 0;
  virtual void AllReduceMin(float* data, int64_t n) = 0;
};

struct Placement {
  int tp = 1, tp_rank = 0;
  TensorParallel* group = nullptr;  // required when tp > 1
  // Layer ranges [first, last) of this rank's chunks, in the order the rank runs them. Empty:
  // one chunk with every layer (no pipeline).
  std::vector<std::pair<int64_t, int64_t>> chunks;
};

}  // namespace mt::nn
