// Stage partition (see partition.h).
#include "parallelism/pipeline/partition.h"

namespace mt::pipeline {

std::pair<int64_t, int64_t> PieceLayers(int64_t n_layer, int pieces, int piece) {
  return {n_layer * piece / pieces, n_layer * (piece + 1) / pieces};
}

std::vector<std::pair<int64_t, int64_t>> StageChunks(int64_t n_layer, int stages, int chunks,
                                                     int stage) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int c = 0; c < chunks; ++c)
    out.push_back(PieceLayers(n_layer, stages * chunks, c * stages + stage));
  return out;
}

}  // namespace mt::pipeline
