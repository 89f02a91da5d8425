// In-memory Store (see store.h): a map under one mutex, a condition variable for waiters.
#include <condition_variable>
#include <map>
#include <mutex>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "runtime/comm/store.h"
#include "runtime/core/text.h"

namespace mt::comm {
namespace {

class MemoryStore final : public Store {
 public:
  absl::Status Set(const std::string& key, const std::string& value) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      data_[key] = value;
    }
    cv_.notify_all();
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Get(const std::string& key, Millis timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return data_.count(key) > 0; })) {
      return absl::DeadlineExceededError(
          fmt::format("store: key '{}' not set within {} ms", key, timeout.count()));
    }
    return data_[key];
  }

  absl::Status Wait(const std::vector<std::string>& keys, Millis timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    auto all = [&] {
      for (const auto& k : keys) {
        if (!data_.count(k)) return false;
      }
      return true;
    };
    if (cv_.wait_for(lock, timeout, all)) return absl::OkStatus();
    std::vector<std::string> missing;
    for (const auto& k : keys) {
      if (!data_.count(k)) missing.push_back(k);
    }
    return absl::DeadlineExceededError(fmt::format("store: keys not set within {} ms: {}",
                                                   timeout.count(), fmt::join(missing, ", ")));
  }

  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta) override {
    int64_t value = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = data_.find(key);
      auto sum = AddToStored(it == data_.end() ? nullptr : &it->second, key, delta);
      if (!sum.ok()) return sum.status();
      value = *sum;
      data_[key] = std::to_string(value);
    }
    cv_.notify_all();
    return value;
  }

  absl::StatusOr<std::string> CompareSet(const std::string& key, const std::string& expected,
                                         const std::string& desired) override {
    std::string result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = data_.find(key);
      const std::string current = it == data_.end() ? "" : it->second;
      if (current != expected) return current;
      data_[key] = desired;
      result = desired;
    }
    cv_.notify_all();
    return result;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> data_;
};

}  // namespace

absl::StatusOr<int64_t> AddToStored(const std::string* current, const std::string& key,
                                    int64_t delta) {
  if (current == nullptr) return delta;
  auto parsed = text::ToInt(*current);
  if (!parsed) {
    return absl::FailedPreconditionError(
        fmt::format("store: Add on key '{}' holding a non-integer", key));
  }
  return *parsed + delta;
}

std::shared_ptr<Store> MakeMemoryStore() { return std::make_shared<MemoryStore>(); }

}  // namespace mt::comm
