// One pre-LayerNorm transformer block with explicit forward and backward:
//   x1 = x  + proj(attention(qkv(ln_1(x))))
//   y  = x1 + fc_proj(gelu(fc(ln_2(x1))))
// Activations live in a BlockActivations the caller owns (a pipeline stage keeps one per
// micro-batch in flight); parameter gradients accumulate in the block's Parameters.
//
// Under tensor parallelism (tp > 1) the block holds heads / tp heads and d_ff / tp MLP
// columns: qkv and c_fc are column-parallel, attn.c_proj and mlp.c_proj row-parallel; their
// partial outputs are summed over the group before the (replicated) bias, and the gradients of
// ln_1's and ln_2's outputs likewise in backward. Input and output are the full residual
// stream, identical on every tensor-parallel rank.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/nn/parameter.h"
#include "runtime/nn/placement.h"

namespace mt::nn {

struct BlockShape {
  int64_t d_model = 0;    // C
  int64_t heads = 0;      // attention heads held here
  int64_t head_size = 0;  // C / total heads
  int64_t d_ff = 0;       // MLP inner size held here
};

// Everything forward keeps for backward, for `rows` = batch * seq positions.
struct BlockActivations {
  void Resize(const BlockShape& s, int64_t batch, int64_t seq);
  int64_t batch = 0, seq = 0;
  Tensor ln1, ln1_mean, ln1_rstd, qkv, att, atty, x1, ln2, ln2_mean, ln2_rstd, fc, fc_gelu;
};

// Gradient scratch for one block's backward, reusable across blocks and micro-batches.
struct BlockScratch {
  void Resize(const BlockShape& s, int64_t rows);
  Tensor dx1, dln2, dfc, dfc_gelu, datty, dqkv, dln1;
};

class Block {
 public:
  // Creates parameters named "<prefix>.ln_1.weight" ... and initialises them GPT-2 style:
  // rank `placement.tp_rank` gets its slice of the single-process initialisation. `shape`
  // is the local one (heads and d_ff already divided by tp).
  Block(const BlockShape& shape, const std::string& prefix, uint64_t seed, int n_layer,
        const Placement& placement = {});

  // y[rows, C] from x[rows, C]; fills `acts`.
  void Forward(const float* x, float* y, BlockActivations& acts) const;
  // dx += d(loss)/dx given dy; parameter gradients += ; uses `acts` from Forward on `x`.
  void Backward(const float* x, const float* dy, float* dx, const BlockActivations& acts,
                BlockScratch& scratch);

  std::vector<Parameter*> Parameters();
  // The names of Parameters() after the block's prefix, in order (".ln_1.weight", ...).
  static const std::vector<std::string>& ParameterSuffixes();
  const BlockShape& shape() const { return shape_; }

 private:
  void FinishRowParallel(float* out, const Parameter& bias, int64_t rows) const;
  void SumInputGrad(float* d, int64_t rows) const;

  BlockShape shape_;
  int tp_ = 1;
  TensorParallel* group_ = nullptr;
  Parameter ln1_w_, ln1_b_, qkv_w_, qkv_b_, proj_w_, proj_b_;
  Parameter ln2_w_, ln2_b_, fc_w_, fc_b_, fcproj_w_, fcproj_b_;
};

// Makes a parameter of `shape` with zeroed value and gradient.
Parameter MakeParameter(const std::string& name, Shape shape, PartitionSpec partition,
                        bool weight_decay);

}  // namespace mt::nn
