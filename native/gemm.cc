// The GEMM driver (contract in gemm.h): degenerate cases, GEMV for M = 1 or N = 1, batch-level parallelism for many
// small products, and a BLIS/GotoBLAS five-loop blocked algorithm for the rest:
//   for jc (nc columns of C)            B panel kc x nc packed once per (jc, pc), shared by the team (L3)
//     for pc (kc of K)                  beta applies on the first pc only; later pcs accumulate
//       for ic (mc rows, per task)      A block mc x kc packed by the thread running the task (L2)
//         for jr (nr columns)           B micro-panel kc x nr stays in L1 across ir
//           for ir (mr rows)            micro-kernel: mr x nr tile of C in registers
// Threads share each packed B panel (two barriers per phase) and claim (row block x column chunk) tasks from a
// per-phase counter, so the work balances itself when a thread runs late.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

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

// The blocked algorithm for one product on one team. sharedB holds the team's packed B panel (kc * nc floats);
// claims[s] counts the tasks handed out in phase s (zeroed by the caller; unused for a team of one).
void blocked(const GemmKernel& kr, const Product& p, const Team& team, const Plan& plan, float* sharedB,
             std::atomic<int64_t>* claims) {
  const int mr = kr.mr, nr = kr.nr;
  const int64_t kcMax = std::min(kr.kc, p.K);
  float* packA = tlsPackA.get(static_cast<size_t>(plan.mc * kcMax));
  const int64_t tasks = plan.mBlocks * plan.nChunks;
  int64_t phase = 0;
  for (int64_t jc = 0; jc < p.N; jc += kr.nc) {
    const int64_t ncur = std::min(kr.nc, p.N - jc);
    const int64_t nPanels = ceilDiv(ncur, nr);
    const int64_t perChunk = ceilDiv(nPanels, plan.nChunks);
    for (int64_t pc = 0; pc < p.K; pc += kr.kc, ++phase) {
      const int64_t kc = std::min(kr.kc, p.K - pc);
      const float betaEff = pc == 0 ? p.beta : 1.0f;
      // B packing, split evenly: each member packs a contiguous range of nr-column panels.
      const int64_t bp0 = nPanels * team.tid / team.size, bp1 = nPanels * (team.tid + 1) / team.size;
      if (bp1 > bp0) {
        const int64_t cols = std::min(ncur - bp0 * nr, (bp1 - bp0) * nr);
        kr.packB(kc, cols, p.b + pc * p.rsB + (jc + bp0 * nr) * p.csB, p.rsB, p.csB, sharedB + bp0 * nr * kc);
      }
      team.sync();
      int64_t packedBlock = -1;  // the A block now in packA (reused by consecutive tasks of the same block)
      for (int64_t next = 0;; ++next) {
        const int64_t t = team.size == 1 ? next : claims[phase].fetch_add(1, std::memory_order_relaxed);
        if (t >= tasks) break;
        const int64_t blk = t / plan.nChunks, chunk = t % plan.nChunks;
        const int64_t ic = blk * plan.mc, mcur = std::min(plan.mc, p.M - ic);
        const int64_t jp0 = chunk * perChunk, jp1 = std::min(nPanels, jp0 + perChunk);
        if (jp0 >= jp1) continue;
        if (blk != packedBlock) {
          kr.packA(mcur, kc, p.a + ic * p.rsA + pc * p.csA, p.rsA, p.csA, packA);
          packedBlock = blk;
        }
        for (int64_t jp = jp0; jp < jp1; ++jp) {
          const int64_t j = jc + jp * nr;
          const int nn = static_cast<int>(std::min<int64_t>(nr, p.N - j));
          const float* bPanel = sharedB + jp * nr * kc;
          float* cCol = p.c + j;
          for (int64_t ir = 0; ir < mcur; ir += mr) {
            const int mm = static_cast<int>(std::min<int64_t>(mr, mcur - ir));
            kr.micro(kc, packA + ir * kc, bPanel, cCol + (ic + ir) * p.ldc, p.ldc, mm, nn, p.alpha, betaEff);
          }
        }
      }
      team.sync();  // every task of this phase is done before the next phase overwrites sharedB
    }
  }
}

float* sharedBFor(const GemmKernel& kr, const Product& p) {
  const int64_t kc = std::min(kr.kc, p.K);
  const int64_t nc = std::min(kr.nc, ceilDiv(p.N, kr.nr) * kr.nr);
  return tlsPackB.get(static_cast<size_t>(kc * nc));
}

// One product on the calling thread only.
void productSerial(const GemmKernel& kr, const Product& p) {
  blocked(kr, p, Team{0, 1, nullptr}, makePlan(kr, p, 1), sharedBFor(kr, p), nullptr);
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
  if (threads <= 1 || flops < 2.0 * 160 * 160 * 160) {
    productSerial(kr, p);
    return;
  }
  float* bBuf = sharedBFor(kr, p);
  const Plan plan = makePlan(kr, p, std::min(threads, numThreads()));
  const int64_t phases = ceilDiv(p.N, kr.nc) * ceilDiv(p.K, kr.kc);
  std::unique_ptr<std::atomic<int64_t>[]> claims(new std::atomic<int64_t>[static_cast<size_t>(phases)]);
  for (int64_t i = 0; i < phases; ++i) claims[i].store(0, std::memory_order_relaxed);
  runTeam(threads, [&](const Team& team) { blocked(kr, p, team, plan, bBuf, claims.get()); });
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
