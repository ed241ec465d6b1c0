// The GEMM driver (contract in gemm.h): degenerate cases, GEMV for M = 1 or N = 1, batch-level parallelism for many
// small products, and a BLIS/GotoBLAS five-loop blocked algorithm for the rest:
//   for jc (nc columns of C)            B panel kc x nc packed once per (jc, pc), shared by the team (L3)
//     for pc (kc of K)                  beta applies on the first pc only; later pcs accumulate
//       for ic (mc rows, per task)      A block mc x kc packed by the thread running the task (L2)
//         for jr (nr columns)           B micro-panel kc x nr stays in L1 across ir
//           for ir (mr rows)            micro-kernel: mr x nr tile of C in registers
// Multi-threaded: an open pool job; participants claim B-packing chunks and (row block x column chunk) tasks per
// phase and wait only on data dependencies (see blockedShared), so late or slow threads never stall the others.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <sched.h>

#include "cpu.h"
#include "thread-pool.h"

namespace kiln {

namespace {

// A growable 64-byte aligned scratch buffer; one per thread and role, reused across calls.
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  float* get(size_t floats) {
    if (floats > cap_) {
      std::free(p_);
      size_t bytes = (floats * sizeof(float) + 63) & ~static_cast<size_t>(63);
      p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (p_ == nullptr) std::abort();
      cap_ = floats;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

thread_local Scratch tlsPackA;
thread_local Scratch tlsPackB;

// One product in stride form: op(A)(i, p) = a[i*rsA + p*csA], op(B)(p, j) = b[p*rsB + j*csB].
struct Product {
  int64_t M, N, K;
  float alpha, beta;
  const float* a;
  int64_t rsA, csA;
  const float* b;
  int64_t rsB, csB;
  float* c;
  int64_t ldc;
};

Product productAt(const GemmArgs& g, int64_t bi) {
  Product p;
  p.M = g.M;
  p.N = g.N;
  p.K = g.K;
  p.alpha = g.alpha;
  p.beta = g.beta;
  p.a = g.A + bi * g.strideA;
  p.rsA = g.transA ? 1 : g.lda;
  p.csA = g.transA ? g.lda : 1;
  p.b = g.B + bi * g.strideB;
  p.rsB = g.transB ? 1 : g.ldb;
  p.csB = g.transB ? g.ldb : 1;
  p.c = g.C + bi * g.strideC;
  p.ldc = g.ldc;
  return p;
}

// C = beta * C (beta == 0 writes zeros without reading C).
void scaleC(float* c, int64_t ldc, int64_t m, int64_t n, float beta) {
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f) std::memset(ci, 0, static_cast<size_t>(n) * sizeof(float));
    else if (beta != 1.0f)
      for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
  }
}

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// How one product's work is cut for a team. Each phase (one kc x nc B panel) is mBlocks x nChunks tasks: a block of
// mc rows of C (its A block packed by whoever runs it) times a run of panelsPerChunk nr-column panels. Tasks are
// claimed dynamically, so a thread that was descheduled or started late simply takes fewer of them.
struct Plan {
  int64_t mc;        // rows per block (a multiple of mr, <= kernel mc)
  int64_t mBlocks;
  int64_t nChunks;   // column chunks per phase (1 when M alone gives enough tasks)
};

Plan makePlan(const GemmKernel& kr, const Product& p, int teamSize) {
  const int64_t mPanels = ceilDiv(p.M, kr.mr);
  const int64_t maxPanels = kr.mc / kr.mr;
  int64_t mBlocks = ceilDiv(mPanels, maxPanels);
  int64_t nChunks = 1;
  if (teamSize > 1) {
    // Aim for ~4 tasks per thread per phase, keeping blocks >= 4 panels tall (an A block reused across >= 4
    // micro-kernel rows) and splitting columns only when M is too short to give the tasks.
    const int64_t want = 4 * static_cast<int64_t>(teamSize);
    mBlocks = std::max(mBlocks, std::min(want, ceilDiv(mPanels, 4)));
    if (mBlocks < want) nChunks = std::min(ceilDiv(want, mBlocks), ceilDiv(std::min(kr.nc, p.N), kr.nr));
  }
  const int64_t mc = ceilDiv(mPanels, mBlocks) * kr.mr;
  return Plan{mc, ceilDiv(p.M, mc), std::max<int64_t>(nChunks, 1)};
}

// Geometry of phase s (one kc x nc B panel): phases run jc-major, pc-minor.
struct Phase {
  int64_t jc, pc, ncur, kc, nPanels, perChunk;
  float betaEff;
};

Phase phaseAt(const GemmKernel& kr, const Product& p, const Plan& plan, int64_t s) {
  const int64_t nPc = ceilDiv(p.K, kr.kc);
  Phase ph;
  ph.jc = (s / nPc) * kr.nc;
  ph.pc = (s % nPc) * kr.kc;
  ph.ncur = std::min(kr.nc, p.N - ph.jc);
  ph.kc = std::min(kr.kc, p.K - ph.pc);
  ph.nPanels = ceilDiv(ph.ncur, kr.nr);
  ph.perChunk = ceilDiv(ph.nPanels, plan.nChunks);
  ph.betaEff = ph.pc == 0 ? p.beta : 1.0f;
  return ph;
}

// Packs nr-column panels [j0, j1) of the phase's B panel into bPanel.
void packPanels(const GemmKernel& kr, const Product& p, const Phase& ph, int64_t j0, int64_t j1, float* bPanel) {
  if (j1 <= j0) return;
  const int64_t cols = std::min(ph.ncur - j0 * kr.nr, (j1 - j0) * kr.nr);
  kr.packB(ph.kc, cols, p.b + ph.pc * p.rsB + (ph.jc + j0 * kr.nr) * p.csB, p.rsB, p.csB, bPanel + j0 * kr.nr * ph.kc);
}

// Task t of a phase: rows [blk*mc, ...) x column chunk. Packs the A block into packA unless *packedBlock says it is
// there already, then runs the micro-kernel over the chunk's panels.
void runTask(const GemmKernel& kr, const Product& p, const Plan& plan, const Phase& ph, int64_t t,
             const float* bPanel, float* packA, int64_t* packedBlock) {
  const int mr = kr.mr, nr = kr.nr;
  const int64_t blk = t / plan.nChunks, chunk = t % plan.nChunks;
  const int64_t ic = blk * plan.mc, mcur = std::min(plan.mc, p.M - ic);
  const int64_t jp0 = chunk * ph.perChunk, jp1 = std::min(ph.nPanels, jp0 + ph.perChunk);
  if (jp0 >= jp1) return;
  if (blk != *packedBlock) {
    kr.packA(mcur, ph.kc, p.a + ic * p.rsA + ph.pc * p.csA, p.rsA, p.csA, packA);
    *packedBlock = blk;
  }
  for (int64_t jp = jp0; jp < jp1; ++jp) {
    const int64_t j = ph.jc + jp * nr;
    const int nn = static_cast<int>(std::min<int64_t>(nr, p.N - j));
    const float* bp = bPanel + jp * nr * ph.kc;
    float* cCol = p.c + j;
    for (int64_t ir = 0; ir < mcur; ir += mr) {
      const int mm = static_cast<int>(std::min<int64_t>(mr, mcur - ir));
      kr.micro(ph.kc, packA + ir * ph.kc, bp, cCol + (ic + ir) * p.ldc, p.ldc, mm, nn, p.alpha, ph.betaEff);
    }
  }
}

int64_t phaseCount(const GemmKernel& kr, const Product& p) { return ceilDiv(p.N, kr.nc) * ceilDiv(p.K, kr.kc); }

// The blocked algorithm on the calling thread alone; bBuf holds one B panel (kc * nc floats).
void blockedSerial(const GemmKernel& kr, const Product& p, const Plan& plan, float* bBuf) {
  float* packA = tlsPackA.get(static_cast<size_t>(plan.mc * std::min(kr.kc, p.K)));
  const int64_t tasks = plan.mBlocks * plan.nChunks, phases = phaseCount(kr, p);
  for (int64_t s = 0; s < phases; ++s) {
    const Phase ph = phaseAt(kr, p, plan, s);
    packPanels(kr, p, ph, 0, ph.nPanels, bBuf);
    int64_t packedBlock = -1;
    for (int64_t t = 0; t < tasks; ++t) runTask(kr, p, plan, ph, t, bBuf, packA, &packedBlock);
  }
}

// Shared progress of one multi-threaded product: per phase, claim and completion counters for B-packing chunks
// and tasks, and one done flag per task.
struct SharedProgress {
  struct PhaseCounters {
    std::atomic<int64_t> packNext{0}, packDone{0}, taskNext{0}, taskDone{0};
  };
  std::unique_ptr<PhaseCounters[]> phase;
  std::unique_ptr<std::atomic<uint8_t>[]> taskFinished;  // [phase * tasks + task]
  SharedProgress(int64_t phases, int64_t tasks)
      : phase(new PhaseCounters[static_cast<size_t>(phases)]),
        taskFinished(new std::atomic<uint8_t>[static_cast<size_t>(phases * tasks)]) {
    for (int64_t i = 0; i < phases * tasks; ++i) taskFinished[i].store(0, std::memory_order_relaxed);
  }
};

template <class Pred>
void spinUntil(Pred done) {
  for (uint32_t spins = 0; !done(); ++spins) {
    if (spins < 2000) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      sched_yield();
    }
  }
}

// The blocked algorithm for any number of participants that may join at any time (an open pool job): no
// barriers, only data dependencies. B panels are double-buffered (phase s packs into bufs[s % 2] once every task
// of phase s - 2 is done); a task waits for its B panel to be packed and for the same task of the previous phase
// (same C tile, earlier k range) to finish. Every wait is on work already claimed by a running participant that
// itself waits only on earlier work, so there is no deadlock, and a late or slow participant just does less.
void blockedShared(const GemmKernel& kr, const Product& p, const Plan& plan, int64_t packPanelsPerChunk,
                   float* const bufs[2], SharedProgress& prog) {
  float* packA = tlsPackA.get(static_cast<size_t>(plan.mc * std::min(kr.kc, p.K)));
  const int64_t tasks = plan.mBlocks * plan.nChunks, phases = phaseCount(kr, p);
  const int64_t nPc = ceilDiv(p.K, kr.kc);
  for (int64_t s = 0; s < phases; ++s) {
    const Phase ph = phaseAt(kr, p, plan, s);
    auto& cnt = prog.phase[s];
    float* bPanel = bufs[s & 1];
    const int64_t packChunks = ceilDiv(ph.nPanels, packPanelsPerChunk);
    if (cnt.packNext.load(std::memory_order_relaxed) < packChunks) {
      if (s >= 2) {
        auto& old = prog.phase[s - 2];
        spinUntil([&] { return old.taskDone.load(std::memory_order_acquire) == tasks; });
      }
      for (;;) {
        const int64_t c = cnt.packNext.fetch_add(1, std::memory_order_relaxed);
        if (c >= packChunks) break;
        packPanels(kr, p, ph, c * packPanelsPerChunk, std::min(ph.nPanels, (c + 1) * packPanelsPerChunk), bPanel);
        cnt.packDone.fetch_add(1, std::memory_order_release);
      }
    }
    spinUntil([&] { return cnt.packDone.load(std::memory_order_acquire) == packChunks; });
    int64_t packedBlock = -1;
    for (;;) {
      const int64_t t = cnt.taskNext.fetch_add(1, std::memory_order_relaxed);
      if (t >= tasks) break;
      if (s % nPc != 0) {  // the same C tile's previous k range must be accumulated first
        auto& prev = prog.taskFinished[(s - 1) * tasks + t];
        spinUntil([&] { return prev.load(std::memory_order_acquire) != 0; });
      }
      runTask(kr, p, plan, ph, t, bPanel, packA, &packedBlock);
      prog.taskFinished[s * tasks + t].store(1, std::memory_order_release);
      cnt.taskDone.fetch_add(1, std::memory_order_release);
    }
  }
}

// The calling thread's buffer for `count` B panels of this product (kc * nc floats each).
float* sharedBFor(const GemmKernel& kr, const Product& p, int count) {
  const int64_t kc = std::min(kr.kc, p.K);
  const int64_t nc = std::min(kr.nc, ceilDiv(p.N, kr.nr) * kr.nr);
  return tlsPackB.get(static_cast<size_t>(count * kc * nc));
}

// One product on the calling thread only.
void productSerial(const GemmKernel& kr, const Product& p) {
  blockedSerial(kr, p, makePlan(kr, p, 1), sharedBFor(kr, p, 1));
}

// M == 1 or N == 1: a matrix-vector product (packing would cost as much as the arithmetic).
// Large ones split the outputs over `threads` threads in chunks of 64.
void productGemv(const GemmKernel& kr, const Product& p, int threads) {
  // M == 1: y(j) = sum_p a(0, p) * op(B)(p, j), y = row 0 of C.
  // N == 1: y(i) = sum_p op(B)(p, 0) * op(A)(i, p); op(A)^T is K x M with rs = csA, cs = rsA; y = column 0 of C.
  const bool rowCase = p.M == 1;
  const int64_t n = rowCase ? p.N : p.M;
  const float* x = rowCase ? p.a : p.b;
  const int64_t incx = rowCase ? p.csA : p.rsB;
  const float* mat = rowCase ? p.b : p.a;
  const int64_t rs = rowCase ? p.rsB : p.csA, cs = rowCase ? p.csB : p.rsA;
  const int64_t incy = rowCase ? 1 : p.ldc;
  const bool big = static_cast<double>(p.K) * static_cast<double>(n) >= 1024.0 * 1024.0;
  const int64_t chunks = ceilDiv(n, 64);
  parallelFor(chunks, 1, big ? threads : 1, [&](int64_t c0, int64_t c1) {
    const int64_t j0 = c0 * 64, j1 = std::min(n, c1 * 64);
    kr.gemv(p.K, j1 - j0, p.alpha, x, incx, mat + j0 * cs, rs, cs, p.beta, p.c + j0 * incy, incy);
  });
}

void runProduct(const GemmKernel& kr, const Product& p, int threads) {
  if (p.alpha == 0.0f || p.K == 0) {
    scaleC(p.c, p.ldc, p.M, p.N, p.beta);
    return;
  }
  if (p.M == 1 || p.N == 1) {
    productGemv(kr, p, threads);
    return;
  }
  const double flops = 2.0 * static_cast<double>(p.M) * static_cast<double>(p.N) * static_cast<double>(p.K);
  // Below ~8 MFLOP (~50 us on one core) waking the pool costs more than it saves.
  const int t = std::min(threads, numThreads());
  if (t <= 1 || flops < 2.0 * 160 * 160 * 160) {
    productSerial(kr, p);
    return;
  }
  const Plan plan = makePlan(kr, p, t);
  float* base = sharedBFor(kr, p, 2);
  float* const bufs[2] = {base, base + std::min(kr.kc, p.K) * std::min(kr.nc, ceilDiv(p.N, kr.nr) * kr.nr)};
  const int64_t panelsMax = ceilDiv(std::min(kr.nc, p.N), kr.nr);
  const int64_t packPanelsPerChunk = std::max<int64_t>(1, ceilDiv(panelsMax, 4 * static_cast<int64_t>(t)));
  SharedProgress prog(phaseCount(kr, p), plan.mBlocks * plan.nChunks);
  runOpen(t, [&] { blockedShared(kr, p, plan, packPanelsPerChunk, bufs, prog); });
}

}  // namespace

const GemmKernel& gemmKernelActive() {
  switch (activeIsa()) {
    case Isa::Avx512: return gemmKernelAvx512();
    case Isa::Avx2: return gemmKernelAvx2();
    default: return gemmKernelScalar();
  }
}

void gemmWith(const GemmKernel& kr, const GemmArgs& g, int threads) {
  if (g.batch <= 0 || g.M <= 0 || g.N <= 0) return;
  const int t = threads <= 0 ? numThreads() : std::min(threads, numThreads());
  const double flopsEach = 2.0 * static_cast<double>(g.M) * static_cast<double>(g.N) * static_cast<double>(g.K);
  // Many small products: one thread per product (no barriers, no shared panels).
  if (g.batch > 1 && t > 1 && (g.batch >= 4 * t || flopsEach < 2.0 * 192 * 192 * 192)) {
    parallelFor(g.batch, 1, t, [&](int64_t b0, int64_t b1) {
      for (int64_t bi = b0; bi < b1; ++bi) {
        Product p = productAt(g, bi);
        if (p.alpha == 0.0f || p.K == 0) scaleC(p.c, p.ldc, p.M, p.N, p.beta);
        else if (p.M == 1 || p.N == 1) productGemv(kr, p, 1);
        else productSerial(kr, p);
      }
    });
    return;
  }
  for (int64_t bi = 0; bi < g.batch; ++bi) runProduct(kr, productAt(g, bi), t);
}

void gemm(const GemmArgs& g, int threads) { gemmWith(gemmKernelActive(), g, threads); }

}  // namespace kiln
