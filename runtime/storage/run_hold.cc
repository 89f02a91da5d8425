// HoldRun (see run_hold.h).
#include "runtime/storage/run_hold.h"

#include <unistd.h>

#include <ctime>

#include "fmt/format.h"
#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/storage/azure_store.h"

namespace mt::storage {
namespace {

std::string Holder(const std::string& who) {
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char since[32];
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return fmt::format("{} (pid {} on {}, since {})", who, ::getpid(), host, since);
}

absl::Status Take(const std::string& uri, const char* name, const std::string& holder,
                  RunHolds& out) {
  MT_ASSIGN_OR_RETURN(auto store, OpenBlobStore(uri));
  MT_ASSIGN_OR_RETURN(auto hold, store->TakeHold(name, holder));
  out.holds.push_back(std::move(hold));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<RunHolds>> HoldRun(const std::string& run_dir,
                                                  const std::string& store_uri,
                                                  const std::string& who) {
  auto holds = std::make_shared<RunHolds>();
  const std::string holder = Holder(who);
  if (!run_dir.empty()) {
    MT_RETURN_IF_ERROR(MakeDirs(run_dir));
    MT_RETURN_IF_ERROR(Take(run_dir, kRunHoldName, holder, *holds));
  }
  if (!store_uri.empty()) {
    MT_RETURN_IF_ERROR(EnsureContainer(store_uri));  // az://: the hold is the first blob
    MT_RETURN_IF_ERROR(Take(store_uri, kStoreHoldName, holder, *holds));
  }
  return holds;
}

}  // namespace mt::storage
