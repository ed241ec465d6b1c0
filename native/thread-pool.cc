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

  void run(int want, const TeamFn& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    int n = std::min(std::max(want, 1), size());
    if (!busy.owns_lock() || n == 1) {
      SpinBarrier solo(1);
      fn(Team{0, 1, &solo});
      return;
    }
    SpinBarrier barrier(n);
    job_ = &fn;
    barrier_ = &barrier;
    teamSize_ = n;
    // Every worker acknowledges every generation (even those outside the team), so none can lag into the next
    // run's setup and read half-written job fields.
    pending_.store(size() - 1, std::memory_order_relaxed);
    gen_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lk(mu_);
      cv_.notify_all();
    }
    fn(Team{0, n, &barrier});
    for (uint32_t spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 4000) KILN_PAUSE();
      else std::this_thread::yield();
    }
    job_ = nullptr;
    barrier_ = nullptr;
  }

 private:
  void start(int n) {
    quit_.store(false);
    // Workers start from the generation current now, not when their thread first runs: a run() or stop()
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
    gen_.fetch_add(1, std::memory_order_seq_cst);
    {
      std::lock_guard<std::mutex> lk(mu_);
      cv_.notify_all();
    }
    for (auto& t : workers_) t.join();
    workers_.clear();
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
      if (tid < teamSize_) (*job_)(Team{tid, teamSize_, barrier_});
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  const int64_t spinUs_;
  std::atomic<int> size_{1};
  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the JS thread whose team is running
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> quit_{false};
  const TeamFn* job_ = nullptr;
  SpinBarrier* barrier_ = nullptr;
  int teamSize_ = 0;
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
void runTeam(int want, const TeamFn& fn) { pool().run(want, fn); }

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
  runTeam(t, [&](const Team&) {
    for (;;) {
      const int64_t b = next.fetch_add(chunk, std::memory_order_relaxed);
      if (b >= n) break;
      fn(b, std::min(n, b + chunk));
    }
  });
}

}  // namespace kiln
