// Fused relative-position attention and the seeded dropout mask (contract and algorithm in kernels-relattn.h).
//
// Tile products go through gemm() on the calling thread (gemm.h picks the active ISA's micro-kernel and packs the
// operands, read in place with leading dimension d = H·Dh). The per-row work (score combine, masks, max, exp, sums,
// the dropout hash, dS) is written once as plain loops over 16 lanes and compiled three times (baseline, AVX2,
// AVX-512) with `#pragma GCC target`, chosen by activeIsa() like the other kernels.
#include "kernels-relattn.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "kernels-args.h"
#include "thread-pool.h"

namespace kiln {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int64_t kTile = 64;  // query rows per tile

// ── row operations (generic source, compiled per ISA) ──

#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")

inline __attribute__((always_inline)) uint32_t fmix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

// e^x in f32 for x <= 0 (softmax arguments s − max; +inf never occurs): x = n·ln 2 + r, |r| <= ln 2 / 2, e^r by its
// Taylor series to r^6 (relative error < 2e-7), times 2^n from the exponent bits. Below −87 (and −inf) gives 0.
inline __attribute__((always_inline)) float expNeg(float x) {
  const float xc = x < -87.0f ? -87.0f : (x > 0.0f ? 0.0f : x);
  const float shifter = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer kept in the low mantissa bits
  float fn = xc * 1.44269504088896341f + shifter;
  int32_t bits;
  std::memcpy(&bits, &fn, 4);
  const int32_t n = bits - 0x4B400000;
  fn -= shifter;
  const float r = (xc - fn * 0.693145751953125f) - fn * 1.42860682030941723e-6f;  // ln 2 in two parts
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t e = (n + 127) << 23;
  float two;
  std::memcpy(&two, &e, 4);
  return x < -87.0f ? 0.0f : p * two;
}

// Keep factors of the dropout hash for elements idx0 + j, j < n, when idx0 … idx0 + n − 1 share their high 32 bits:
// ks[j] = (hash >> 8) >= thr ? inv : 0.
inline __attribute__((always_inline)) void gKeep(float* __restrict ks, int n, uint64_t idx0, uint32_t thr, float inv,
                                                 uint32_t s0, uint32_t s1) {
  const uint32_t lo0 = static_cast<uint32_t>(idx0);
  const uint32_t c = static_cast<uint32_t>(idx0 >> 32) * 0x9E3779B9u + s1;
  for (int j = 0; j < n; ++j) {
    const uint32_t x = fmix(fmix((lo0 + static_cast<uint32_t>(j)) ^ s0) ^ c);
    ks[j] = (x >> 8) >= thr ? inv : 0.0f;
  }
}

// s[j] = (ac[j] + bd[j])·scale, −inf where keep[j] == 0 (keep may be null); returns the max (−inf when empty).
inline __attribute__((always_inline)) float gScores(const float* __restrict ac, const float* __restrict bd,
                                                    const float* __restrict keep, int n, float scale,
                                                    float* __restrict s) {
  float lanes[16];
  for (int t = 0; t < 16; ++t) lanes[t] = kNegInf;
  if (keep) {
    for (int j = 0; j < n; ++j) s[j] = keep[j] != 0.0f ? (ac[j] + bd[j]) * scale : kNegInf;
  } else {
    for (int j = 0; j < n; ++j) s[j] = (ac[j] + bd[j]) * scale;
  }
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int t = 0; t < 16; ++t) lanes[t] = s[j + t] > lanes[t] ? s[j + t] : lanes[t];
  for (int t = 0; j + t < n; ++t) lanes[t] = s[j + t] > lanes[t] ? s[j + t] : lanes[t];
  float m = kNegInf;
  for (int t = 0; t < 16; ++t) m = lanes[t] > m ? lanes[t] : m;
  return m;
}

// s[j] = e^(s[j] − m); returns Σ s[j] (16 partial lanes, then summed).
inline __attribute__((always_inline)) float gExpSum(float* __restrict s, int n, float m) {
  float lanes[16] = {0};
  for (int j = 0; j < n; ++j) s[j] = expNeg(s[j] - m);
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int t = 0; t < 16; ++t) lanes[t] += s[j + t];
  for (int t = 0; j + t < n; ++t) lanes[t] += s[j + t];
  float sum = 0.0f;
  for (int t = 0; t < 16; ++t) sum += lanes[t];
  return sum;
}

// s[j] *= a·ks[j] (ks null: by a).
inline __attribute__((always_inline)) void gScale(float* __restrict s, const float* __restrict ks, int n, float a) {
  if (ks) {
    for (int j = 0; j < n; ++j) s[j] *= a * ks[j];
  } else {
    for (int j = 0; j < n; ++j) s[j] *= a;
  }
}

// Backward row: p = e^(s − lse) (s already masked to −inf); with keep factors ks (null = 1):
// s[j] = p·ks (the dropped probabilities, for dV), dp[j] = scale·p·(dp·ks − di) (dS).
inline __attribute__((always_inline)) void gBwdRow(float* __restrict s, float* __restrict dp, const float* __restrict ks,
                                                   int n, float lse, float di, float scale) {
  if (ks) {
    for (int j = 0; j < n; ++j) {
      const float p = expNeg(s[j] - lse);
      dp[j] = scale * p * (dp[j] * ks[j] - di);
      s[j] = p * ks[j];
    }
  } else {
    for (int j = 0; j < n; ++j) {
      const float p = expNeg(s[j] - lse);
      dp[j] = scale * p * (dp[j] - di);
      s[j] = p;
    }
  }
}

struct RowOps {
  void (*keep)(float* ks, int n, uint64_t idx0, uint32_t thr, float inv, uint32_t s0, uint32_t s1);
  float (*scores)(const float* ac, const float* bd, const float* keep, int n, float scale, float* s);
  float (*expSum)(float* s, int n, float m);
  void (*scale)(float* s, const float* ks, int n, float a);
  void (*bwdRow)(float* s, float* dp, const float* ks, int n, float lse, float di, float scale);
};

#define KILN_RELATTN_ROW_OPS(S)                                                                                  \
  void keep##S(float* ks, int n, uint64_t idx0, uint32_t thr, float inv, uint32_t s0, uint32_t s1) {           \
    gKeep(ks, n, idx0, thr, inv, s0, s1);                                                                        \
  }                                                                                                             \
  float scores##S(const float* ac, const float* bd, const float* keep, int n, float scale, float* s) {         \
    return gScores(ac, bd, keep, n, scale, s);                                                                   \
  }                                                                                                             \
  float expSum##S(float* s, int n, float m) { return gExpSum(s, n, m); }                                        \
  void scale##S(float* s, const float* ks, int n, float a) { gScale(s, ks, n, a); }                             \
  void bwdRow##S(float* s, float* dp, const float* ks, int n, float lse, float di, float scale) {               \
    gBwdRow(s, dp, ks, n, lse, di, scale);                                                                       \
  }                                                                                                             \
  const RowOps kRowOps##S = {keep##S, scores##S, expSum##S, scale##S, bwdRow##S};

KILN_RELATTN_ROW_OPS(Scalar)

#pragma GCC push_options
#pragma GCC target("avx2,fma")
KILN_RELATTN_ROW_OPS(Avx2)
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
KILN_RELATTN_ROW_OPS(Avx512)
#pragma GCC pop_options

#pragma GCC pop_options  // no-trapping-math

const RowOps& rowOps() {
  switch (activeIsa()) {
    case Isa::Avx512: return kRowOpsAvx512;
    case Isa::Avx2: return kRowOpsAvx2;
    default: return kRowOpsScalar;
  }
}

// Keep factors for elements idx0 … idx0 + n − 1, split where the high 32 bits change.
void keepFactors(const RowOps& ops, float* ks, int n, uint64_t idx0, uint32_t thr, float inv, uint32_t s0, uint32_t s1) {
  int j = 0;
  while (j < n) {
    const uint64_t idx = idx0 + static_cast<uint64_t>(j);
    const uint64_t room = (uint64_t{1} << 32) - (idx & 0xFFFFFFFFu);
    const int m = static_cast<int>(std::min<uint64_t>(room, static_cast<uint64_t>(n - j)));
    ops.keep(ks + j, m, idx, thr, inv, s0, s1);
    j += m;
  }
}

// Threshold of the 24-bit uniform: kept iff (hash >> 8) >= ceil(p·2^24) (exactly u >= p of the reference).
uint32_t dropThreshold(double p) { return static_cast<uint32_t>(std::ceil(p * 16777216.0)); }

// C (ldc) = alpha·op(A)·op(B) + beta·C on the calling thread.
inline void mm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
               int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  GemmArgs g{};
  g.batch = 1;
  g.transA = ta;
  g.transB = tb;
  g.M = M;
  g.N = N;
  g.K = K;
  g.alpha = 1.0f;
  g.A = A;
  g.lda = lda;
  g.B = B;
  g.ldb = ldb;
  g.beta = beta;
  g.C = C;
  g.ldc = ldc;
  gemm(g, 1);
}

// 64-byte aligned per-thread scratch.
struct Scratch {
  float* p = nullptr;
  size_t cap = 0;
  ~Scratch() { std::free(p); }
  float* get(size_t floats) {
    if (floats > cap) {
      std::free(p);
      const size_t bytes = (floats * sizeof(float) + 63) & ~static_cast<size_t>(63);
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (p == nullptr) std::abort();
      cap = floats;
    }
    return p;
  }
};
thread_local Scratch tlsRel;

inline size_t pad16(int64_t n) { return static_cast<size_t>((std::max<int64_t>(n, 0) + 15) & ~int64_t{15}); }

// Runs task(t, slot) for t < n on up to `threads` pool threads, tasks claimed first come first served; `slot` <
// threads names the participating call (for per-thread accumulators). Built on runOpen, so a worker that is
// descheduled on a busy machine is never waited for: the threads that are running take its tasks.
template <class F>
void runTasks(int64_t n, int threads, F&& task) {
  if (n <= 0) return;
  if (threads <= 1) {
    for (int64_t t = 0; t < n; ++t) task(t, 0);
    return;
  }
  std::atomic<int64_t> next{0};
  std::atomic<int> slots{0};
  runOpen(threads, [&] {
    const int slot = slots.fetch_add(1, std::memory_order_relaxed);
    if (slot >= threads) return;
    for (;;) {
      const int64_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= n) break;
      task(t, slot);
    }
  });
}

// Batch groups of the backward's shared-gradient accumulators (fixed, so the sums do not depend on the threads).
constexpr int64_t kGradGroups = 8;

int threadsFor(const RelAttnArgs& a) {
  const double K = static_cast<double>(a.M + a.T);
  const double flop = 6.0 * a.B * a.H * static_cast<double>(a.T) * K * a.Dh;
  if (flop < 2e6) return 1;
  return static_cast<int>(std::min<int64_t>(numThreads(), a.B * a.H));
}

// One query tile's geometry.
struct Tile {
  int64_t i0, n, kEnd, W, p0;
};

Tile tileOf(const RelAttnArgs& a, int64_t t) {
  const int64_t K = a.M + a.T;
  Tile g;
  g.i0 = t * kTile;
  g.n = std::min(kTile, a.T - g.i0);
  g.kEnd = a.causal ? std::min(K, a.M + g.i0 + g.n) : K;
  // window of distances: causal rows never read the columns past kEnd (they are future keys), so W = kEnd there
  g.W = a.causal ? g.kEnd : g.kEnd + g.n - 1;
  g.p0 = a.T - g.n - g.i0;
  return g;
}

// Scores of tile g of (b, h): writes Qu, Qv [n, Dh], raw s [n, kEnd] (masked to −inf) and returns nothing; `ac`
// and `bd` are scratch. Row maxima into rowMax when given.
void tileScores(const RelAttnArgs& a, const RowOps& ops, int64_t b, int64_t h, const Tile& g, float* Qu, float* Qv,
                float* ac, float* bd, float* s, float* rowMax) {
  const int64_t d = a.H * a.Dh, Dh = a.Dh, K = a.M + a.T;
  for (int64_t r = 0; r < g.n; ++r) {
    const float* qr = a.q + ((b * a.T + g.i0 + r) * a.H + h) * Dh;
    for (int64_t e = 0; e < Dh; ++e) {
      Qu[r * Dh + e] = qr[e] + a.u[h * Dh + e];
      Qv[r * Dh + e] = qr[e] + a.vb[h * Dh + e];
    }
  }
  mm(false, true, g.n, g.kEnd, Dh, Qu, Dh, a.k + (b * K * a.H + h) * Dh, d, 0.0f, ac, g.kEnd);
  mm(false, true, g.n, g.W, Dh, Qv, Dh, a.rk + (g.p0 * a.H + h) * Dh, d, 0.0f, bd, g.W);
  const float* keep = a.keyMask ? a.keyMask + b * K : nullptr;
  for (int64_t r = 0; r < g.n; ++r) {
    const int64_t i = g.i0 + r;
    const int64_t jl = a.causal ? std::min(g.kEnd, a.M + i + 1) : g.kEnd;
    float* sr = s + r * g.kEnd;
    const float m = ops.scores(ac + r * g.kEnd, bd + r * g.W + (g.n - 1 - r), keep, static_cast<int>(jl), a.scale, sr);
    for (int64_t j = jl; j < g.kEnd; ++j) sr[j] = kNegInf;
    if (rowMax) rowMax[r] = m;
  }
}

}  // namespace

void relAttentionForward(const RelAttnArgs& a, float* out, float* lse) {
  const int64_t K = a.M + a.T, d = a.H * a.Dh, Dh = a.Dh;
  if (a.B == 0 || a.H == 0 || a.T == 0) return;
  const RowOps& ops = rowOps();
  const int64_t tiles = (a.T + kTile - 1) / kTile;
  const bool drop = a.dropP > 0.0;
  const uint32_t thr = dropThreshold(a.dropP);
  const float inv = static_cast<float>(1.0 / (1.0 - a.dropP));
  if (Dh == 0) {
    // no features: every visible row has output [] and a softmax over zero scores
    for (int64_t b = 0; b < a.B; ++b)
      for (int64_t h = 0; h < a.H; ++h)
        for (int64_t i = 0; i < a.T; ++i) {
          int64_t cnt = 0;
          for (int64_t j = 0; j < (a.causal ? std::min(K, a.M + i + 1) : K); ++j)
            if (!a.keyMask || a.keyMask[b * K + j] != 0.0f) ++cnt;
          lse[(b * a.H + h) * a.T + i] = cnt ? static_cast<float>(std::log(static_cast<double>(cnt))) : kNegInf;
        }
    return;
  }
  runTasks(a.B * a.H * tiles, threadsFor(a), [&](int64_t task, int) {
    const int64_t t = task % tiles, bh = task / tiles, b = bh / a.H, h = bh % a.H;
    const Tile g = tileOf(a, t);
    float* base = tlsRel.get(2 * pad16(g.n * Dh) + 2 * pad16(g.n * g.kEnd) + pad16(g.n * g.W) + pad16(g.kEnd) + pad16(g.n));
    float* Qu = base;
    float* Qv = Qu + pad16(g.n * Dh);
    float* ac = Qv + pad16(g.n * Dh);
    float* s = ac + pad16(g.n * g.kEnd);
    float* bd = s + pad16(g.n * g.kEnd);
    float* ks = bd + pad16(g.n * g.W);
    float* mx = ks + pad16(g.kEnd);
    tileScores(a, ops, b, h, g, Qu, Qv, ac, bd, s, mx);
    for (int64_t r = 0; r < g.n; ++r) {
      const int64_t i = g.i0 + r;
      float* sr = s + r * g.kEnd;
      float& l = lse[(b * a.H + h) * a.T + i];
      if (mx[r] == kNegInf) {  // every key blocked: output 0
        std::memset(sr, 0, static_cast<size_t>(g.kEnd) * sizeof(float));
        l = kNegInf;
        continue;
      }
      const float sum = ops.expSum(sr, static_cast<int>(g.kEnd), mx[r]);
      l = static_cast<float>(static_cast<double>(mx[r]) + std::log(static_cast<double>(sum)));
      if (drop) keepFactors(ops, ks, static_cast<int>(g.kEnd), static_cast<uint64_t>(((b * a.H + h) * a.T + i) * K), thr, inv, a.seed0, a.seed1);
      ops.scale(sr, drop ? ks : nullptr, static_cast<int>(g.kEnd), 1.0f / sum);
    }
    mm(false, false, g.n, Dh, g.kEnd, s, g.kEnd, a.v + (b * K * a.H + h) * Dh, d, 0.0f,
       out + ((b * a.T + g.i0) * a.H + h) * Dh, d);
  });
}

void relAttentionBackward(const RelAttnArgs& a, const float* out, const float* lse, const float* dout, float* dq,
                          float* dk, float* dv, float* drk, float* du, float* dvb) {
  const int64_t K = a.M + a.T, d = a.H * a.Dh, Dh = a.Dh, P = a.P;
  std::memset(dq, 0, static_cast<size_t>(a.B * a.T * d) * sizeof(float));
  std::memset(dk, 0, static_cast<size_t>(a.B * K * d) * sizeof(float));
  std::memset(dv, 0, static_cast<size_t>(a.B * K * d) * sizeof(float));
  std::memset(drk, 0, static_cast<size_t>(P * d) * sizeof(float));
  std::memset(du, 0, static_cast<size_t>(d) * sizeof(float));
  std::memset(dvb, 0, static_cast<size_t>(d) * sizeof(float));
  if (a.B == 0 || a.H == 0 || a.T == 0 || Dh == 0) return;
  const RowOps& ops = rowOps();
  const int64_t tiles = (a.T + kTile - 1) / kTile;
  const bool drop = a.dropP > 0.0;
  const uint32_t thr = dropThreshold(a.dropP);
  const float inv = static_cast<float>(1.0 / (1.0 - a.dropP));
  const int threads = threadsFor(a);
  // drk, du and dvb sum over the batch (each head writes its own columns). A task is (batch group, head): it runs
  // its group's batch rows in order into the group's accumulator (group 0: the outputs, the others a buffer each),
  // and the groups are added in order at the end — the same sums whatever the thread count or the order in which
  // tasks are claimed, so training runs are bit-reproducible.
  const int64_t groups = std::min<int64_t>(a.B, kGradGroups);
  const size_t accFloats = static_cast<size_t>(P * d + 2 * d);
  std::vector<float> extra(static_cast<size_t>(groups - 1) * accFloats, 0.0f);
  auto accOf = [&](int64_t grp, float** r, float** pu, float** pv) {
    if (grp == 0) {
      *r = drk;
      *pu = du;
      *pv = dvb;
    } else {
      float* base = extra.data() + static_cast<size_t>(grp - 1) * accFloats;
      *r = base;
      *pu = base + P * d;
      *pv = base + P * d + d;
    }
  };
  runTasks(groups * a.H, threads, [&](int64_t gh, int) {
    const int64_t grp = gh / a.H, h = gh % a.H;
    float *gr, *gu, *gvb;
    accOf(grp, &gr, &gu, &gvb);
    const Tile g0 = tileOf(a, 0);
    const int64_t nMax = g0.n, kMax = K, wMax = K + nMax - 1;
    float* base = tlsRel.get(2 * pad16(nMax * Dh) + pad16(nMax) + pad16(wMax) + 2 * pad16(nMax * kMax) + 2 * pad16(nMax * wMax) + pad16(kMax));
    float* Qu = base;
    float* Qv = Qu + pad16(nMax * Dh);
    float* ones = Qv + pad16(nMax * Dh);
    float* colSum = ones + pad16(nMax);
    float* s = colSum + pad16(wMax);
    float* dp = s + pad16(nMax * kMax);
    float* bd = dp + pad16(nMax * kMax);  // position scores, then dBD
    float* ac = bd + pad16(nMax * wMax);  // content scores
    float* ks = ac + pad16(nMax * wMax);
    for (int64_t r = 0; r < nMax; ++r) ones[r] = 1.0f;
    for (int64_t b = grp * a.B / groups; b < (grp + 1) * a.B / groups; ++b) {
      const float* kb = a.k + (b * K * a.H + h) * Dh;
      const float* vbp = a.v + (b * K * a.H + h) * Dh;
      float* dkb = dk + (b * K * a.H + h) * Dh;
      float* dvp = dv + (b * K * a.H + h) * Dh;
      for (int64_t t = 0; t < tiles; ++t) {
        const Tile g = tileOf(a, t);
        tileScores(a, ops, b, h, g, Qu, Qv, ac, bd, s, nullptr);
        const float* dO = dout + ((b * a.T + g.i0) * a.H + h) * Dh;
        const float* O = out + ((b * a.T + g.i0) * a.H + h) * Dh;
        mm(false, true, g.n, g.kEnd, Dh, dO, d, vbp, d, 0.0f, dp, g.kEnd);  // dP̃ = dO·Vᵀ
        for (int64_t r = 0; r < g.n; ++r) {
          const int64_t i = g.i0 + r;
          const float l = lse[(b * a.H + h) * a.T + i];
          float* sr = s + r * g.kEnd;
          float* dpr = dp + r * g.kEnd;
          if (l == kNegInf) {  // fully blocked row: no gradient
            std::memset(sr, 0, static_cast<size_t>(g.kEnd) * sizeof(float));
            std::memset(dpr, 0, static_cast<size_t>(g.kEnd) * sizeof(float));
            continue;
          }
          float di = 0.0f;
          for (int64_t e = 0; e < Dh; ++e) di += dO[r * d + e] * O[r * d + e];
          if (drop) keepFactors(ops, ks, static_cast<int>(g.kEnd), static_cast<uint64_t>(((b * a.H + h) * a.T + i) * K), thr, inv, a.seed0, a.seed1);
          ops.bwdRow(sr, dpr, drop ? ks : nullptr, static_cast<int>(g.kEnd), l, di, a.scale);
        }
        // s = P̃ (dropped probabilities), dp = dS
        mm(true, false, g.kEnd, Dh, g.n, s, g.kEnd, dO, d, 1.0f, dvp, d);   // dV += P̃ᵀ·dO
        mm(true, false, g.kEnd, Dh, g.n, dp, g.kEnd, Qu, Dh, 1.0f, dkb, d);  // dK += dSᵀ·(Q + u)
        float* dqt = dq + ((b * a.T + g.i0) * a.H + h) * Dh;
        mm(false, false, g.n, Dh, g.kEnd, dp, g.kEnd, kb, d, 0.0f, dqt, d);  // dQ = dS·K (content part)
        // du += Σ_rows dS·K = (1ᵀ·dS)·K
        mm(false, false, 1, g.kEnd, g.n, ones, g.n, dp, g.kEnd, 0.0f, colSum, g.kEnd);
        mm(false, false, 1, Dh, g.kEnd, colSum, g.kEnd, kb, d, 1.0f, gu + h * Dh, Dh);
        // dBD: row r's dS shifted right by n − 1 − r in the window
        std::memset(bd, 0, static_cast<size_t>(g.n * g.W) * sizeof(float));
        for (int64_t r = 0; r < g.n; ++r)
          std::memcpy(bd + r * g.W + (g.n - 1 - r), dp + r * g.kEnd,
                      static_cast<size_t>(std::min(g.kEnd, g.W - (g.n - 1 - r))) * sizeof(float));
        const float* rkw = a.rk + (g.p0 * a.H + h) * Dh;
        mm(false, false, g.n, Dh, g.W, bd, g.W, rkw, d, 1.0f, dqt, d);  // dQ += dBD·RK (position part)
        // dvb += Σ_rows dBD·RK = (1ᵀ·dBD)·RK
        mm(false, false, 1, g.W, g.n, ones, g.n, bd, g.W, 0.0f, colSum, g.W);
        mm(false, false, 1, Dh, g.W, colSum, g.W, rkw, d, 1.0f, gvb + h * Dh, Dh);
        mm(true, false, g.W, Dh, g.n, bd, g.W, Qv, Dh, 1.0f, gr + (g.p0 * a.H + h) * Dh, d);  // dRK += dBDᵀ·(Q + vb)
      }
    }
  });
  for (int64_t grp = 1; grp < groups; ++grp) {
    const float* base = extra.data() + static_cast<size_t>(grp - 1) * accFloats;
    for (int64_t x = 0; x < P * d; ++x) drk[x] += base[x];
    for (int64_t x = 0; x < d; ++x) {
      du[x] += base[P * d + x];
      dvb[x] += base[P * d + d + x];
    }
  }
}

void dropoutMask(float* out, int64_t n, double p, uint32_t seed0, uint32_t seed1) {
  const RowOps& ops = rowOps();
  const uint32_t thr = dropThreshold(p);
  const float inv = static_cast<float>(1.0 / (1.0 - p));
  constexpr int64_t kChunk = 1 << 14;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallelFor(chunks, 4, numThreads(), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t x0 = c * kChunk, m = std::min(kChunk, n - x0);
      keepFactors(ops, out + x0, static_cast<int>(m), static_cast<uint64_t>(x0), thr, inv, seed0, seed1);
    }
  });
}

// ── bindings ──

namespace {

bool parseRel(KArgs& args, RelAttnArgs* a, int64_t* K) {
  float *q, *k, *v, *rk, *u, *vb, *mask;
  int64_t nq, nk, nv, nr, nu, nvb, nm;
  double* dims;
  int64_t nd;
  if (!args.f32(0, "q", &q, &nq) || !args.f32(1, "k", &k, &nk) || !args.f32(2, "v", &v, &nv) ||
      !args.f32(3, "rk", &rk, &nr) || !args.f32(4, "u", &u, &nu) || !args.f32(5, "vb", &vb, &nvb) ||
      !args.f32(6, "keyMask", &mask, &nm, true) || !args.f64Array(7, "dims", &dims, &nd))
    return false;
  if (nd != 11) return args.fail("dims must hold 11 numbers [B, H, T, M, Dh, P, scale, causal, dropP, seed0, seed1]");
  const char* names[6] = {"B", "H", "T", "M", "Dh", "P"};
  int64_t vals[6];
  for (int x = 0; x < 6; ++x) {
    const double dv = dims[x];
    if (!(dv >= 0 && dv <= 1e12 && std::floor(dv) == dv))
      return args.fail(std::string("dims: ") + names[x] + " must be a non-negative integer, got " + std::to_string(dv));
    vals[x] = static_cast<int64_t>(dv);
  }
  a->B = vals[0];
  a->H = vals[1];
  a->T = vals[2];
  a->M = vals[3];
  a->Dh = vals[4];
  a->P = vals[5];
  a->scale = static_cast<float>(dims[6]);
  a->causal = dims[7] != 0.0;
  a->dropP = dims[8];
  if (!std::isfinite(dims[6])) return args.fail("dims: scale must be finite");
  if (!(a->dropP >= 0.0 && a->dropP < 1.0)) return args.fail("dims: the dropout rate must be in [0, 1), got " + std::to_string(a->dropP));
  for (int x = 9; x < 11; ++x)
    if (!(dims[x] >= 0 && dims[x] <= 4294967295.0 && std::floor(dims[x]) == dims[x]))
      return args.fail("dims: the seeds must be u32 integers");
  a->seed0 = static_cast<uint32_t>(dims[9]);
  a->seed1 = static_cast<uint32_t>(dims[10]);
  *K = a->M + a->T;
  if (a->T > 0 && a->P < *K + a->T - 1)
    return args.fail("rk has " + std::to_string(a->P) + " rows but " + std::to_string(a->T) + " queries over " +
                     std::to_string(*K) + " keys need P >= K + T - 1 = " + std::to_string(*K + a->T - 1));
  const __int128 d = static_cast<__int128>(a->H) * a->Dh;
  const __int128 cap = __int128{1} << 50;
  const __int128 qN = static_cast<__int128>(a->B) * a->T * d, kN = static_cast<__int128>(a->B) * *K * d;
  if (qN > cap || kN > cap || static_cast<__int128>(a->P) * d > cap) return args.fail("sizes are too large");
  if (!args.need("q", nq, static_cast<int64_t>(qN), "B·T·H·Dh") || !args.need("k", nk, static_cast<int64_t>(kN), "B·K·H·Dh") ||
      !args.need("v", nv, static_cast<int64_t>(kN), "B·K·H·Dh") ||
      !args.need("rk", nr, static_cast<int64_t>(static_cast<__int128>(a->P) * d), "P·H·Dh") ||
      !args.need("u", nu, static_cast<int64_t>(d), "H·Dh") || !args.need("vb", nvb, static_cast<int64_t>(d), "H·Dh"))
    return false;
  if (mask && !args.need("keyMask", nm, a->B * *K, "B·K")) return false;
  a->q = q;
  a->k = k;
  a->v = v;
  a->rk = rk;
  a->u = u;
  a->vb = vb;
  a->keyMask = mask;
  return true;
}

bool outF32(KArgs& args, size_t i, const char* name, int64_t n, const char* label, float** out) {
  int64_t len = 0;
  return args.f32(i, name, out, &len) && args.need(name, len, n, label);
}

}  // namespace

napi_value RelAttentionForwardBinding(napi_env env, napi_callback_info info) {
  KArgs args(env, info, "relAttentionForward", 10);
  if (!args.ok()) return nullptr;
  RelAttnArgs a{};
  int64_t K = 0;
  if (!parseRel(args, &a, &K)) return nullptr;
  float *out, *lse;
  const int64_t d = a.H * a.Dh;
  if (!outF32(args, 8, "out", a.B * a.T * d, "B·T·H·Dh", &out) || !outF32(args, 9, "lse", a.B * a.H * a.T, "B·H·T", &lse))
    return nullptr;
  relAttentionForward(a, out, lse);
  return undefinedValue(env);
}

napi_value RelAttentionBackwardBinding(napi_env env, napi_callback_info info) {
  KArgs args(env, info, "relAttentionBackward", 17);
  if (!args.ok()) return nullptr;
  RelAttnArgs a{};
  int64_t K = 0;
  if (!parseRel(args, &a, &K)) return nullptr;
  const int64_t d = a.H * a.Dh;
  float *out, *lse, *dout, *dq, *dk, *dv, *drk, *du, *dvb;
  if (!outF32(args, 8, "out", a.B * a.T * d, "B·T·H·Dh", &out) || !outF32(args, 9, "lse", a.B * a.H * a.T, "B·H·T", &lse) ||
      !outF32(args, 10, "dout", a.B * a.T * d, "B·T·H·Dh", &dout) || !outF32(args, 11, "dq", a.B * a.T * d, "B·T·H·Dh", &dq) ||
      !outF32(args, 12, "dk", a.B * K * d, "B·K·H·Dh", &dk) || !outF32(args, 13, "dv", a.B * K * d, "B·K·H·Dh", &dv) ||
      !outF32(args, 14, "drk", a.P * d, "P·H·Dh", &drk) || !outF32(args, 15, "du", d, "H·Dh", &du) ||
      !outF32(args, 16, "dvb", d, "H·Dh", &dvb))
    return nullptr;
  relAttentionBackward(a, out, lse, dout, dq, dk, dv, drk, du, dvb);
  return undefinedValue(env);
}

napi_value DropoutMaskBinding(napi_env env, napi_callback_info info) {
  KArgs args(env, info, "dropoutMask", 5);
  if (!args.ok()) return nullptr;
  float* out;
  int64_t len = 0, n = 0, s0 = 0, s1 = 0;
  double p = 0;
  if (!args.f32(0, "out", &out, &len) || !args.i64(1, "n", 0, &n) || !args.f64(2, "p", &p) ||
      !args.i64(3, "seed0", 0, &s0, 4294967295LL) || !args.i64(4, "seed1", 0, &s1, 4294967295LL))
    return nullptr;
  if (!(p >= 0.0 && p < 1.0)) {
    args.fail("the rate must be in [0, 1), got " + std::to_string(p));
    return nullptr;
  }
  if (!args.need("out", len, n, "n")) return nullptr;
  dropoutMask(out, n, p, static_cast<uint32_t>(s0), static_cast<uint32_t>(s1));
  return undefinedValue(env);
}

}  // namespace kiln
