// The versioned checkpoint store on a file:// root: a version exists only with its manifest,
// numbers only grow, LATEST follows commits, damaged files are named, retention keeps the
// newest K and never touches saves in flight, and the committer commits when the last rank
// reports.
#include "checkpoint/store/store.h"

#include <filesystem>
#include <fstream>

#include "checkpoint/format/shard.h"
#include "checkpoint/store/committer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace mt::ckpt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Shard OneTensor(int64_t step, float value) {
  Shard s;
  s.header.step = step;
  TensorSlice w;
  w.name = "w";
  w.global_shape = {4};
  w.offset = {0};
  w.shape = {4};
  w.data = {value, value, value, value};
  s.tensors.push_back(std::move(w));
  return s;
}

// A file store that hides its local paths, so the store takes the remote (file image) path.
class Remote final : public storage::BlobStore {
 public:
  explicit Remote(std::unique_ptr<storage::BlobStore> inner) : inner_(std::move(inner)) {}
  absl::StatusOr<std::string> Get(const std::string& p, int64_t o, int64_t n) override {
    return inner_->Get(p, o, n);
  }
  absl::Status Put(const std::string& p, std::string_view d) override { return inner_->Put(p, d); }
  absl::Status PutIfAbsent(const std::string& p, std::string_view d) override {
    return inner_->PutIfAbsent(p, d);
  }
  absl::StatusOr<std::vector<storage::BlobInfo>> List(const std::string& p) override {
    return inner_->List(p);
  }
  absl::StatusOr<storage::BlobInfo> Stat(const std::string& p) override { return inner_->Stat(p); }
  absl::Status Delete(const std::string& p) override { return inner_->Delete(p); }
  absl::Status CheckExists() override { return inner_->CheckExists(); }
  absl::StatusOr<std::unique_ptr<storage::Hold>> TakeHold(const std::string& p,
                                                          const std::string& h) override {
    return inner_->TakeHold(p, h);
  }
  const std::string& uri() const override { return inner_->uri(); }

 private:
  std::unique_ptr<storage::BlobStore> inner_;
};

float FirstValue(CheckpointStore& store, const Manifest& m) {
  auto reader = store.OpenShard(m, m.files[0]);
  EXPECT_TRUE(reader.ok()) << reader.status();
  float w[4] = {0, 0, 0, 0};
  EXPECT_TRUE((*reader)->Read("w", w).ok());
  return w[0];
}

Manifest Fields(int64_t version, int64_t step, int64_t world = 1) {
  Manifest m;
  m.version = version;
  m.step = step;
  m.cursor = step * 16;
  m.world_size = world;
  return m;
}

// Writes and commits a one-rank version.
void Save(CheckpointStore& store, int64_t version, int64_t step) {
  Manifest m = Fields(version, step);
  m.files.push_back(*store.PutShard(version, 0, OneTensor(step, 1.0f * step)));
  ASSERT_TRUE(store.Commit(m).ok());
}

class CheckpointStoreBoth : public ::testing::TestWithParam<bool> {};

// Local (HDF5 writes the file in place) and remote (file images through Put/Get) alike.
TEST_P(CheckpointStoreBoth, AVersionExistsOnlyWithItsManifest) {
  mt::testing::TempDir dir;
  auto store = GetParam() ? *CheckpointStore::Open(dir.path())
                          : std::make_shared<CheckpointStore>(
                                std::make_shared<Remote>(*storage::OpenBlobStore(dir.path())));
  EXPECT_EQ(store->Latest().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store->Highest(), 0);
  Save(*store, 1, 10);
  ASSERT_TRUE(store->PutShard(2, 0, OneTensor(20, 2)).ok());  // a save that never committed
  EXPECT_THAT(*store->Committed(), ElementsAre(1));
  EXPECT_EQ(*store->Latest(), 1);
  EXPECT_EQ(*store->Highest(), 2) << "the next save must not reuse version 2";
  EXPECT_EQ(store->ReadManifest(2).status().code(), absl::StatusCode::kNotFound);
  auto m = store->ReadManifest(1);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->step, 10);
  EXPECT_EQ(m->files[0].tensors, std::vector<std::string>{"w"});
  EXPECT_EQ(FirstValue(*store, *m), 10.0f);
  EXPECT_TRUE(store->Verify(1)->empty());
  EXPECT_EQ(store->Commit(*m).code(), absl::StatusCode::kAlreadyExists);
  Save(*store, 3, 30);
  EXPECT_EQ(*store->Latest(), 3);
  Save(*store, 2, 20);  // a late commit never moves LATEST back
  EXPECT_EQ(*store->Latest(), 3);
}

INSTANTIATE_TEST_SUITE_P(LocalAndRemote, CheckpointStoreBoth, ::testing::Bool());

TEST(CheckpointStore, DamagedFilesAreNamedByReadAndVerify) {
  mt::testing::TempDir dir;
  auto store = *CheckpointStore::Open(dir.path());
  Save(*store, 1, 10);
  EXPECT_TRUE(store->Verify(1)->empty());
  const std::string file = dir / "versions/1/rank-00000.h5";
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 1;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << flipped;
  auto problems = store->Verify(1);
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_THAT((*problems)[0], HasSubstr("versions/1/rank-00000.h5: checksum mismatch"));
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes.substr(0, 100);
  EXPECT_THAT((*store->Verify(1))[0], HasSubstr("rank-00000.h5: 100 bytes, the manifest says"));
  std::filesystem::remove(file);
  EXPECT_THAT((*store->Verify(1))[0], HasSubstr("rank-00000.h5: missing"));
  EXPECT_EQ(store->Verify(9).status().code(), absl::StatusCode::kNotFound);
}

TEST(CheckpointStore, RetentionKeepsTheNewestAndSavesInFlight) {
  mt::testing::TempDir dir;
  auto store = *CheckpointStore::Open(dir.path());
  Save(*store, 1, 10);
  ASSERT_TRUE(store->PutShard(2, 0, OneTensor(20, 2)).ok());  // abandoned
  Save(*store, 3, 30);
  Save(*store, 4, 40);
  Save(*store, 5, 50);
  ASSERT_TRUE(store->PutShard(6, 0, OneTensor(60, 6)).ok());  // in flight
  auto deleted = store->Prune(2, {3});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_THAT(*deleted, ElementsAre(1, 2));
  EXPECT_THAT(*store->Committed(), ElementsAre(3, 4, 5));
  EXPECT_TRUE(std::filesystem::exists(dir / "versions/6/rank-00000.h5"));
  EXPECT_FALSE(std::filesystem::exists(dir / "versions/1"));
}

TEST(Committer, CommitsWhenTheLastRankReports) {
  mt::testing::TempDir dir;
  auto store = *CheckpointStore::Open(dir.path());
  Committer committer(store, 2, 3);
  auto f0 = *store->PutShard(1, 0, OneTensor(10, 1));
  auto f1 = *store->PutShard(1, 1, Shard{});
  EXPECT_FALSE(*committer.Report(Fields(1, 10, 2), f0));
  EXPECT_FALSE(*committer.Report(Fields(1, 10, 2), f0)) << "a retried report counts once";
  EXPECT_EQ(store->Latest().status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(*committer.Report(Fields(1, 10, 2), f1));
  EXPECT_EQ(*store->Latest(), 1);
  EXPECT_EQ(committer.last_committed(), 1);
  EXPECT_EQ(store->ReadManifest(1)->files.size(), 2u);
  EXPECT_FALSE(*committer.Report(Fields(2, 20, 2), f0));
  auto worse = committer.Report(Fields(2, 21, 2), f1);
  EXPECT_EQ(worse.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace mt::ckpt
