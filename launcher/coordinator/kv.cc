// Coordinator key-value store (see kv.h).
#include "launcher/coordinator/kv.h"

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "runtime/comm/store.h"

namespace mt::coord {

void AsyncKv::Run(Ready& ready) {
  for (auto& f : ready) f();
}

void AsyncKv::NotifyLocked(const std::string& key, Ready& ready) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return;
  for (auto& w : it->second) {
    if (w->done) continue;
    w->missing.erase(key);
    if (!w->missing.empty()) continue;
    w->done = true;
    if (w->get_done) {
      ready.push_back([done = std::move(w->get_done), value = data_[w->get_key]] { done(value); });
    } else {
      ready.push_back([done = std::move(w->wait_done)] { done(absl::OkStatus()); });
    }
  }
  by_key_.erase(it);
}

void AsyncKv::Set(const std::string& key, const std::string& value) {
  Ready ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    data_[key] = value;
    NotifyLocked(key, ready);
  }
  Run(ready);
}

absl::StatusOr<int64_t> AsyncKv::Add(const std::string& key, int64_t delta) {
  Ready ready;
  int64_t value = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = data_.find(key);
    auto sum = comm::AddToStored(it == data_.end() ? nullptr : &it->second, key, delta);
    if (!sum.ok()) return sum.status();
    value = *sum;
    data_[key] = std::to_string(value);
    NotifyLocked(key, ready);
  }
  Run(ready);
  return value;
}

std::string AsyncKv::CompareSet(const std::string& key, const std::string& expected,
                                const std::string& desired) {
  Ready ready;
  std::string result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = data_.find(key);
    result = it == data_.end() ? "" : it->second;
    if (result != expected) return result;
    data_[key] = desired;
    result = desired;
    NotifyLocked(key, ready);
  }
  Run(ready);
  return result;
}

void AsyncKv::Park(std::shared_ptr<Waiter> w) {
  for (const auto& k : w->missing) by_key_[k].push_back(w);
  waiters_.push_back(std::move(w));
}

void AsyncKv::Get(const std::string& key, SteadyTime deadline, GetDone done) {
  std::unique_lock<std::mutex> lock(mu_);
  if (auto it = data_.find(key); it != data_.end()) {
    std::string value = it->second;
    lock.unlock();
    done(std::move(value));
    return;
  }
  auto w = std::make_shared<Waiter>();
  w->missing = {key};
  w->get_key = key;
  w->deadline = deadline;
  w->get_done = std::move(done);
  Park(std::move(w));
}

void AsyncKv::Wait(const std::vector<std::string>& keys, SteadyTime deadline, WaitDone done) {
  std::unique_lock<std::mutex> lock(mu_);
  auto w = std::make_shared<Waiter>();
  for (const auto& k : keys) {
    if (!data_.count(k)) w->missing.insert(k);
  }
  if (w->missing.empty()) {
    lock.unlock();
    done(absl::OkStatus());
    return;
  }
  w->deadline = deadline;
  w->wait_done = std::move(done);
  Park(std::move(w));
}

void AsyncKv::Expire(SteadyTime now) {
  Ready ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      auto& w = *it;
      if (!w->done && w->deadline <= now) {
        w->done = true;
        absl::Status why = absl::DeadlineExceededError(fmt::format(
            "store: keys not set before the deadline: {}", fmt::join(w->missing, ", ")));
        if (w->get_done) {
          ready.push_back([done = std::move(w->get_done), why] { done(why); });
        } else {
          ready.push_back([done = std::move(w->wait_done), why] { done(why); });
        }
      }
      it = w->done ? waiters_.erase(it) : std::next(it);
    }
  }
  Run(ready);
}

void AsyncKv::DropPrefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = data_.lower_bound(prefix); it != data_.end() && it->first.starts_with(prefix);) {
    it = data_.erase(it);
  }
}

void AsyncKv::FailAll(const absl::Status& why) {
  Ready ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : waiters_) {
      if (w->done) continue;
      w->done = true;
      if (w->get_done) {
        ready.push_back([done = std::move(w->get_done), why] { done(why); });
      } else {
        ready.push_back([done = std::move(w->wait_done), why] { done(why); });
      }
    }
    waiters_.clear();
    by_key_.clear();
  }
  Run(ready);
}

size_t AsyncKv::parked() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& w : waiters_) n += !w->done;
  return n;
}

}  // namespace mt::coord
