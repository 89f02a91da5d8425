// A named model parameter with its gradient and the facts other parts need about it:
// how tensor parallelism splits it (checkpoints record and reshard by this), and whether AdamW
// decays it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tensor/tensor.h"

namespace mt::nn {

// Which dimension tensor parallelism splits, in `groups` equal groups each split contiguously
// (QKV is [3C, C] split as 3 groups so every rank holds the q, k and v rows of its heads).
struct PartitionSpec {
  int dim = -1;    // -1: replicated on every tensor-parallel rank
  int groups = 1;  // >1: dimension `dim` is `groups` stacked blocks, each split over tp
  bool replicated() const { return dim < 0; }
};

struct Parameter {
  std::string name;  // stable, GPT-2 style: "h.3.attn.c_attn.weight"
  Tensor value;      // f32 master copy
  Tensor grad;       // same shape; backward accumulates (+=) into it
  PartitionSpec partition;
  bool weight_decay = false;  // 2-D weight matrices decay; biases, norms, embeddings do not
};

// A rectangular piece of a tensor-parallel slice: `shape` elements at `offset` in the full
// tensor (per dimension). A rank's local tensor is its pieces stacked along the split
// dimension, in order (QKV has three: the rank's rows of q, of k and of v).
struct SlicePiece {
  std::vector<int64_t> offset, shape;
};
// The pieces tensor-parallel rank `rank` of `tp` holds of a tensor of `full` shape (one piece,
// the whole tensor, when `spec` is replicated or tp is 1). The split dimension must divide.
std::vector<SlicePiece> SlicePieces(const Shape& full, const PartitionSpec& spec, int tp, int rank);
// The local shape: `full` with the split dimension divided by tp; GlobalShape inverts it.
Shape LocalShape(const Shape& full, const PartitionSpec& spec, int tp);
Shape GlobalShape(const Shape& local, const PartitionSpec& spec, int tp);
// Copies rank's part of `full` into `local` (LocalShape), or back (PutSlice).
void TakeSlice(const Tensor& full, Tensor& local, const PartitionSpec& spec, int tp, int rank);
void PutSlice(const Tensor& local, Tensor& full, const PartitionSpec& spec, int tp, int rank);

// Deterministic N(0, std^2) fill from (seed, name): the same parameter gets the same values
// whatever the mesh, so sharded runs can start from the single-process initialisation.
void FillNormal(Parameter& p, uint64_t seed, float stddev);
// The same, for a parameter that holds a tensor-parallel slice of a `full`-shaped tensor: its
// values are the slice of what FillNormal gives the full tensor.
void FillNormalSlice(Parameter& p, const Shape& full, uint64_t seed, float stddev, int tp,
                     int rank);

// Total element count of a set of parameters.
int64_t CountElements(const std::vector<Parameter>& params);

}  // namespace mt::nn
