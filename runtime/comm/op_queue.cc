// Op queue (see op_queue.h).
#include "runtime/comm/op_queue.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>

#include "fmt/format.h"

namespace mt::comm {

class QueuedWork;

struct OpQueue::State {
  struct Item;  // one allocation per op: the op and its Work (defined below QueuedWork)
  // How long the queue thread, once it sees a new op, leaves it for a waiter to run inline:
  // issue-then-wait callers reach Wait within microseconds; overlapped callers do not mind
  // 200 us.
  static constexpr std::chrono::microseconds kGrace{200};
  // How often the thread looks for unannounced ops while the communicator is in use, and
  // after how long without ops it parks (then only an announcement wakes it).
  static constexpr std::chrono::milliseconds kWatch{5};
  static constexpr std::chrono::seconds kPark{1};
  explicit State(FlightRecorder* r) : recorder(r) {}

  // Runs one item outside the lock and completes its Work; returns when it finished.
  FlightRecorder::Time Execute(Item& item);
  // Pops the front item and Executes it (mu held on entry and return), then the bookkeeping:
  // an op the thread ran restores the overlap credits, a waiter's takes one; whoever waits
  // for `running` to clear is woken. Returns the sequence number of the op it ran.
  uint64_t RunFront(std::unique_lock<std::mutex>& lock, bool on_thread);
  // Runs queued items in order up to `work`'s (see op_queue.h); while another thread runs
  // the op ahead, waits for it and goes on. `deadline` is set, from `timeout`, only when it
  // has to wait (running the op at the front needs none: a 24 ns clock read is a third of
  // the queue's own cost per op).
  void Help(const QueuedWork* work, std::chrono::milliseconds timeout,
            std::optional<std::chrono::steady_clock::time_point>& deadline);

  FlightRecorder* recorder;
  std::mutex mu;
  std::condition_variable cv;       // announced items, running cleared (if asked), stopping set
  std::condition_variable done_cv;  // an op completed while `sleepers` > 0
  int sleepers = 0;                 // Waits sleeping until their op completes elsewhere
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

namespace {
// A year stands for "forever" (steady_clock::now() + milliseconds::max() overflows).
std::chrono::steady_clock::time_point DeadlineAfter(std::chrono::milliseconds timeout) {
  return std::chrono::steady_clock::now() +
         std::min<std::chrono::milliseconds>(timeout, std::chrono::hours(8760));
}
}  // namespace

class QueuedWork final : public Work {
 public:
  QueuedWork(std::weak_ptr<OpQueue::State> state, std::string_view op, uint64_t seq)
      : state_(std::move(state)), op_(op), seq_(seq) {}
  uint64_t seq() const { return seq_; }
  absl::Status Wait(std::chrono::milliseconds timeout) override {
    if (Done()) return status_;
    // No state: the queue is gone, and it completed every op first.
    const std::shared_ptr<OpQueue::State> state = state_.lock();
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (state) state->Help(this, timeout, deadline);
    if (Done()) return status_;
    if (!deadline) deadline = DeadlineAfter(timeout);
    // Another thread runs the op: sleep on the queue's done_cv (a Work has no mutex or
    // condition variable of its own; they were a third of its size).
    if (state) {
      std::unique_lock<std::mutex> lock(state->mu);
      ++state->sleepers;
      state->done_cv.wait_until(lock, *deadline, [&] { return Done(); });
      --state->sleepers;
    }
    if (!Done()) {
      return absl::DeadlineExceededError(
          fmt::format("{} not complete after {} ms", what(), timeout.count()));
    }
    return status_;
  }
  // Lock-free: status_ is written once, before done_ is set, and only read after.
  bool Done() const override { return done_.load(std::memory_order_acquire); }
  // The caller then notifies done_cv under the queue's mutex if anyone sleeps on it.
  void Complete(absl::Status status) {
    status_ = std::move(status);
    done_.store(true, std::memory_order_release);
  }
  // "allreduce #12": formatted only for messages, not per op.
  std::string what() const { return fmt::format("{} #{}", op_, seq_); }

 private:
  std::weak_ptr<OpQueue::State> state_;
  std::string_view op_;  // a literal (see Enqueue)
  uint64_t seq_;
  std::atomic<bool> done_{false};
  absl::Status status_;
};

struct OpQueue::State::Item {
  Item(std::weak_ptr<State> state, std::string_view op, uint64_t seq, const Callable& c, void* run)
      : fn(&c), work(std::move(state), op, seq) {
    c.move_to(run, storage);
  }
  ~Item() { Release(); }
  Item(const Item&) = delete;
  Item& operator=(const Item&) = delete;
  absl::Status Run() { return fn->call(storage); }
  // What the op captured goes as soon as it ran, not when the last Work handle does.
  void Release() {
    if (fn != nullptr) fn->destroy(storage);
    fn = nullptr;
  }
  const Callable* fn;  // null once released
  alignas(std::max_align_t) unsigned char storage[kInline];
  QueuedWork work;  // handed out through an aliasing shared_ptr that keeps the Item alive
};

FlightRecorder::Time OpQueue::State::Execute(Item& item) {
  recorder->Start(item.work.seq());
  absl::Status st;
  try {  // an exception must not leave `running` set: the queue would stop for good
    st = item.Run();
  } catch (const std::exception& e) {
    st = absl::InternalError(fmt::format("exception: {}", e.what()));
  } catch (...) {
    st = absl::InternalError("unknown exception");
  }
  item.Release();
  const absl::string_view why = st.message();  // empty when ok
  const auto finished = recorder->Finish(item.work.seq(), std::string_view(why.data(), why.size()));
  if (!st.ok()) {
    st =
        absl::Status(st.code(), fmt::format("{}: {}", item.work.what(), std::string(st.message())));
  }
  item.work.Complete(std::move(st));
  return finished;
}

void OpQueue::State::Help(const QueuedWork* work, std::chrono::milliseconds timeout,
                          std::optional<std::chrono::steady_clock::time_point>& deadline) {
  std::unique_lock<std::mutex> lock(mu);
  while (!stopping) {
    // Items are in sequence order: ours is still queued while the front is not past it.
    if (items.empty() || items.front()->work.seq() > work->seq()) return;
    if (running) {  // the op ahead runs on another thread: take ours when it is done
      if (!deadline) deadline = DeadlineAfter(timeout);
      ++helpers_waiting;
      const bool late = cv.wait_until(lock, *deadline) == std::cv_status::timeout;
      --helpers_waiting;
      if (late) return;
      continue;
    }
    if (RunFront(lock, /*on_thread=*/false) == work->seq()) return;
  }
}

uint64_t OpQueue::State::RunFront(std::unique_lock<std::mutex>& lock, bool on_thread) {
  std::shared_ptr<Item> item = std::move(items.front());
  items.pop_front();
  running = true;
  lock.unlock();
  const auto finished = Execute(*item);
  lock.lock();
  running = false;
  if (on_thread) {
    overlap_credit = kCredit;
  } else if (overlap_credit > 0) {
    --overlap_credit;
  }
  last_op = finished;
  // The thread or other waiters may wait for `running` to clear, and so may ~OpQueue;
  // sleepers wait for their op to complete (done_ was set before mu was taken back).
  if (thread_waits || helpers_waiting > 0 || stopping) cv.notify_all();
  if (sleepers > 0) done_cv.notify_all();
  return item->work.seq();
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
    item->Release();
    item->work.Complete(absl::CancelledError(item->work.what() + ": communicator destroyed"));
  }
  state_->items.clear();
  state_->done_cv.notify_all();
}

std::shared_ptr<Work> OpQueue::Push(std::string_view op, int64_t bytes, int peer,
                                    const Callable& fn, void* run) {
  std::shared_ptr<Work> handle;  // shares ownership of the item with the queue
  bool announce = false;
  {
    // Sequence numbers are taken in queue order, so the recorder's order is the run order.
    std::lock_guard<std::mutex> lock(state_->mu);
    const uint64_t seq = state_->recorder->Queue(op, bytes, peer);
    std::shared_ptr<State::Item> item;
    try {
      item = std::make_shared<State::Item>(state_, op, seq, fn, run);
    } catch (...) {  // no memory, or the callable's move threw: the op never existed
      state_->recorder->Finish(seq, "not queued: could not store the op");
      throw;
    }
    handle = std::shared_ptr<Work>(item, &item->work);
    state_->items.push_back(std::move(item));
    announce = state_->parked || state_->overlap_credit > 0 || state_->items.size() > 1;
  }
  if (announce) state_->cv.notify_all();
  return handle;
}

void OpQueue::Loop() {
  State& s = *state_;
  uint64_t seen_seq = 0;  // the front op the thread has seen, and when
  std::chrono::steady_clock::time_point seen_at;
  uint64_t backlog_upto = 0;  // ops up to this one queued while the thread ran the last
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
    // The grace period counts from when the thread first sees the op (its own clock read,
    // not one on every caller's path). An op that queued up while the thread ran the one
    // before is a backlog and runs at once: nobody was about to run it inline, or they would
    // have waited for it (overlapped gradient buckets would otherwise pay 200 us each).
    if (s.items.front()->work.seq() != seen_seq) {
      seen_seq = s.items.front()->work.seq();
      seen_at = seen_seq <= backlog_upto ? now - State::kGrace : now;
    }
    const auto ready = seen_at + State::kGrace;
    if (now < ready) {
      s.cv.wait_until(lock, ready);  // a waiter may take it meanwhile; then re-check
      continue;
    }
    s.RunFront(lock, /*on_thread=*/true);
    backlog_upto = s.items.empty() ? 0 : s.items.back()->work.seq();
  }
}

}  // namespace mt::comm
