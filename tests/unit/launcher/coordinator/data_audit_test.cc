// The data audit: one record per distinct shard, whoever reports it and however often; a
// coordinator reopening the file continues it without duplicates, past a torn last line; the
// coordinator takes reads from heartbeats (any generation) and Finish, and counts them in status.
#include "launcher/coordinator/data_audit.h"

#include <gtest/gtest.h>

#include <fstream>

#include "launcher/coordinator/coordinator.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "tests/support/temp_dir.h"

namespace mt::coord {
namespace {

google::protobuf::RepeatedPtrField<v1::ShardRead> Reads(std::vector<std::string> names) {
  google::protobuf::RepeatedPtrField<v1::ShardRead> out;
  for (const std::string& n : names) {
    v1::ShardRead* r = out.Add();
    r->set_uri("az://acct/c/data/" + n);
    r->set_xxh64("00000000000000" + n.substr(n.size() - 2));
    r->set_bytes(400);
  }
  return out;
}

std::vector<nlohmann::json> Lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(DataAudit, OneRecordPerShardAndAReopenedFileContinues) {
  mt::testing::TempDir dir;
  const std::string path = dir / "data-audit.jsonl";
  {
    auto audit = DataAudit::Open(path);
    ASSERT_TRUE(audit.ok()) << audit.status();
    (*audit)->Record(0, 1, Reads({"s-01", "s-02"}));
    (*audit)->Record(1, 1, Reads({"s-02", "s-03"}));  // s-02 again, from another rank
    EXPECT_EQ((*audit)->shards(), 3);
  }
  auto lines = Lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["uri"], "az://acct/c/data/s-01");
  EXPECT_EQ(lines[2]["rank"], 1);
  EXPECT_EQ(lines[2]["bytes"], 400);
  EXPECT_EQ(lines[2]["generation"], 1);
  EXPECT_TRUE(lines[2].contains("time"));

  std::ofstream(path, std::ios::app) << "{\"uri\": \"az://acct/c/da";  // a crash mid-line
  auto reopened = DataAudit::Open(path);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->shards(), 3);
  std::ofstream(path, std::ios::app) << "\n";
  (*reopened)->Record(2, 2, Reads({"s-01", "s-04"}));
  lines.clear();
  std::ifstream in(path);
  int records = 0;
  for (std::string line; std::getline(in, line);) records += line.find("s-04") != line.npos;
  EXPECT_EQ(records, 1);
  EXPECT_EQ((*reopened)->shards(), 4);
}

// Workers report each shard once: a record the file could not take is kept and written on
// the next call, not lost.
TEST(DataAudit, AFailedWriteIsRetriedNotLost) {
  mt::testing::TempDir dir;
  const std::string path = dir / "later/data-audit.jsonl";  // its directory does not exist yet
  auto audit = DataAudit::Open(path);
  ASSERT_TRUE(audit.ok()) << audit.status();
  (*audit)->Record(0, 1, Reads({"s-01"}));
  EXPECT_EQ((*audit)->shards(), 1);
  ASSERT_TRUE(MakeDirs(dir / "later").ok());
  (*audit)->Record(1, 1, Reads({"s-02"}));
  const auto lines = Lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["uri"], "az://acct/c/data/s-01");
  EXPECT_EQ(lines[1]["uri"], "az://acct/c/data/s-02");
}

TEST(DataAudit, TheCoordinatorTakesReadsFromHeartbeatsAndFinish) {
  mt::testing::TempDir dir;
  CoordinatorConfig cfg;
  cfg.job_id = "job-1";
  cfg.world_size = 1;
  cfg.data_audit_path = dir / "data-audit.jsonl";
  auto c = Coordinator::Create(cfg, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  v1::HeartbeatRequest beat;
  beat.set_job_id("job-1");
  beat.set_generation(7);  // a stale generation still read what it read
  *beat.mutable_shards_read() = Reads({"s-01"});
  ASSERT_TRUE((*c)->Heartbeat(beat).ok());
  v1::FinishRequest finish;
  finish.set_job_id("job-1");
  *finish.mutable_shards_read() = Reads({"s-01", "s-09"});
  ASSERT_TRUE((*c)->Finish(finish).ok());
  EXPECT_EQ((*c)->Status().shards_read(), 2);
  EXPECT_EQ(Lines(cfg.data_audit_path).size(), 2u);
  beat.set_job_id("other-job");
  *beat.mutable_shards_read() = Reads({"s-05"});
  EXPECT_FALSE((*c)->Heartbeat(beat).ok());
  EXPECT_EQ((*c)->Status().shards_read(), 2) << "another job's reads were recorded";
}

}  // namespace
}  // namespace mt::coord
