// The az:// BlobStore against Azurite (the Azure Blob emulator, started by scripts/test.sh,
// which exports AZURITE_BLOB_ENDPOINT): Shared Key and SAS, a read-only SAS refused with
// PermissionDenied, paging (page size lowered), ranged reads at edges, staged blocks,
// create-if-absent conflicts, and no secret in any error.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "runtime/storage/azure_store.h"
#include "tests/support/azurite.h"

namespace mt::storage {
namespace {

using testing::kAzuriteAccount;
using testing::kAzuriteKey;

class AzureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* endpoint = testing::AzuriteEndpoint();
    if (!endpoint) GTEST_SKIP() << testing::kNoAzurite;
    creds_ = {kAzuriteAccount, kAzuriteKey, "", endpoint};
    container_ = "t" + std::to_string(std::random_device{}() % 1000000000);
    options_.max_attempts = 2;
    options_.base_backoff = std::chrono::milliseconds(10);
    absl::Status created = CreateContainer();
    ASSERT_TRUE(created.ok()) << created;
    EXPECT_TRUE(CreateContainer().ok());  // again: it exists, still fine
  }
  absl::Status CreateContainer() {
    return CreateAzureContainer("az://" + std::string(kAzuriteAccount) + "/" + container_, creds_,
                                options_);
  }
  static std::string Expiry() { return "2099-01-01T00:00:00Z"; }
  std::unique_ptr<BlobStore> Open(AzureCredentials c, const std::string& prefix = "/ds") {
    auto s = OpenAzureStore("az://" + std::string(kAzuriteAccount) + "/" + container_ + prefix, c,
                            options_);
    EXPECT_TRUE(s.ok()) << s.status();
    return std::move(*s);
  }
  AzureCredentials creds_;
  std::string container_;
  AzureOptions options_;
};

TEST_F(AzureTest, SharedKeyPutGetRangesStatDelete) {
  auto store = Open(creds_);
  ASSERT_TRUE(store->Put("shards/000.bin", "0123456789").ok());
  EXPECT_EQ(*store->Get("shards/000.bin"), "0123456789");
  EXPECT_EQ(*store->Get("shards/000.bin", 0, 1), "0");
  EXPECT_EQ(*store->Get("shards/000.bin", 9, 1), "9");         // last byte
  EXPECT_EQ(*store->Get("shards/000.bin", 4, 100), "456789");  // runs past the end
  auto at_end = store->Get("shards/000.bin", 10, 1);
  EXPECT_EQ(at_end.status().code(), absl::StatusCode::kOutOfRange)
      << (at_end.ok() ? "read '" + *at_end + "'" : "");
  EXPECT_EQ(store->Stat("shards/000.bin")->size, 10);
  auto missing = store->Get("shards/nope.bin");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("az://devstoreaccount1/"), std::string::npos);
  ASSERT_TRUE(store->Delete("shards/000.bin").ok());
  EXPECT_EQ(store->Stat("shards/000.bin").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(AzureTest, LargeBlobsGoUpAsBlocks) {
  options_.block_size = 64 << 10;
  auto store = Open(creds_);
  std::string big(300 << 10, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  ASSERT_TRUE(store->Put("big.bin", big).ok());
  EXPECT_EQ(store->Stat("big.bin")->size, static_cast<int64_t>(big.size()));
  EXPECT_EQ(*store->Get("big.bin"), big);
  // A range across the first block edge.
  EXPECT_EQ(*store->Get("big.bin", (64 << 10) - 3, 6), big.substr((64 << 10) - 3, 6));
}

TEST_F(AzureTest, PutIfAbsentConflicts) {
  auto store = Open(creds_);
  ASSERT_TRUE(store->PutIfAbsent("MANIFEST", "first").ok());
  absl::Status again = store->PutIfAbsent("MANIFEST", "second");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_EQ(*store->Get("MANIFEST"), "first");
}

TEST_F(AzureTest, ListPagesThroughEverything) {
  options_.list_page_size = 7;  // 25 blobs -> 4 pages
  auto store = Open(creds_);
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(store->Put("p/" + std::to_string(1000 + i), std::string(i, 'x')).ok());
  }
  ASSERT_TRUE(store->Put("q/other", "x").ok());
  auto all = store->List("p/");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 25u);
  EXPECT_EQ((*all)[0].path, "p/1000");
  EXPECT_EQ((*all)[24].path, "p/1024");
  EXPECT_EQ((*all)[24].size, 24);
  EXPECT_EQ(store->List("")->size(), 26u);
}

TEST_F(AzureTest, SasReadWriteAndReadOnlyIsDenied) {
  AzureCredentials rw{kAzuriteAccount, "", *MakeAccountSas(creds_, "racwdl", Expiry()),
                      creds_.endpoint};
  auto writer = Open(rw);
  ASSERT_TRUE(writer->Put("x.bin", "payload").ok());
  AzureCredentials ro{kAzuriteAccount, "", *MakeAccountSas(creds_, "rl", Expiry()),
                      creds_.endpoint};
  auto reader = Open(ro);
  EXPECT_EQ(*reader->Get("x.bin"), "payload");
  EXPECT_EQ(reader->List("")->size(), 1u);
  absl::Status denied = reader->Put("y.bin", "nope");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied) << denied;
  const std::string sig = ro.sas.substr(ro.sas.find("sig=") + 4);
  EXPECT_EQ(denied.message().find(sig), std::string::npos) << "the SAS signature leaked";
}

TEST_F(AzureTest, WrongKeyIsAClearErrorWithoutTheKey) {
  AzureCredentials bad = creds_;
  bad.key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
  auto store = Open(bad);
  auto r = store->Get("anything");
  EXPECT_TRUE(r.status().code() == absl::StatusCode::kPermissionDenied ||
              r.status().code() == absl::StatusCode::kUnauthenticated)
      << r.status();
  EXPECT_EQ(r.status().message().find(bad.key), std::string::npos);
}

}  // namespace
}  // namespace mt::storage

namespace mt::storage {
namespace {

// TakeHold on az://: a blob lease. A second holder is refused naming the first; the hold goes
// with its object (released); a holder that stops renewing (its process died) loses the lease
// once it lapses. CheckExists: a missing container or an empty prefix is NotFound.
TEST_F(AzureTest, HoldsAreLeasesRefusedWhileLiveAndTakenOverAfter) {
  options_.lease_s = 15;  // Azure's shortest lease
  auto store = Open(creds_, "/ck");
  EXPECT_EQ(store->CheckExists().code(), absl::StatusCode::kNotFound);  // nothing there yet
  auto first = store->TakeHold("writer.lock", "run A (pid 1)");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(store->CheckExists().ok());
  auto second = Open(creds_, "/ck")->TakeHold("writer.lock", "run B (pid 2)");
  ASSERT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(std::string(second.status().message()).find("held by run A (pid 1)"), std::string::npos)
      << second.status();
  first->reset();  // released
  auto third = store->TakeHold("writer.lock", "run C (pid 3)");
  ASSERT_TRUE(third.ok()) << third.status();
  // A live holder renews: it still holds after a whole lease period.
  std::this_thread::sleep_for(std::chrono::seconds(16));
  EXPECT_EQ(store->TakeHold("writer.lock", "run D").status().code(),
            absl::StatusCode::kFailedPrecondition);
  third->reset();  // its renewer thread ends before the fork below
  // A holder that dies (no release, no renewal) is taken over once its lease lapses.
  const pid_t child = fork();
  if (child == 0) {
    auto held = Open(creds_, "/ck")->TakeHold("writer.lock", "run E");
    _exit(held.ok() ? 0 : 1);  // dies holding it
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(store->TakeHold("writer.lock", "run F").status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::this_thread::sleep_for(std::chrono::seconds(16));
  EXPECT_TRUE(store->TakeHold("writer.lock", "run F").ok());
  auto other = OpenAzureStore("az://" + std::string(kAzuriteAccount) + "/nocontainer" +
                                  std::to_string(std::random_device{}() % 100000),
                              creds_, options_);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->CheckExists().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mt::storage
