// The persistent thread pool (see thread-pool.h for the contract).
#include "thread-pool.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KILN_PAUSE() _mm_pause()
#else
#define KILN_PAUSE() ((void)0)
#endif

namespace kiln {

// Sense-reversing barrier: spins with pause, then yields the CPU if the wait gets long (the machine may be
// oversubscribed, and a spinning waiter must not starve the thread it waits for).
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void wait() {
    if (n_ <= 1) return;
    const uint32_t gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.store(gen + 1, std::memory_order_release);
      return;
    }
    for (uint32_t spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < 4000) KILN_PAUSE();
      else std::this_thread::yield();
    }
  }

 private:
  const int n_;
  std::atomic<int> count_{0};
  std::atomic<uint32_t> gen_{0};
};

void Team::sync() const {
  if (size > 1) barrier->wait();
}

namespace {

int defaultThreads() {
  const char* env = std::getenv("KILN_NUM_THREADS");
  if (env != nullptr) {
    int n = std::atoi(env);
    if (n >= 1) return std::min(n, 1024);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n >= 1) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

int64_t spinMicros() {
  const char* env = std::getenv("KILN_SPIN_US");
  if (env != nullptr) return std::max(0, std::atoi(env));
  return 100;
}

// Two kinds of jobs share the workers:
// - team jobs (runTeam): a fixed team with tids and a barrier; every worker acknowledges the job's generation
//   (those outside the team too), so the caller waits until all workers have seen it;
// - open jobs (runOpen): any worker that wakes up while the job is open joins it and pulls work from the job's own
//   counters; the caller closes the job when its own share is done and waits only for the workers that joined.
//   A worker that is asleep or descheduled never delays an open job.
// gen_ = (sequence << 1) | isTeam, so a worker learns the kind of job from the same load that wakes it.
class Pool {
 public:
  Pool() : spinUs_(spinMicros()) { start(defaultThreads()); }

  int size() const { return size_.load(std::memory_order_relaxed); }

  void resize(int n) {
    n = std::max(1, std::min(n, 1024));
    std::lock_guard<std::mutex> busy(busy_);
    if (n == size()) return;
    stop();
    start(n);
  }

  void runTeamJob(int want, const TeamFn& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    int n = std::min(std::max(want, 1), size());
    if (!busy.owns_lock() || n == 1) {
      fn(Team{0, 1, nullptr});
      return;
    }
    SpinBarrier barrier(n);
    job_ = &fn;
    barrier_ = &barrier;
    teamSize_ = n;
    // Every worker acknowledges every team generation (even those outside the team), so none can lag into the
    // next job's setup and read half-written job fields.
    pending_.store(size() - 1, std::memory_order_relaxed);
    publish(true);
    fn(Team{0, n, &barrier});
    waitUntil([&] { return pending_.load(std::memory_order_acquire) == 0; });
    job_ = nullptr;
    barrier_ = nullptr;
  }

  void runOpenJob(int want, const std::function<void()>& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    int n = std::min(std::max(want, 1), size());
    if (!busy.owns_lock() || n == 1) {
      fn();
      return;
    }
    openJob_ = &fn;
    maxJoin_.store(static_cast<uint32_t>(n - 1), std::memory_order_relaxed);
    left_.store(0, std::memory_order_relaxed);
    slot_.store(kOpen, std::memory_order_release);
    publish(false);
    fn();
    const uint32_t joined = slot_.fetch_and(~kOpen, std::memory_order_acq_rel) & ~kOpen;  // close
    waitUntil([&] { return left_.load(std::memory_order_acquire) == joined; });
    openJob_ = nullptr;
  }

 private:
  static constexpr uint32_t kOpen = 0x80000000u;

  template <class Pred>
  static void waitUntil(Pred done) {
    for (uint32_t spins = 0; !done(); ++spins) {
      if (spins < 4000) KILN_PAUSE();
      else std::this_thread::yield();
    }
  }

  // Makes a new job visible (its fields are written before this release) and wakes sleeping workers.
  void publish(bool team) {
    ++sequence_;
    gen_.store((sequence_ << 1) | (team ? 1u : 0u), std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lk(mu_);
      cv_.notify_all();
    }
  }

  void start(int n) {
    quit_.store(false);
    // Workers start from the generation current now, not when their thread first runs: a job or stop()
    // issued before a new thread is scheduled must still be seen by it.
    const uint64_t g0 = gen_.load(std::memory_order_seq_cst);
    for (int i = 1; i < n; ++i) {
      try {
        workers_.emplace_back([this, i, g0] { workerLoop(i, g0); });
      } catch (...) {  // the OS refused another thread: run with the ones we have
        break;
      }
    }
    size_.store(static_cast<int>(workers_.size()) + 1);
  }

  void stop() {
    quit_.store(true, std::memory_order_seq_cst);
    publish(false);
    {
      std::lock_guard<std::mutex> lk(mu_);
      cv_.notify_all();
    }
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  // Joins the open job if it is still open and not full; joining means running whatever job is open at the
  // moment of the successful compare-exchange (its fields were published before it opened).
  void tryJoinOpen() {
    uint32_t s = slot_.load(std::memory_order_acquire);
    while ((s & kOpen) != 0 && (s & ~kOpen) < maxJoin_.load(std::memory_order_relaxed)) {
      if (slot_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        (*openJob_)();
        left_.fetch_add(1, std::memory_order_acq_rel);
        return;
      }
    }
  }

  void workerLoop(int tid, uint64_t seen) {
    for (;;) {
      // Spin for a short while: back-to-back kernel calls then start without a futex wake-up.
      auto t0 = std::chrono::steady_clock::now();
      uint32_t spins = 0;
      while (gen_.load(std::memory_order_acquire) == seen) {
        KILN_PAUSE();
        if ((++spins & 255) == 0 &&
            std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(spinUs_)) {
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          std::unique_lock<std::mutex> lk(mu_);
          cv_.wait(lk, [&] { return gen_.load(std::memory_order_seq_cst) != seen; });
          sleepers_.fetch_sub(1, std::memory_order_relaxed);
          break;
        }
      }
      seen = gen_.load(std::memory_order_acquire);
      if (quit_.load(std::memory_order_acquire)) return;
      if ((seen & 1) != 0) {  // team job: fields are stable until this worker acknowledges
        if (tid < teamSize_) (*job_)(Team{tid, teamSize_, barrier_});
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      } else {
        tryJoinOpen();
      }
    }
  }

  const int64_t spinUs_;
  std::atomic<int> size_{1};
  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the JS thread whose job is running
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t sequence_ = 0;  // written only under busy_
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> quit_{false};
  // team jobs
  std::atomic<int> pending_{0};
  const TeamFn* job_ = nullptr;
  SpinBarrier* barrier_ = nullptr;
  int teamSize_ = 0;
  // open jobs
  std::atomic<uint32_t> slot_{0};  // kOpen | number of workers that joined
  std::atomic<uint32_t> left_{0};  // workers that joined and finished
  std::atomic<uint32_t> maxJoin_{0};  // read by stragglers while the next job is set up
  const std::function<void()>* openJob_ = nullptr;
};

// Never destroyed: workers may still be asleep at process exit, and joining them from a static destructor
// (which may run on a worker_threads thread's teardown) is not worth the risk.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int numThreads() { return pool().size(); }
void setNumThreads(int n) { pool().resize(n); }
void runTeam(int want, const TeamFn& fn) { pool().runTeamJob(want, fn); }
void runOpen(int want, const std::function<void()>& fn) { pool().runOpenJob(want, fn); }

void parallelFor(int64_t n, int64_t grain, int want, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t maxChunks = (n + grain - 1) / grain;
  int t = static_cast<int>(std::min<int64_t>(std::min(want, numThreads()), maxChunks));
  if (t <= 1) {
    fn(0, n);
    return;
  }
  // Dynamic chunks (about 8 per thread, at least `grain` items): a thread that starts late takes fewer.
  const int64_t chunk = std::max(grain, (n + 8 * t - 1) / (8 * t));
  std::atomic<int64_t> next{0};
  runOpen(t, [&] {
    for (;;) {
      const int64_t b = next.fetch_add(chunk, std::memory_order_relaxed);
      if (b >= n) break;
      fn(b, std::min(n, b + chunk));
    }
  });
}

}  // namespace kiln
