// Which layers each pipeline stage runs: the model is cut into stages * chunks consecutive
// pieces of (nearly) equal layer counts, and chunk c of stage s is piece c * stages + s
// (Megatron's interleaving; chunks = 1 gives contiguous stages). The first piece also holds
// the embedding and the last the LM head (nn::Placement). Pure.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace mt::pipeline {

// Layers [first, last) of piece `piece` of `pieces`: floor division, so sizes differ by <= 1.
std::pair<int64_t, int64_t> PieceLayers(int64_t n_layer, int pieces, int piece);
// The layer ranges of `stage`'s chunks, in chunk order. Needs n_layer >= stages * chunks.
std::vector<std::pair<int64_t, int64_t>> StageChunks(int64_t n_layer, int stages, int chunks,
                                                     int stage);

}  // namespace mt::pipeline
