// What a model's rank holds, in the terms of the checkpoint plan (reshard.h): each parameter's
// global shape, its tensor-parallel pieces, and whether this rank's copy is the one saved.
#pragma once

#include <vector>

#include "checkpoint/reshard/reshard.h"
#include "runtime/nn/model.h"

namespace mt::ckpt {

// In the model's canonical parameter order (Parameters()). The tied copy of the embedding is
// the first stage's to save; tensors replicated over tp are tp rank 0's.
std::vector<HeldParameter> HeldParameters(nn::Model& model);

}  // namespace mt::ckpt
