// Checkpoint shards: round trip of header and tensors, partial reads, bit rot
// caught by the per-tensor XXH64 and named, truncation and non-HDF5 input as DataLoss, and the file
// opened by the standard tools (h5dump, and h5py when installed).
#include "checkpoint/format/shard.h"

#include <cstring>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace mt::ckpt {
namespace {

using ::testing::HasSubstr;

Shard Sample() {
  Shard s;
  s.header.step = 120;
  s.header.cursor = 15360;
  s.header.rank = 1;
  s.header.world_size = 4;
  s.header.mesh = {2, 2, 1};
  s.header.seed = 42;
  s.header.job_hash = "quickstart-0123456789abcdef";
  TensorSlice w{"h.0.mlp.c_fc.weight", {1024, 300}, {512, 0}, {512, 300}, {}};
  w.data.resize(512 * 300);
  for (size_t i = 0; i < w.data.size(); ++i) w.data[i] = 0.001f * static_cast<float>(i % 977);
  w.data[77777] = 1234.5f;  // a value the corruption test can find in the file
  TensorSlice b{"optim.m.ln_f.bias", {8}, {0}, {8}, {1, 2, 3, 4, 5, 6, 7, 8}};
  s.tensors = {w, b};
  return s;
}

TEST(CheckpointShard, RoundTripsHeaderAndTensors) {
  const Shard in = Sample();
  auto image = EncodeShard(in);
  ASSERT_TRUE(image.ok()) << image.status();
  auto out = DecodeShard(*image, "mem");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->header.step, 120);
  EXPECT_EQ(out->header.cursor, 15360);
  EXPECT_EQ(out->header.world_size, 4);
  EXPECT_EQ(out->header.mesh, (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(out->header.seed, 42u);
  EXPECT_EQ(out->header.job_hash, "quickstart-0123456789abcdef");
  ASSERT_EQ(out->tensors.size(), 2u);  // HDF5 lists by name
  const TensorSlice& w = out->tensors[0];
  EXPECT_EQ(w.name, "h.0.mlp.c_fc.weight");
  EXPECT_EQ(w.global_shape, (std::vector<int64_t>{1024, 300}));
  EXPECT_EQ(w.offset, (std::vector<int64_t>{512, 0}));
  EXPECT_EQ(w.shape, (std::vector<int64_t>{512, 300}));
  EXPECT_EQ(w.data, in.tensors[0].data);
  EXPECT_EQ(out->tensors[1].data, in.tensors[1].data);

  const std::set<std::string> only = {"optim.m.ln_f.bias"};
  auto part = DecodeShard(*image, "mem", &only);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_TRUE(part->tensors[0].data.empty());
  EXPECT_EQ(part->tensors[0].shape, (std::vector<int64_t>{512, 300}));
  EXPECT_EQ(part->tensors[1].data.size(), 8u);
}

TEST(CheckpointShard, FilesAndImagesHoldTheSameBytesEveryTime) {
  mt::testing::TempDir dir;
  const Shard owned = Sample();
  Shard views = Sample();  // the same values, held elsewhere
  for (size_t i = 0; i < views.tensors.size(); ++i)
    views.tensors[i].view = owned.tensors[i].data.data();
  auto a = EncodeShard(owned), b = EncodeShard(views);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(*a == *b) << "no timestamps: the same state gives the same bytes";
  ASSERT_TRUE(WriteShardFile(dir / "f.h5", owned).ok());
  std::ifstream in(dir / "f.h5", std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), {});
  EXPECT_TRUE(file == *a) << "file " << file.size() << " bytes, image " << a->size();
  auto reader = ShardReader::OpenFile(dir / "f.h5", "f.h5");
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<float> w(512 * 300);
  ASSERT_TRUE((*reader)->Read("h.0.mlp.c_fc.weight", w.data()).ok());
  EXPECT_EQ(w, owned.tensors[0].data);
  EXPECT_EQ((*reader)->Read("nope", w.data()).code(), absl::StatusCode::kNotFound);
}

TEST(CheckpointShard, DamageIsDataLossNamingTheTensor) {
  auto image = EncodeShard(Sample());
  ASSERT_TRUE(image.ok());
  float marker = 1234.5f;
  const size_t at = image->find(std::string(reinterpret_cast<char*>(&marker), 4));
  ASSERT_NE(at, std::string::npos);
  std::string flipped = *image;
  flipped[at + 1] ^= 0x10;
  auto rot = DecodeShard(flipped, "versions/3/rank-00001.h5");
  EXPECT_EQ(rot.status().code(), absl::StatusCode::kDataLoss) << rot.status();
  EXPECT_THAT(std::string(rot.status().message()),
              HasSubstr("versions/3/rank-00001.h5 tensor h.0.mlp.c_fc.weight: checksum mismatch"));

  auto cut = DecodeShard(image->substr(0, image->size() / 2), "cut.h5");
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kDataLoss) << cut.status();
  EXPECT_THAT(std::string(cut.status().message()), HasSubstr("cut.h5"));
  auto junk = DecodeShard("not a checkpoint at all", "junk.h5");
  EXPECT_EQ(junk.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(junk.status().message()), HasSubstr("junk.h5: not an HDF5 file"));
}

TEST(CheckpointShard, OpensWithH5dumpAndH5py) {
  mt::testing::TempDir dir;
  auto image = EncodeShard(Sample());
  ASSERT_TRUE(image.ok());
  const std::string path = dir / "rank-00001.h5";
  std::ofstream(path, std::ios::binary) << *image;
  const std::string out = dir / "dump.txt";
  ASSERT_EQ(std::system(("h5dump -p -A " + path + " > " + out + " 2>&1").c_str()), 0);
  std::ifstream in(out);
  const std::string dump((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THAT(dump, HasSubstr("DATASET \"h.0.mlp.c_fc.weight\""));
  EXPECT_THAT(dump, HasSubstr("\"meshtrain.checkpoint\""));
  EXPECT_THAT(dump, HasSubstr("ATTRIBUTE \"xxh64\"")) << "each tensor carries its checksum";
  EXPECT_THAT(dump, HasSubstr("CONTIGUOUS"));

  if (std::system("python3 -c 'import h5py' 2>/dev/null") != 0) {
    GTEST_SKIP() << "python3-h5py not installed (scripts/install-deps.sh installs it)";
  }
  const std::string py = dir / "py.txt";
  const std::string script =
      "import h5py; f = h5py.File('" + path +
      "', 'r'); w = f['tensors/h.0.mlp.c_fc.weight']; "
      "print(f.attrs['step'], w.shape, list(w.attrs['offset']), round(float(w[155, 77]), 3))";
  ASSERT_EQ(std::system(("python3 -c \"" + script + "\" > " + py + " 2>&1").c_str()), 0);
  std::ifstream pin(py);
  const std::string printed((std::istreambuf_iterator<char>(pin)), {});
  // 155 * 300 + 77 = 46577 -> 0.001 * (46577 % 977) = 0.001 * 658
  EXPECT_THAT(printed, HasSubstr("120 (512, 300) [512, 0] 0.658"));
}

}  // namespace
}  // namespace mt::ckpt
