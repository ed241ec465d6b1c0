// Kiln's persistent thread pool: created once per process, shared by every kernel and every JS thread.
//
// Contract:
// - The pool holds numThreads() - 1 worker threads; the calling thread is always member 0 of a team.
// - runTeam(want, fn) calls fn(team) on min(want, numThreads()) threads at once and returns when all have
//   finished. A team may synchronise with team.sync() (a barrier across exactly the team's members).
// - runOpen(want, fn) calls fn() on the caller and on up to want - 1 workers that happen to wake while the job is
//   open; fn must pull its work from shared counters (any number of calls, any order). The caller closes the job
//   when its own fn() returns and waits only for workers that joined, never for sleeping or descheduled ones.
//   parallelFor is built on it; runTeam is for work that needs fixed tids or barriers.
// - Only one job (team or open) runs at a time. If another JS thread (a worker_threads rank) already holds the
//   pool, runTeam / runOpen do not wait: they run fn on the calling thread alone (a team of 1), so ranks never
//   deadlock or oversubscribe.
// - Idle workers spin briefly (KILN_SPIN_US microseconds, default 100) and then sleep on a condition variable.
// - Default size: the CPUs this process may run on (sched_getaffinity), overridable by KILN_NUM_THREADS and by
//   setNumThreads(n) (which joins and restarts the workers; it waits for a running job to finish). If the OS
//   refuses to create a thread, the pool keeps the ones it has: numThreads() always tells the real size.
// - fn must not throw (kernels report errors before entering the pool).
#pragma once

#include <cstdint>
#include <functional>

namespace kiln {

class SpinBarrier;

struct Team {
  int tid;    // 0 .. size-1; 0 is the calling thread
  int size;   // number of threads running this job
  SpinBarrier* barrier;  // may be null when size == 1
  void sync() const;  // all `size` members must call it the same number of times
};

using TeamFn = std::function<void(const Team&)>;

int numThreads();
void setNumThreads(int n);
void runTeam(int want, const TeamFn& fn);
void runOpen(int want, const std::function<void()>& fn);

// Splits [0, n) into contiguous chunks of at least `grain` items and calls fn(begin, end) once per chunk, the
// chunks claimed dynamically by up to `want` threads (so a late or slow thread does less). Chunks are disjoint and
// cover [0, n); their number and order are unspecified.
void parallelFor(int64_t n, int64_t grain, int want, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace kiln
