// Shard reads for the data audit (see shard_reads.h).
#include "launcher/worker/shard_reads.h"

namespace mt::worker {

meshtrain::v1::ShardRead DescribeShardRead(const std::string& dataset_uri,
                                           const data::ShardInfo& shard) {
  std::string base = dataset_uri;
  while (!base.empty() && base.back() == '/') base.pop_back();
  meshtrain::v1::ShardRead r;
  r.set_uri(base + "/" + shard.name);
  r.set_xxh64(shard.xxh64);
  r.set_bytes(shard.bytes);
  return r;
}

void ShardReads::Add(const data::ShardInfo& shard) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reported_.insert(shard.name).second) pending_.push_back(DescribeShardRead(uri_, shard));
}

}  // namespace mt::worker
