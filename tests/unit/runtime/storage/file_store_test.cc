// file:// BlobStore: ranges, atomic put, create-if-absent races, listing, errors.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/storage/blob_store.h"

namespace mt::storage {
namespace {

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/meshtrain-blob-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::move(*OpenBlobStore("file://" + dir_ + "/root"));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(FileStoreTest, PutGetRangesAndStat) {
  ASSERT_TRUE(store_->Put("a/b/shard-0.bin", "0123456789").ok());
  EXPECT_EQ(*store_->Get("a/b/shard-0.bin"), "0123456789");
  EXPECT_EQ(*store_->Get("a/b/shard-0.bin", 3, 4), "3456");
  EXPECT_EQ(*store_->Get("a/b/shard-0.bin", 8, 100), "89");  // runs past the end
  EXPECT_EQ(store_->Get("a/b/shard-0.bin", 10, 5).status().code(), absl::StatusCode::kOutOfRange);
  ASSERT_TRUE(store_->Put("empty", "").ok());
  EXPECT_EQ(*store_->Get("empty"), "");
  EXPECT_EQ(store_->Stat("a/b/shard-0.bin")->size, 10);
  EXPECT_EQ(store_->Stat("a/b").status().code(), absl::StatusCode::kNotFound);
  auto missing = store_->Get("nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("file://"), std::string::npos);
}

TEST_F(FileStoreTest, PutIfAbsentHasExactlyOneWinner) {
  std::atomic<int> won{0}, lost{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      absl::Status s = store_->PutIfAbsent("MANIFEST", "writer " + std::to_string(i));
      (s.ok() ? won : lost)++;
      if (!s.ok()) EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(lost.load(), 7);
  EXPECT_EQ(store_->Get("MANIFEST")->rfind("writer ", 0), 0u);
}

TEST_F(FileStoreTest, ListIsSortedAndPrefixedAndHidesTemporaries) {
  for (const char* p : {"v/2/x", "v/10/x", "v/1/y", "w/z"}) ASSERT_TRUE(store_->Put(p, p).ok());
  auto all = *store_->List("v/");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].path, "v/1/y");
  EXPECT_EQ(all[1].path, "v/10/x");
  EXPECT_EQ(all[2].path, "v/2/x");
  EXPECT_EQ(all[0].size, 5);
  EXPECT_EQ(store_->List("")->size(), 4u);
  ASSERT_TRUE(store_->Delete("w/z").ok());
  EXPECT_EQ(store_->Delete("w/z").code(), absl::StatusCode::kNotFound);
}

TEST_F(FileStoreTest, BadPathsAndSchemes) {
  for (const char* p : {"", "/abs", "a/../b", "a//b", "dir/"}) {
    EXPECT_EQ(store_->Put(p, "x").code(), absl::StatusCode::kInvalidArgument) << p;
  }
  auto s3 = OpenBlobStore("s3://bucket/x");
  EXPECT_EQ(s3.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s3.status().message().find("s3://bucket/x"), std::string::npos);
}

}  // namespace
}  // namespace mt::storage

namespace mt::storage {
namespace {

// TakeHold on file://: flock. Refused (naming the holder) while held, even from this process;
// free again once the hold is destroyed; a holder that is killed releases it (the kernel).
TEST_F(FileStoreTest, HoldsAreExclusiveNameTheHolderAndDieWithIt) {
  EXPECT_EQ(store_->CheckExists().code(), absl::StatusCode::kNotFound);  // root not made yet
  auto first = store_->TakeHold("run.lock", "run A (pid 1)");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(store_->CheckExists().ok());
  auto second = store_->TakeHold("run.lock", "run B");
  ASSERT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(second.status().message()).find("is held by run A (pid 1)"),
            std::string::npos)
      << second.status();
  first->reset();
  ASSERT_TRUE(store_->TakeHold("run.lock", "run C").ok());  // released, and C's is gone too
  const pid_t child = fork();
  if (child == 0) {
    auto held = store_->TakeHold("run.lock", "child");
    if (!held.ok()) _exit(1);
    pause();  // until killed
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(store_->TakeHold("run.lock", "parent").status().code(),
            absl::StatusCode::kFailedPrecondition);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(store_->TakeHold("run.lock", "parent").ok());  // a dead holder is taken over
}

}  // namespace
}  // namespace mt::storage
