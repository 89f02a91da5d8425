// A model rank's parameters for the checkpoint plan (see held.h).
#include "checkpoint/reshard/held.h"

namespace mt::ckpt {

std::vector<HeldParameter> HeldParameters(nn::Model& model) {
  const nn::Placement& at = model.placement();
  std::vector<HeldParameter> out;
  for (nn::Parameter* p : model.Parameters()) {
    HeldParameter h;
    h.name = p->name;
    h.global = nn::GlobalShape(p->value.shape(), p->partition, at.tp);
    for (const nn::SlicePiece& piece : nn::SlicePieces(h.global, p->partition, at.tp, at.tp_rank))
      h.pieces.push_back({piece.offset, piece.shape});
    h.saved_here = !model.IsTiedCopy(p) && !(p->partition.replicated() && at.tp_rank != 0);
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace mt::ckpt
