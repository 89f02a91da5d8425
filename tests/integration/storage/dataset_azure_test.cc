// A dataset in Azure (Azurite): uploaded with CopyDataset, opened from az:// with the same
// samples as the local copy; a shard corrupted in the store is caught by its checksum and
// named; an interrupted upload (no index) is "no dataset here".
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "runtime/data/addition.h"
#include "runtime/data/dataset.h"
#include "runtime/storage/azure_store.h"
#include "tests/support/azurite.h"

namespace mt::data {
namespace {

TEST(DatasetAzure, UploadOpenAndDetectCorruption) {
  const char* endpoint = testing::AzuriteEndpoint();
  if (!endpoint) GTEST_SKIP() << testing::kNoAzurite;
  storage::AzureCredentials creds{testing::kAzuriteAccount, testing::kAzuriteKey, "", endpoint};
  const std::string container = "ds" + std::to_string(std::random_device{}() % 1000000000);
  const std::string uri = "az://devstoreaccount1/" + container + "/sets/add2";
  ASSERT_TRUE(storage::CreateAzureContainer(uri, creds).ok());

  char tmpl[] = "/tmp/meshtrain-dsaz-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  AdditionOptions o;
  o.digits = 2;
  o.train_samples = 300;
  o.eval_samples = 40;
  o.sample_len = 13;
  ASSERT_TRUE(WriteAdditionDataset(dir, o).ok());
  auto local = storage::OpenBlobStore(dir);
  auto remote = storage::OpenAzureStore(uri, creds);
  ASSERT_TRUE(local.ok() && remote.ok());

  // Shards without an index are not a dataset.
  auto local_ds = Dataset::Open(**local);
  ASSERT_TRUE(local_ds.ok()) << local_ds.status();
  const ShardInfo& first = local_ds->index().shards[0];
  ASSERT_TRUE((*remote)->Put(first.name, *(*local)->Get(first.name)).ok());
  auto partial = Dataset::Open(**remote);
  EXPECT_EQ(partial.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(partial.status().message().find("no dataset here"), std::string::npos);

  ASSERT_TRUE(CopyDataset(**local, **remote).ok());
  auto ds = Dataset::Open(**remote);
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ(ds->Samples("train"), local_ds->Samples("train"));
  ASSERT_EQ(ds->Samples("eval"), local_ds->Samples("eval"));
  std::vector<int32_t> a(13), b(13);
  for (int64_t i = 0; i < ds->Samples("train"); ++i) {
    ds->Sample("train", i, a.data());
    local_ds->Sample("train", i, b.data());
    ASSERT_EQ(a, b) << "sample " << i;
  }

  std::string bytes = *(*remote)->Get(first.name);
  bytes[bytes.size() / 2] ^= 0x01;  // one flipped bit
  ASSERT_TRUE((*remote)->Put(first.name, bytes).ok());
  auto corrupt = Dataset::Open(**remote);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(corrupt.status().message().find(uri + "/" + first.name + ": checksum mismatch"),
            std::string::npos)
      << corrupt.status();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mt::data
