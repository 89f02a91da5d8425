// Op queue (see op_queue.h).
#include "runtime/comm/op_queue.h"

#include "fmt/format.h"

namespace mt::comm {
namespace {

class QueuedWork final : public Work {
 public:
  absl::Status Wait(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return done_; })) {
      return absl::DeadlineExceededError(
          fmt::format("{} not complete after {} ms", what_, timeout.count()));
    }
    return status_;
  }
  bool Done() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  void Complete(absl::Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      status_ = std::move(status);
      done_ = true;
    }
    cv_.notify_all();
  }
  std::string what_;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  absl::Status status_;
};

}  // namespace

struct OpQueue::Item {
  uint64_t seq;
  std::function<absl::Status()> run;
  std::shared_ptr<QueuedWork> work;
};

OpQueue::OpQueue(FlightRecorder* recorder) : recorder_(recorder), thread_([this] { Loop(); }) {}

OpQueue::~OpQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::shared_ptr<Work> OpQueue::Completed(absl::Status status) {
  auto w = std::make_shared<QueuedWork>();
  w->Complete(std::move(status));
  return w;
}

std::shared_ptr<Work> OpQueue::Enqueue(std::string op, int64_t bytes, int peer,
                                       std::function<absl::Status()> run) {
  auto item = std::make_shared<Item>();
  item->seq = recorder_->Queue(op, bytes, peer);
  item->run = std::move(run);
  item->work = std::make_shared<QueuedWork>();
  item->work->what_ = fmt::format("{} #{}", op, item->seq);
  {
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back(item);
  }
  cv_.notify_all();
  return item->work;
}

void OpQueue::Loop() {
  while (true) {
    std::shared_ptr<Item> item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !items_.empty(); });
      if (stopping_) break;
      item = items_.front();
      items_.pop_front();
    }
    recorder_->Start(item->seq);
    absl::Status st = item->run();
    recorder_->Finish(item->seq, st.ok() ? "" : std::string(st.message()));
    if (!st.ok())
      st = absl::Status(st.code(),
                        fmt::format("{}: {}", item->work->what_, std::string(st.message())));
    item->work->Complete(std::move(st));
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& item : items_) {
    recorder_->Finish(item->seq, "cancelled: communicator destroyed");
    item->work->Complete(absl::CancelledError(item->work->what_ + ": communicator destroyed"));
  }
  items_.clear();
}

}  // namespace mt::comm
