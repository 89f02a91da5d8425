// safetensors: round trip, the byte layout the format specifies, and corrupt-file errors.
#include "checkpoint/export/safetensors.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/core/file.h"
#include "tests/support/temp_dir.h"

namespace mt::ckpt {
namespace {

using ::testing::HasSubstr;

TEST(Safetensors, RoundTripWithMetadataAndLayout) {
  mt::testing::TempDir dir;
  Tensor a = Tensor::Zeros({2, 3}), b = Tensor::Zeros({4});
  for (int i = 0; i < 6; ++i) a.Data<float>()[i] = i * 0.5f;
  for (int i = 0; i < 4; ++i) b.Data<float>()[i] = -i;
  ASSERT_TRUE(WriteSafetensors(dir / "m.safetensors", {{"a", &a}, {"b", &b}}, {{"k", "v"}}).ok());
  std::string bytes = *ReadFile(dir / "m.safetensors");
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);  // data starts 8-byte aligned
  EXPECT_EQ(bytes.size(), 8 + n + 40);
  EXPECT_THAT(bytes.substr(8, n), HasSubstr("\"a\":{\"data_offsets\":[0,24],\"dtype\":\"F32\""));
  auto f = ReadSafetensors(dir / "m.safetensors");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->metadata["k"], "v");
  EXPECT_EQ(f->tensors.at("a").shape(), (Shape{2, 3}));
  EXPECT_EQ(f->tensors.at("a").Data<float>()[5], 2.5f);
  EXPECT_EQ(f->tensors.at("b").Data<float>()[3], -3.0f);
}

TEST(Safetensors, CorruptFilesAreNamedErrors) {
  mt::testing::TempDir dir;
  Tensor a = Tensor::Zeros({4});
  ASSERT_TRUE(WriteSafetensors(dir / "m.safetensors", {{"a", &a}}, {}).ok());
  std::string bytes = *ReadFile(dir / "m.safetensors");
  ASSERT_TRUE(WriteFileAtomic(dir / "short", bytes.substr(0, bytes.size() - 4)).ok());
  EXPECT_THAT(std::string(ReadSafetensors(dir / "short").status().message()),
              HasSubstr("short: not a valid safetensors file: a: data_offsets"));
  ASSERT_TRUE(WriteFileAtomic(dir / "tiny", "abc").ok());
  EXPECT_EQ(ReadSafetensors(dir / "tiny").status().code(), absl::StatusCode::kDataLoss);
  std::string huge = bytes;
  huge[7] = 0x7f;  // header length far past the end
  ASSERT_TRUE(WriteFileAtomic(dir / "huge", huge).ok());
  EXPECT_THAT(std::string(ReadSafetensors(dir / "huge").status().message()),
              HasSubstr("past the end"));
  EXPECT_FALSE(WriteSafetensors(dir / "dup", {{"a", &a}, {"a", &a}}, {}).ok());
}

}  // namespace
}  // namespace mt::ckpt
