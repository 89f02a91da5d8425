// The model interface's shared parts (see model.h).
#include "runtime/nn/model.h"

#include <algorithm>

namespace mt::nn {

std::vector<float> Model::NextTokenLogits(const int32_t* context, int64_t n) {
  Forward(context, nullptr, 1, n);
  const int64_t vocab = dims().vocab_size;
  const float* last = logits() + (n - 1) * vocab;  // a whole model: local_vocab == vocab_size
  return std::vector<float>(last, last + vocab);
}

}  // namespace mt::nn
