// The GPT's loss and gradients against PyTorch (tests/data/golden/gpt_tiny.json, made by
// make_gpt_golden.py in float64). Tolerance: fp32 against a double reference, 2e-5 relative
// on the loss and 1e-4 (relative to the tensor's gradient scale) per gradient value.
#include <cmath>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/nn/gpt.h"

namespace mt::nn {
namespace {

using json = nlohmann::json;

// The closed-form weights of make_gpt_golden.py.
float GoldenValue(const std::string& name, int k, int64_t i) {
  const double s = std::sin(0.37 * i + 1.3 * k + 0.5);
  if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) return 0.05 * s;
  if (name.find(".ln_") != std::string::npos || name.rfind("ln_f", 0) == 0) return 1.0 + 0.1 * s;
  return 0.2 * s;
}

TEST(GptGolden, LossAndGradientsMatchPyTorch) {
  auto text = ReadFile(std::string(MT_SOURCE_DIR) + "/tests/data/golden/gpt_tiny.json");
  ASSERT_TRUE(text.ok()) << text.status();
  const json g = json::parse(*text);
  GptConfig c;
  c.n_layer = g["config"]["n_layer"];
  c.n_head = g["config"]["n_head"];
  c.d_model = g["config"]["d_model"];
  c.d_ff = g["config"]["d_ff"];
  c.seq_len = g["config"]["seq_len"];
  c.vocab_size = g["config"]["vocab"];
  auto model = Gpt::Create(c, 1);
  ASSERT_TRUE(model.ok());
  auto params = (*model)->Parameters();
  for (size_t k = 0; k < params.size(); ++k) {
    float* v = params[k]->value.Data<float>();
    for (int64_t i = 0; i < params[k]->value.numel(); ++i) {
      v[i] = GoldenValue(params[k]->name, static_cast<int>(k), i);
    }
  }
  std::vector<int32_t> tokens, targets;
  for (const auto& row : g["tokens"])
    for (int t : row) tokens.push_back(t);
  for (const auto& row : g["targets"])
    for (int t : row) targets.push_back(t);
  const int64_t batch = g["tokens"].size();
  (*model)->ZeroGrad();
  const double loss = (*model)->Forward(tokens.data(), targets.data(), batch, c.seq_len);
  (*model)->Backward(1.0f);
  const double ref_loss = g["loss"];
  EXPECT_NEAR(loss, ref_loss, 2e-5 * ref_loss);
  for (Parameter* p : params) {
    ASSERT_TRUE(g["grads"].contains(p->name)) << p->name;
    const json& ref = g["grads"][p->name];
    const float* grad = p->grad.Data<float>();
    const double scale = ref["abs_sum"].get<double>() / p->grad.numel() + 1e-12;
    double sum = 0, abs_sum = 0, max_rel = 0;
    for (int64_t i = 0; i < p->grad.numel(); ++i) sum += grad[i], abs_sum += std::fabs(grad[i]);
    for (size_t i = 0; i < ref["first"].size(); ++i) {
      max_rel = std::max(max_rel, std::fabs(grad[i] - ref["first"][i].get<double>()) / scale);
    }
    EXPECT_LT(max_rel, 1e-4) << p->name << ": first values differ from PyTorch";
    EXPECT_NEAR(abs_sum, ref["abs_sum"].get<double>(), 1e-4 * ref["abs_sum"].get<double>())
        << p->name;
    EXPECT_NEAR(sum, ref["sum"].get<double>(), 1e-4 * ref["abs_sum"].get<double>()) << p->name;
  }
}

}  // namespace
}  // namespace mt::nn
