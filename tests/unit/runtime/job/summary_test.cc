// Resolved summary: parameter count, pipeline bubble and the printed batch arithmetic.
#include "runtime/job/summary.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/runtime/job/job_text.h"

namespace mt::job {
namespace {

using ::testing::HasSubstr;

TEST(Summary, ParameterCountMatchesGpt2Small) {
  // GPT-2 small (tied head, biases, 1024 positions): 124,439,808 parameters.
  meshtrain::v1::ModelSpec m;
  m.set_n_layer(12);
  m.set_n_head(12);
  m.set_d_model(768);
  m.set_seq_len(1024);
  m.set_vocab_size(50257);
  EXPECT_EQ(ParameterCount(m), 124439808);
}

TEST(Summary, PipelineBubble) {
  EXPECT_DOUBLE_EQ(PipelineBubble(1, 8, 1), 0.0);
  EXPECT_DOUBLE_EQ(PipelineBubble(4, 8, 1), 3.0 / 11.0);
  EXPECT_DOUBLE_EQ(PipelineBubble(4, 8, 2), 3.0 / 22.0);
}

TEST(Summary, ShowsMeshWorldAndBatchMath) {
  LoadOptions options;
  LoadResult r = LoadJobText(testing::kValidJob, "job.yaml", options);
  ASSERT_TRUE(r.ok());
  std::string s = Summarize(r.spec, options);
  EXPECT_THAT(s, HasSubstr("dp=2 tp=2 pp=2 -> world 8"));
  EXPECT_THAT(s, HasSubstr("global 16 = dp 2 x micro_batches 4 x micro_batch 2; 512 tokens/step"));
  EXPECT_THAT(s, HasSubstr("bubble 20.0%"));
  EXPECT_THAT(s, HasSubstr("checkpoint  none"));
  EXPECT_THAT(s, HasSubstr("backend     auto -> "));
}

}  // namespace
}  // namespace mt::job
