// Op queue (see op_queue.h).
#include "runtime/comm/op_queue.h"

#include <algorithm>
#include <deque>
#include <exception>

#include "fmt/format.h"

namespace mt::comm {

class QueuedWork;

struct OpQueue::State {
  struct Item;  // one allocation per op: the op and its Work (defined below QueuedWork)
  // How long the queue thread leaves a new op for a waiter to run inline: issue-then-wait
  // callers reach Wait within microseconds; overlapped callers do not mind 200 us.
  static constexpr std::chrono::microseconds kGrace{200};
  // How often the thread looks for unannounced ops while the communicator is in use, and
  // after how long without ops it parks (then only an announcement wakes it).
  static constexpr std::chrono::milliseconds kWatch{5};
  static constexpr std::chrono::seconds kPark{1};
  explicit State(FlightRecorder* r) : recorder(r) {}

  // Runs one item outside the lock and completes its Work.
  void Execute(Item& item);
  // Pops the front item and Executes it (mu held on entry and return), then the bookkeeping:
  // an op the thread ran restores the overlap credits, a waiter's takes one; whoever waits
  // for `running` to clear is woken. Returns the item.
  std::shared_ptr<Item> RunFront(std::unique_lock<std::mutex>& lock, bool on_thread);
  // Runs queued items in order up to `work`'s (see op_queue.h); while another thread runs
  // the op ahead, waits for it (until `deadline`) and goes on.
  void Help(const QueuedWork* work, std::chrono::steady_clock::time_point deadline);

  FlightRecorder* recorder;
  std::mutex mu;
  std::condition_variable cv;  // announced items, running cleared (if asked), stopping set
  std::deque<std::shared_ptr<Item>> items;
  bool running = false;
  bool stopping = false;
  bool parked = false;        // the thread sleeps until an announcement
  bool thread_waits = false;  // the thread waits for a waiter's op to finish
  int helpers_waiting = 0;    // waiters waiting for the running op to finish
  // Announce new ops while any of the last kCredit finished ops ran on the thread: the
  // caller overlaps (data-parallel buckets), so ops should start after the grace period.
  // Each op a waiter runs itself takes one credit away; the thread's ops restore them all.
  static constexpr int kCredit = 16;
  int overlap_credit = kCredit;
  std::chrono::steady_clock::time_point last_op;
};

class QueuedWork final : public Work {
 public:
  QueuedWork(std::weak_ptr<OpQueue::State> state, std::string op, uint64_t seq)
      : state_(std::move(state)), op_(std::move(op)), seq_(seq) {}
  uint64_t seq() const { return seq_; }
  absl::Status Wait(std::chrono::milliseconds timeout) override {
    // A year stands for "forever" (steady_clock::now() + milliseconds::max() overflows).
    const auto deadline = std::chrono::steady_clock::now() +
                          std::min<std::chrono::milliseconds>(timeout, std::chrono::hours(8760));
    if (!Done()) {
      if (auto state = state_.lock()) state->Help(this, deadline);
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_until(lock, deadline, [&] { return done_; })) {
      return absl::DeadlineExceededError(
          fmt::format("{} not complete after {} ms", what(), timeout.count()));
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
  // "allreduce #12": formatted only for messages, not per op.
  std::string what() const { return fmt::format("{} #{}", op_, seq_); }

 private:
  std::weak_ptr<OpQueue::State> state_;
  std::string op_;
  uint64_t seq_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  absl::Status status_;
};

struct OpQueue::State::Item {
  Item(std::weak_ptr<State> state, std::string op, uint64_t seq, std::function<absl::Status()> fn)
      : run(std::move(fn)),
        queued(std::chrono::steady_clock::now()),
        work(std::move(state), std::move(op), seq) {}
  std::function<absl::Status()> run;
  std::chrono::steady_clock::time_point queued;
  QueuedWork work;  // handed out through an aliasing shared_ptr that keeps the Item alive
};

void OpQueue::State::Execute(Item& item) {
  recorder->Start(item.work.seq());
  absl::Status st;
  try {  // an exception must not leave `running` set: the queue would stop for good
    st = item.run();
  } catch (const std::exception& e) {
    st = absl::InternalError(fmt::format("exception: {}", e.what()));
  } catch (...) {
    st = absl::InternalError("unknown exception");
  }
  item.run = nullptr;  // what the op captured goes now, not when the last Work handle does
  recorder->Finish(item.work.seq(), st.ok() ? "" : std::string(st.message()));
  if (!st.ok()) {
    st =
        absl::Status(st.code(), fmt::format("{}: {}", item.work.what(), std::string(st.message())));
  }
  item.work.Complete(std::move(st));
}

void OpQueue::State::Help(const QueuedWork* work, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu);
  while (!stopping) {
    bool queued = false;
    for (const auto& item : items) queued = queued || &item->work == work;
    if (!queued) return;
    if (running) {  // the op ahead runs on another thread: take ours when it is done
      ++helpers_waiting;
      const bool late = cv.wait_until(lock, deadline) == std::cv_status::timeout;
      --helpers_waiting;
      if (late) return;
      continue;
    }
    if (&RunFront(lock, /*on_thread=*/false)->work == work) return;
  }
}

std::shared_ptr<OpQueue::State::Item> OpQueue::State::RunFront(std::unique_lock<std::mutex>& lock,
                                                               bool on_thread) {
  std::shared_ptr<Item> item = items.front();
  items.pop_front();
  running = true;
  lock.unlock();
  Execute(*item);
  lock.lock();
  running = false;
  if (on_thread) {
    overlap_credit = kCredit;
  } else if (overlap_credit > 0) {
    --overlap_credit;
  }
  last_op = std::chrono::steady_clock::now();
  // The thread or other waiters may wait for `running` to clear, and so may ~OpQueue.
  if (thread_waits || helpers_waiting > 0 || stopping) cv.notify_all();
  return item;
}

OpQueue::OpQueue(FlightRecorder* recorder)
    : state_(std::make_shared<State>(recorder)), thread_([this] { Loop(); }) {}

OpQueue::~OpQueue() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  thread_.join();
  // A helping waiter may still be running an op that uses the backend: let it finish.
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait(lock, [&] { return !state_->running; });
  for (auto& item : state_->items) {
    state_->recorder->Finish(item->work.seq(), "cancelled: communicator destroyed");
    item->work.Complete(absl::CancelledError(item->work.what() + ": communicator destroyed"));
  }
  state_->items.clear();
}

std::shared_ptr<Work> OpQueue::Enqueue(std::string op, int64_t bytes, int peer,
                                       std::function<absl::Status()> run) {
  std::shared_ptr<State::Item> item;
  bool announce = false;
  {
    // Sequence numbers are taken in queue order, so the recorder's order is the run order.
    std::lock_guard<std::mutex> lock(state_->mu);
    const uint64_t seq = state_->recorder->Queue(op, bytes, peer);
    item = std::make_shared<State::Item>(state_, std::move(op), seq, std::move(run));
    state_->items.push_back(item);
    announce = state_->parked || state_->overlap_credit > 0 || state_->items.size() > 1;
  }
  if (announce) state_->cv.notify_all();
  return std::shared_ptr<Work>(item, &item->work);
}

void OpQueue::Loop() {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  while (!s.stopping) {
    const auto now = std::chrono::steady_clock::now();
    if (s.items.empty()) {
      if (now - s.last_op < State::kPark) {
        s.cv.wait_for(lock, State::kWatch);  // watching for unannounced ops
      } else {
        s.parked = true;
        s.cv.wait(lock, [&] { return s.stopping || !s.items.empty(); });
        s.parked = false;
      }
      continue;
    }
    if (s.running) {  // a waiter runs one; it notifies when done because we ask
      s.thread_waits = true;
      s.cv.wait_for(lock, State::kWatch);
      s.thread_waits = false;
      continue;
    }
    const auto ready = s.items.front()->queued + State::kGrace;
    if (now < ready) {
      s.cv.wait_until(lock, ready);  // a waiter may take it meanwhile; then re-check
      continue;
    }
    s.RunFront(lock, /*on_thread=*/true);
  }
}

}  // namespace mt::comm
