// Reading a dataset from Azurite through a fault-injecting proxy (500s, 503 + Retry-After,
// resets mid-response, truncated bodies, slow answers): the samples are identical to the
// fault-free read, and so are the streaming loader's batches; a shard that is permanently
// missing fails naming it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "runtime/data/addition.h"
#include "runtime/data/dataset.h"
#include "runtime/data/loader.h"
#include "runtime/storage/azure_store.h"
#include "tests/integration/storage/fault_proxy.h"
#include "tests/support/azurite.h"

namespace mt::data {
namespace {

using testing::Fault;

int PortOf(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  return std::atoi(endpoint.c_str() + colon + 1);
}

TEST(DatasetFaults, ReadThroughFaultsEqualsTheCleanRead) {
  const char* endpoint = testing::AzuriteEndpoint();
  if (!endpoint) GTEST_SKIP() << testing::kNoAzurite;
  storage::AzureCredentials direct{testing::kAzuriteAccount, testing::kAzuriteKey, "", endpoint};
  const std::string uri =
      "az://devstoreaccount1/f" + std::to_string(std::random_device{}() % 1000000000) + "/add2";
  ASSERT_TRUE(storage::CreateAzureContainer(uri, direct).ok());
  char tmpl[] = "/tmp/meshtrain-dsfault-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  AdditionOptions o;
  o.digits = 2;
  o.train_samples = 2000;
  o.eval_samples = 100;
  o.sample_len = 13;
  ASSERT_TRUE(WriteAdditionDataset(dir, o).ok());
  auto local = storage::OpenBlobStore(dir);
  auto remote = storage::OpenAzureStore(uri, direct);
  ASSERT_TRUE(CopyDataset(**local, **remote).ok());
  auto clean = Dataset::Open(**remote);
  ASSERT_TRUE(clean.ok()) << clean.status();

  testing::FaultProxy proxy(PortOf(endpoint),
                            {Fault::k500, Fault::kPass, Fault::kReset, Fault::kPass, Fault::k503,
                             Fault::kTruncate, Fault::kPass, Fault::kSlow});
  storage::AzureCredentials via = direct;
  via.endpoint = "http://127.0.0.1:" + std::to_string(proxy.port()) + "/devstoreaccount1";
  storage::AzureOptions retry;
  retry.base_backoff = std::chrono::milliseconds(5);
  auto faulty_store = storage::OpenAzureStore(uri, via, retry);
  auto faulty = Dataset::Open(**faulty_store);
  ASSERT_TRUE(faulty.ok()) << faulty.status();
  EXPECT_GE(proxy.faults(), 4) << "the script did not inject faults";
  for (const char* split : {"train", "eval"}) {
    ASSERT_EQ(faulty->Samples(split), clean->Samples(split));
    std::vector<int32_t> a(13), b(13);
    for (int64_t i = 0; i < clean->Samples(split); ++i) {
      faulty->Sample(split, i, a.data());
      clean->Sample(split, i, b.data());
      ASSERT_EQ(a, b) << split << " sample " << i;
    }
  }

  // The streaming loader through the same faults, each shard read as 4 KiB ranged GETs (so a
  // shard crosses many faults): two epochs of batches identical to the fault-free loader's.
  LoaderOptions lo;
  lo.global_batch = 64;
  lo.window_shards = 1;
  lo.prefetch_shards = 1;
  lo.part_bytes = 4096;
  lo.seed = 5;
  const int faults_before = proxy.faults();
  std::shared_ptr<storage::BlobStore> clean_store = *storage::OpenAzureStore(uri, direct);
  std::shared_ptr<storage::BlobStore> faulty_shared = *storage::OpenAzureStore(uri, via, retry);
  auto clean_loader = Loader::Open(clean_store, clean->index(), "train", lo);
  auto faulty_loader = Loader::Open(faulty_shared, clean->index(), "train", lo);
  ASSERT_TRUE(clean_loader.ok()) << clean_loader.status();
  ASSERT_TRUE(faulty_loader.ok()) << faulty_loader.status();
  for (int step = 0; step < 2 * 2000 / 64; ++step) {
    auto a = (*clean_loader)->Next();
    auto b = (*faulty_loader)->Next();
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_EQ(a->ids, b->ids) << "step " << step;
    ASSERT_EQ(a->tokens, b->tokens) << "step " << step;
  }
  EXPECT_GE(proxy.faults() - faults_before, 4) << "the loader met no faults";

  // A shard that is gone for good: a clear error naming it, after no pointless retries —
  // from the in-memory reader, and from the loader before any batch.
  const ShardInfo lost = clean->index().shards[1];
  ASSERT_TRUE((*remote)->Delete(lost.name).ok());
  auto missing = Dataset::Open(**faulty_store);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_NE(missing.status().message().find(uri + "/" + lost.name), std::string::npos)
      << missing.status();
  auto no_loader = Loader::Open(faulty_shared, clean->index(), lost.split, lo);
  EXPECT_EQ(no_loader.status().code(), absl::StatusCode::kNotFound) << no_loader.status();
  EXPECT_NE(no_loader.status().message().find(uri + "/" + lost.name), std::string::npos)
      << no_loader.status();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mt::data
