// Fused attention forward/backward (contract and algorithm in kernels-attention.h).
//
// The matrix products of each tile go through the active ISA's GEMM building blocks (gemm.h: packA / packB /
// micro); the per-row softmax work (mask add, row max, exp, rescale, dS) goes through RowOps, compiled three
// times from one generic source (scalar, AVX2) plus hand-written AVX-512 versions, chosen by activeIsa().
#include "kernels-attention.h"

// GCC 12 reports its own _mm512_undefined_ps() placeholders as uninitialised once inlined: silence that for the
// intrinsics header's lines only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

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
#include "thread-pool.h"

namespace kiln {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The row kernels below are compiled without -ftrapping-math (FP exception flags are never read), which lets GCC
// if-convert the clamps and selects of expGeneric and vectorise it for the baseline and AVX2 builds.
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")

// exp(x) in fp32 for x <= 88 (Cephes expf: n = round(x·log2 e), r = x − n·ln 2 in two parts, e^r by a degree-6
// polynomial, times 2^n). x below −87.34 (including −inf) gives exactly 0, NaN stays NaN. Written branch-free so
// it vectorises.
inline __attribute__((always_inline)) float expGeneric(float x) {
  const float xc = x < -87.33654f ? -87.33654f : (x > 88.0f ? 88.0f : x);
  float fn = xc * 1.44269504088896341f + 12582912.0f;  // 1.5·2^23: rounds to nearest, n in the low mantissa bits
  int32_t bits;
  std::memcpy(&bits, &fn, 4);
  const int32_t n = bits - 0x4B400000;
  fn -= 12582912.0f;
  float r = xc - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t e = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, 4);
  const float y = p * scale;
  return x < -87.33654f ? 0.0f : y;
}

// Per-row operations of the softmax tiles (n >= 0 elements).
struct RowOps {
  float (*max)(const float* s, int n);                          // max, NaN ignored; −inf when empty
  // s = exp(s − m); acc[t] += Σ_{j ≡ t mod 16} s[j] (row sums kept as 16 lanes: no horizontal sum per tile)
  void (*expAcc)(float* s, int n, float m, float* acc);
  void (*exp)(float* s, int n, float m);                        // s = exp(s − m)
  void (*scale)(float* x, int n, float a);                      // x *= a
  void (*addMask)(float* s, const float* mask, int64_t inc, int n);  // s[j] += mask[j·inc]
  void (*ds)(float* dp, const float* p, int n, float di, float scale);  // dp = p·(dp − di)·scale
  void (*add)(float* dst, const float* src, int n);             // dst += src
};

inline __attribute__((always_inline)) float gMax(const float* s, int n) {
  float m = kNegInf;
  for (int j = 0; j < n; ++j) m = s[j] > m ? s[j] : m;
  return m;
}
inline __attribute__((always_inline)) void gExp(float* __restrict s, int n, float m) {
  for (int j = 0; j < n; ++j) s[j] = expGeneric(s[j] - m);
}
inline __attribute__((always_inline)) void gExpAcc(float* __restrict s, int n, float m, float* __restrict acc) {
  gExp(s, n, m);
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int t = 0; t < 16; ++t) acc[t] += s[j + t];
  for (int t = 0; j + t < n; ++t) acc[t] += s[j + t];
}
inline __attribute__((always_inline)) void gScale(float* __restrict x, int n, float a) {
  for (int j = 0; j < n; ++j) x[j] *= a;
}
inline __attribute__((always_inline)) void gAddMask(float* __restrict s, const float* __restrict mask, int64_t inc,
                                                    int n) {
  if (inc == 1) {
    for (int j = 0; j < n; ++j) s[j] += mask[j];
  } else {
    for (int j = 0; j < n; ++j) s[j] += mask[j * inc];
  }
}
inline __attribute__((always_inline)) void gDs(float* __restrict dp, const float* __restrict p, int n, float di,
                                               float scale) {
  for (int j = 0; j < n; ++j) dp[j] = p[j] * (dp[j] - di) * scale;
}
inline __attribute__((always_inline)) void gAdd(float* __restrict dst, const float* __restrict src, int n) {
  for (int j = 0; j < n; ++j) dst[j] += src[j];
}

#define KILN_GENERIC_ROW_OPS(S)                                                                              \
  float max##S(const float* s, int n) { return gMax(s, n); }                                                \
  void expAcc##S(float* s, int n, float m, float* acc) { gExpAcc(s, n, m, acc); }                         \
  void exp##S(float* s, int n, float m) { gExp(s, n, m); }                                                  \
  void scale##S(float* x, int n, float a) { gScale(x, n, a); }                                              \
  void addMask##S(float* s, const float* mask, int64_t inc, int n) { gAddMask(s, mask, inc, n); }           \
  void ds##S(float* dp, const float* p, int n, float di, float scale) { gDs(dp, p, n, di, scale); }         \
  void add##S(float* dst, const float* src, int n) { gAdd(dst, src, n); }                                   \
  const RowOps kRowOps##S = {max##S, expAcc##S, exp##S, scale##S, addMask##S, ds##S, add##S};

KILN_GENERIC_ROW_OPS(Scalar)

#pragma GCC push_options
#pragma GCC target("avx2,fma")
KILN_GENERIC_ROW_OPS(Avx2)
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")

inline __mmask16 tailMask(int n) { return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u); }

// expGeneric, 16 lanes at a time (same reduction and polynomial; 2^n applied with scalef, which also gives +inf
// above 88.7 where expGeneric clamps).
inline __m512 exp16(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.33654f);
  const __mmask16 live = _mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ);  // false below lo and for −inf; true for NaN
  const __m512 xc = _mm512_max_ps(lo, x);                          // NaN passes (max returns its second operand)
  const __m512 fn = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(0.693359375f), xc);
  r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_scalef_ps(live, p, fn);
}

float maxAvx512(const float* s, int n) {
  __m512 m0 = _mm512_set1_ps(kNegInf), m1 = m0;
  int j = 0;
  // _mm512_max_ps(x, m) returns m when x is NaN: NaN scores are ignored, as in the reference.
  for (; j + 32 <= n; j += 32) {
    m0 = _mm512_max_ps(_mm512_loadu_ps(s + j), m0);
    m1 = _mm512_max_ps(_mm512_loadu_ps(s + j + 16), m1);
  }
  for (; j < n; j += 16) {
    const __mmask16 k = tailMask(n - j);
    m0 = _mm512_mask_max_ps(m0, k, _mm512_maskz_loadu_ps(k, s + j), m0);
  }
  return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

void expAccAvx512(float* s, int n, float m, float* acc) {
  const __m512 vm = _mm512_set1_ps(m);
  __m512 acc0 = _mm512_loadu_ps(acc), acc1 = _mm512_setzero_ps(), acc2 = acc1, acc3 = acc1;
  int j = 0;
  for (; j + 64 <= n; j += 64) {  // four independent polynomial chains in flight
    const __m512 p0 = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j), vm));
    const __m512 p1 = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j + 16), vm));
    const __m512 p2 = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j + 32), vm));
    const __m512 p3 = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j + 48), vm));
    _mm512_storeu_ps(s + j, p0);
    _mm512_storeu_ps(s + j + 16, p1);
    _mm512_storeu_ps(s + j + 32, p2);
    _mm512_storeu_ps(s + j + 48, p3);
    acc0 = _mm512_add_ps(acc0, p0);
    acc1 = _mm512_add_ps(acc1, p1);
    acc2 = _mm512_add_ps(acc2, p2);
    acc3 = _mm512_add_ps(acc3, p3);
  }
  for (; j < n; j += 16) {
    const __mmask16 k = tailMask(n - j);
    const __m512 p = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), vm)));
    _mm512_mask_storeu_ps(s + j, k, p);
    acc0 = _mm512_add_ps(acc0, p);
  }
  _mm512_storeu_ps(acc, _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

void expAvx512(float* s, int n, float m) {
  const __m512 vm = _mm512_set1_ps(m);
  for (int j = 0; j < n; j += 16) {
    const __mmask16 k = tailMask(n - j);
    _mm512_mask_storeu_ps(s + j, k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), vm)));
  }
}

void scaleAvx512(float* x, int n, float a) {
  const __m512 va = _mm512_set1_ps(a);
  for (int j = 0; j < n; j += 16) {
    const __mmask16 k = tailMask(n - j);
    _mm512_mask_storeu_ps(x + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), va));
  }
}

void addMaskAvx512(float* s, const float* mask, int64_t inc, int n) {
  if (inc != 1) {
    gAddMask(s, mask, inc, n);
    return;
  }
  for (int j = 0; j < n; j += 16) {
    const __mmask16 k = tailMask(n - j);
    _mm512_mask_storeu_ps(s + j, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, s + j), _mm512_maskz_loadu_ps(k, mask + j)));
  }
}

void dsAvx512(float* dp, const float* p, int n, float di, float scale) {
  const __m512 vd = _mm512_set1_ps(di), vs = _mm512_set1_ps(scale);
  for (int j = 0; j < n; j += 16) {
    const __mmask16 k = tailMask(n - j);
    const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, dp + j), vd);
    _mm512_mask_storeu_ps(dp + j, k, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + j), d), vs));
  }
}

void addAvx512(float* dst, const float* src, int n) {
  for (int j = 0; j < n; j += 16) {
    const __mmask16 k = tailMask(n - j);
    _mm512_mask_storeu_ps(dst + j, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, dst + j), _mm512_maskz_loadu_ps(k, src + j)));
  }
}

const RowOps kRowOpsAvx512 = {maxAvx512, expAccAvx512, expAvx512, scaleAvx512, addMaskAvx512, dsAvx512, addAvx512};

#pragma GCC pop_options
#pragma GCC pop_options  // no-trapping-math

const RowOps& rowOpsActive() {
  switch (activeIsa()) {
    case Isa::Avx512: return kRowOpsAvx512;
    case Isa::Avx2: return kRowOpsAvx2;
    default: return kRowOpsScalar;
  }
}

// A growable 64-byte aligned per-thread buffer, carved into regions with take().
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  void reserve(size_t floats) {
    if (floats > cap_) {
      std::free(p_);
      const size_t bytes = (floats * sizeof(float) + 63) & ~static_cast<size_t>(63);
      p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (p_ == nullptr) std::abort();
      cap_ = floats;
    }
    used_ = 0;
  }
  float* take(size_t floats) {
    float* r = p_ + used_;
    used_ += (floats + 15) & ~static_cast<size_t>(15);
    return r;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
  size_t used_ = 0;
};

thread_local Scratch tlsScratch;

inline int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Floats taken by Scratch::take(n) (rounded to 16).
inline size_t slot(int64_t n) { return static_cast<size_t>(roundUp(std::max<int64_t>(n, 0), 16)); }

// Causal tiles: the last key (exclusive bound, relative to the tile's first key j0) that any of the stacked rows
// [r0, r1) sees, rows r = hh·nq + t being query i0 + t; score blocks at or past it are never read, so their
// products are skipped.
inline int64_t visibleEnd(int64_t r0, int64_t r1, int64_t nq, int64_t i0, int64_t shift, int64_t j0) {
  const int64_t tMax = (r0 / nq != (r1 - 1) / nq) ? nq - 1 : (r1 - 1) % nq;
  return i0 + tMax + shift + 1 - j0;
}

// Tile geometry: rows = rep·nq stacked query rows (nq per head of the group), bk keys per tile.
struct Tiling {
  int64_t nq;
  int64_t bk;
};

Tiling chooseTiling(const GemmKernel& kr, const AttentionArgs& a, int64_t keyTarget) {
  const int64_t rep = a.H / a.Hkv;
  const int64_t rowTarget = kr.mr * ceilDiv(64, kr.mr);
  Tiling t;
  t.nq = std::max<int64_t>(1, std::min(a.Tq, rowTarget / rep));
  t.bk = std::max<int64_t>(kr.nr, kr.nr * ((keyTarget + kr.nr / 2) / kr.nr));
  return t;
}

// Runs task(t) for t in [0, n) on the pool with dynamic (first come, first served) scheduling.
template <class F>
void runTasks(int64_t n, bool parallel, F&& task) {
  if (n <= 0) return;
  const int threads = parallel ? static_cast<int>(std::min<int64_t>(numThreads(), n)) : 1;
  if (threads <= 1) {
    for (int64_t t = 0; t < n; ++t) task(t);
    return;
  }
  std::atomic<int64_t> next{0};
  runTeam(threads, [&](const Team&) {
    for (;;) {
      const int64_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= n) break;
      task(t);
    }
  });
}

// Worth more than one thread: about 2 MFLOP of tile products.
bool worthParallel(const AttentionArgs& a) {
  const double flop = 2.0 * a.B * a.H * static_cast<double>(a.Tq) * a.Tk * (a.D + a.Dv);
  return flop >= 2e6;
}

// A 64-byte aligned buffer owned by one kernel call (pre-packed panels shared by that call's tasks).
class Buffer {
 public:
  explicit Buffer(size_t floats) {
    const size_t bytes = (std::max<size_t>(floats, 16) * sizeof(float) + 63) & ~static_cast<size_t>(63);
    p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (p_ == nullptr) std::abort();
  }
  ~Buffer() { std::free(p_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* get() const { return p_; }

 private:
  float* p_;
};

// Pre-packed panels are built for a batch of (batch, kv head) groups at a time, at most ~32 Mi floats (128 MiB)
// per batch unless a single group needs more; KILN_ATTENTION_PACK_FLOATS overrides the bound (read per call).
int64_t groupsPerBatch(int64_t groups, int64_t floatsPerGroup) {
  int64_t cap = int64_t{32} << 20;
  if (const char* env = std::getenv("KILN_ATTENTION_PACK_FLOATS")) {
    const long long v = std::atoll(env);
    if (v >= 1) cap = static_cast<int64_t>(v);
  }
  return std::max<int64_t>(1, std::min(groups, cap / std::max<int64_t>(1, floatsPerGroup)));
}

// ── forward ──

struct FwdCtx {
  const AttentionArgs& a;
  const GemmKernel& kr;
  const RowOps& ops;
  Tiling tl;
  float* out;
  float* lse;
  // K as Kᵀ B-panels and V as B-panels, per (group of the batch, key block): kStride / vStride floats each.
  const float* kPack;
  const float* vPack;
  int64_t kStride, vStride, nkb, g0;
};

void forwardTask(const FwdCtx& c, int64_t b, int64_t g, int64_t i0) {
  const AttentionArgs& a = c.a;
  const GemmKernel& kr = c.kr;
  const RowOps& ops = c.ops;
  const int64_t D = a.D, Dv = a.Dv, rep = a.H / a.Hkv;
  const int64_t nq = std::min(c.tl.nq, a.Tq - i0);
  const int64_t R = rep * nq, bk = c.tl.bk;
  const int64_t mr = kr.mr, nr = kr.nr;
  const int64_t Rp = roundUp(R, mr), bkp = roundUp(bk, nr);
  const int64_t shift = a.Tk - a.Tq;

  Scratch& sc = tlsScratch;
  sc.reserve(slot(R * D) + slot(Rp * D) + slot(R * bkp) + slot(Rp * bkp) + slot(R * Dv) + slot(R) + slot(16 * R));
  float* Qc = sc.take(R * D);
  float* Qp = sc.take(Rp * D);
  float* S = sc.take(R * bkp);
  float* Pp = sc.take(Rp * bkp);
  float* O = sc.take(R * Dv);
  float* m = sc.take(R);
  float* l = sc.take(16 * R);  // row sums of exp(s − m), 16 partial lanes per row

  // Row r = (head hh of the group, query i0 + t) with r = hh·nq + t.
  for (int64_t hh = 0; hh < rep; ++hh) {
    const float* src = a.q + ((b * a.H + g * rep + hh) * a.Tq + i0) * D;
    std::memcpy(Qc + hh * nq * D, src, static_cast<size_t>(nq * D) * sizeof(float));
  }
  kr.packA(R, D, Qc, D, 1, Qp);
  std::memset(O, 0, static_cast<size_t>(R * Dv) * sizeof(float));
  for (int64_t r = 0; r < R; ++r) {
    m[r] = kNegInf;
    std::memset(l + r * 16, 0, 16 * sizeof(float));
  }

  const int64_t local = b * a.Hkv + g - c.g0;
  const int64_t kEnd = a.causal ? std::max<int64_t>(0, std::min(a.Tk, i0 + nq + shift)) : a.Tk;
  for (int64_t j0 = 0; j0 < kEnd; j0 += bk) {
    const int64_t nk = std::min(bk, kEnd - j0);
    const float* Kp = c.kPack + (local * c.nkb + j0 / bk) * c.kStride;
    const float* Vp = c.vPack + (local * c.nkb + j0 / bk) * c.vStride;
    const int64_t nkPacked = std::min(bk, a.Tk - j0);  // V panels were packed with this many keys
    for (int64_t ir = 0; ir < R; ir += mr) {
      const int64_t jv = a.causal ? visibleEnd(ir, std::min(R, ir + mr), nq, i0, shift, j0) : nk;
      for (int64_t jr = 0; jr < nk && jr < jv; jr += nr)
        kr.micro(D, Qp + ir * D, Kp + jr * D, S + ir * bkp + jr, bkp, static_cast<int>(std::min(mr, R - ir)),
                 static_cast<int>(std::min(nr, nk - jr)), a.scale, 0.0f);
    }
    for (int64_t r = 0; r < R; ++r) {
      const int64_t hh = r / nq, i = i0 + r % nq;
      float* s = S + r * bkp;
      const int64_t jl = a.causal ? std::min(nk, i + shift + 1 - j0) : nk;
      if (jl <= 0) {
        std::memset(s, 0, static_cast<size_t>(nkPacked) * sizeof(float));
        continue;
      }
      if (a.mask)
        ops.addMask(s, a.mask + b * a.msB + (g * rep + hh) * a.msH + i * a.msQ + j0 * a.msK, a.msK,
                    static_cast<int>(jl));
      const float rowMax = ops.max(s, static_cast<int>(jl));
      if (rowMax == kNegInf) {  // every key of this tile is blocked for this row
        std::memset(s, 0, static_cast<size_t>(nkPacked) * sizeof(float));
        continue;
      }
      if (rowMax > m[r]) {
        const float alpha = static_cast<float>(std::exp(static_cast<double>(m[r]) - rowMax));  // 0 when m = −inf
        ops.scale(l + r * 16, 16, alpha);
        ops.scale(O + r * Dv, static_cast<int>(Dv), alpha);
        m[r] = rowMax;
      }
      ops.expAcc(s, static_cast<int>(jl), m[r], l + r * 16);
      if (jl < nkPacked) std::memset(s + jl, 0, static_cast<size_t>(nkPacked - jl) * sizeof(float));
    }
    // O += P V over the keys V was packed with (P is 0 past the visible ones)
    kr.packA(R, nkPacked, S, bkp, 1, Pp);
    for (int64_t ir = 0; ir < R; ir += mr)
      for (int64_t jr = 0; jr < Dv; jr += nr)
        kr.micro(nkPacked, Pp + ir * nkPacked, Vp + jr * nkPacked, O + ir * Dv + jr, Dv,
                 static_cast<int>(std::min(mr, R - ir)), static_cast<int>(std::min(nr, Dv - jr)), 1.0f, 1.0f);
  }

  for (int64_t r = 0; r < R; ++r) {
    const int64_t hh = r / nq, i = i0 + r % nq;
    const int64_t row = (b * a.H + g * rep + hh) * a.Tq + i;
    float* o = c.out + row * Dv;
    float lr = 0.0f;
    for (int t = 0; t < 16; ++t) lr += l[r * 16 + t];
    if (lr == 0.0f) {
      std::memset(o, 0, static_cast<size_t>(Dv) * sizeof(float));
      c.lse[row] = kNegInf;
    } else {
      const float inv = 1.0f / lr;
      const float* src = O + r * Dv;
      for (int64_t e = 0; e < Dv; ++e) o[e] = src[e] * inv;
      c.lse[row] = static_cast<float>(static_cast<double>(m[r]) + std::log(static_cast<double>(lr)));
    }
  }
}

// ── backward ──

// Per (group of the batch, query block): the block's stacked rows pre-packed for every product that reads them.
struct RowPack {
  int64_t qA, qB, dA, dB, L, Di, stride;  // offsets of Q as A / B panels, dout as A / B panels, lse, D_i; total
};

RowPack rowPackLayout(const GemmKernel& kr, const AttentionArgs& a, int64_t RM) {
  const int64_t Rp = roundUp(RM, kr.mr), Dp = roundUp(a.D, kr.nr), Dvp = roundUp(a.Dv, kr.nr);
  RowPack p;
  p.qA = 0;
  p.qB = p.qA + static_cast<int64_t>(slot(Rp * a.D));
  p.dA = p.qB + static_cast<int64_t>(slot(RM * Dp));
  p.dB = p.dA + static_cast<int64_t>(slot(Rp * a.Dv));
  p.L = p.dB + static_cast<int64_t>(slot(RM * Dvp));
  p.Di = p.L + static_cast<int64_t>(slot(RM));
  p.stride = p.Di + static_cast<int64_t>(slot(RM));
  return p;
}

struct BwdCtx {
  const AttentionArgs& a;
  const GemmKernel& kr;
  const RowOps& ops;
  Tiling tl;
  const float* lse;
  const float* dout;
  const float* di;  // rowsum(dO ∘ O) [B, H, Tq]
  float* dk;
  float* dv;
  RowPack rp;
  const float* rows;  // RowPack blocks per (group of the batch, query block)
  int64_t nqb, g0;
};

// Packs the stacked rows of query block qb of group (b, g) into dst (layout c.rp).
void packRowsTask(const BwdCtx& c, int64_t b, int64_t g, int64_t qb, float* dst) {
  const AttentionArgs& a = c.a;
  const GemmKernel& kr = c.kr;
  const int64_t D = a.D, Dv = a.Dv, rep = a.H / a.Hkv;
  const int64_t i0 = qb * c.tl.nq, nq = std::min(c.tl.nq, a.Tq - i0), R = rep * nq;
  Scratch& sc = tlsScratch;
  sc.reserve(slot(R * D) + slot(R * Dv));
  float* Qc = sc.take(R * D);
  float* dOc = sc.take(R * Dv);
  for (int64_t hh = 0; hh < rep; ++hh) {
    const int64_t row0 = (b * a.H + g * rep + hh) * a.Tq + i0;
    std::memcpy(Qc + hh * nq * D, a.q + row0 * D, static_cast<size_t>(nq * D) * sizeof(float));
    std::memcpy(dOc + hh * nq * Dv, c.dout + row0 * Dv, static_cast<size_t>(nq * Dv) * sizeof(float));
    std::memcpy(dst + c.rp.L + hh * nq, c.lse + row0, static_cast<size_t>(nq) * sizeof(float));
    std::memcpy(dst + c.rp.Di + hh * nq, c.di + row0, static_cast<size_t>(nq) * sizeof(float));
  }
  kr.packA(R, D, Qc, D, 1, dst + c.rp.qA);
  kr.packB(R, D, Qc, D, 1, dst + c.rp.qB);
  kr.packA(R, Dv, dOc, Dv, 1, dst + c.rp.dA);
  kr.packB(R, Dv, dOc, Dv, 1, dst + c.rp.dB);
}

// Keys [k0, k1) of group (b, g): writes those rows of dk/dv and adds the group's dq contributions into dqT
// (laid out like dq).
void backwardTask(const BwdCtx& c, int64_t b, int64_t g, int64_t k0, int64_t k1, float* dqT) {
  const AttentionArgs& a = c.a;
  const GemmKernel& kr = c.kr;
  const RowOps& ops = c.ops;
  const int64_t D = a.D, Dv = a.Dv, rep = a.H / a.Hkv;
  const int64_t nqMax = c.tl.nq, bk = c.tl.bk;
  const int64_t RM = rep * nqMax;
  const int64_t mr = kr.mr, nr = kr.nr;
  const int64_t Rp = roundUp(RM, mr), bkp = roundUp(bk, nr), bkm = roundUp(bk, mr);
  const int64_t Dp = roundUp(D, nr);
  const int64_t shift = a.Tk - a.Tq;

  Scratch& sc = tlsScratch;
  sc.reserve(2 * slot(RM * bkp) + 2 * slot(bkm * RM) + slot(Rp * bkp) + slot(RM * D) + slot(D * bkp) +
             slot(Dv * bkp) + slot(bkp * Dp));
  float* S = sc.take(RM * bkp);     // scores, then P [R, bk]
  float* dP = sc.take(RM * bkp);    // dP, then dS [R, bk]
  float* PtA = sc.take(bkm * RM);   // Pᵀ as A panels
  float* dStA = sc.take(bkm * RM);  // dSᵀ as A panels
  float* dSA = sc.take(Rp * bkp);   // dS as A panels
  float* dQc = sc.take(RM * D);     // dS·K for the rows [R, D]
  float* KtB = sc.take(D * bkp);    // Kᵀ as B panels
  float* VtB = sc.take(Dv * bkp);   // Vᵀ as B panels
  float* KB = sc.take(bkp * Dp);    // K as B panels

  const int64_t kvRow = (b * a.Hkv + g) * a.Tk;
  const float* groupRows = c.rows + (b * a.Hkv + g - c.g0) * c.nqb * c.rp.stride;
  std::memset(c.dk + (kvRow + k0) * D, 0, static_cast<size_t>((k1 - k0) * D) * sizeof(float));
  std::memset(c.dv + (kvRow + k0) * Dv, 0, static_cast<size_t>((k1 - k0) * Dv) * sizeof(float));

  for (int64_t j0 = k0; j0 < k1; j0 += bk) {
    const int64_t nk = std::min(bk, k1 - j0);
    const float* kp = a.k + (kvRow + j0) * D;
    const float* vp = a.v + (kvRow + j0) * Dv;
    float* dkp = c.dk + (kvRow + j0) * D;
    float* dvp = c.dv + (kvRow + j0) * Dv;
    kr.packB(D, nk, kp, 1, D, KtB);
    kr.packB(Dv, nk, vp, 1, Dv, VtB);
    kr.packB(nk, D, kp, D, 1, KB);
    // causal: query blocks ending before the first query that sees key j0 are skipped
    const int64_t qbStart = a.causal ? std::max<int64_t>(0, j0 - shift) / nqMax : 0;
    for (int64_t qb = qbStart; qb < c.nqb; ++qb) {
      const int64_t i0 = qb * nqMax, nq = std::min(nqMax, a.Tq - i0);
      const int64_t R = rep * nq;
      const float* rows = groupRows + qb * c.rp.stride;
      const float* Lr = rows + c.rp.L;
      const float* Dr = rows + c.rp.Di;
      // S = scale · Q Kᵀ, then P = exp(S + mask − lse) (0 where blocked, past the diagonal or on dead rows)
      for (int64_t ir = 0; ir < R; ir += mr) {
        const int64_t jv = a.causal ? visibleEnd(ir, std::min(R, ir + mr), nq, i0, shift, j0) : nk;
        for (int64_t jr = 0; jr < nk && jr < jv; jr += nr)
          kr.micro(D, rows + c.rp.qA + ir * D, KtB + jr * D, S + ir * bkp + jr, bkp,
                   static_cast<int>(std::min(mr, R - ir)), static_cast<int>(std::min(nr, nk - jr)), a.scale, 0.0f);
      }
      for (int64_t r = 0; r < R; ++r) {
        const int64_t hh = r / nq, i = i0 + r % nq;
        float* s = S + r * bkp;
        const int64_t jl = a.causal ? std::min(nk, i + shift + 1 - j0) : nk;
        if (jl <= 0 || Lr[r] == kNegInf) {
          std::memset(s, 0, static_cast<size_t>(nk) * sizeof(float));
          continue;
        }
        if (a.mask)
          ops.addMask(s, a.mask + b * a.msB + (g * rep + hh) * a.msH + i * a.msQ + j0 * a.msK, a.msK,
                      static_cast<int>(jl));
        ops.exp(s, static_cast<int>(jl), Lr[r]);
        if (jl < nk) std::memset(s + jl, 0, static_cast<size_t>(nk - jl) * sizeof(float));
      }
      // dP = dO Vᵀ; dS = P ∘ (dP − D_i) · scale
      for (int64_t ir = 0; ir < R; ir += mr) {
        const int64_t jv = a.causal ? visibleEnd(ir, std::min(R, ir + mr), nq, i0, shift, j0) : nk;
        for (int64_t jr = 0; jr < nk && jr < jv; jr += nr)
          kr.micro(Dv, rows + c.rp.dA + ir * Dv, VtB + jr * Dv, dP + ir * bkp + jr, bkp,
                   static_cast<int>(std::min(mr, R - ir)), static_cast<int>(std::min(nr, nk - jr)), 1.0f, 0.0f);
      }
      for (int64_t r = 0; r < R; ++r) {  // dS is exactly 0 past the visible keys and on dead rows
        const int64_t i = i0 + r % nq;
        int64_t jl = a.causal ? std::min(nk, i + shift + 1 - j0) : nk;
        if (Lr[r] == kNegInf || jl < 0) jl = 0;
        float* d = dP + r * bkp;
        if (jl > 0) ops.ds(d, S + r * bkp, static_cast<int>(jl), Dr[r], a.scale);
        if (jl < nk) std::memset(d + jl, 0, static_cast<size_t>(nk - jl) * sizeof(float));
      }
      // dV += Pᵀ dO
      kr.packA(nk, R, S, 1, bkp, PtA);
      for (int64_t ir = 0; ir < nk; ir += mr)
        for (int64_t jr = 0; jr < Dv; jr += nr)
          kr.micro(R, PtA + ir * R, rows + c.rp.dB + jr * R, dvp + ir * Dv + jr, Dv,
                   static_cast<int>(std::min(mr, nk - ir)), static_cast<int>(std::min(nr, Dv - jr)), 1.0f, 1.0f);
      // dK += dSᵀ Q
      kr.packA(nk, R, dP, 1, bkp, dStA);
      for (int64_t ir = 0; ir < nk; ir += mr)
        for (int64_t jr = 0; jr < D; jr += nr)
          kr.micro(R, dStA + ir * R, rows + c.rp.qB + jr * R, dkp + ir * D + jr, D,
                   static_cast<int>(std::min(mr, nk - ir)), static_cast<int>(std::min(nr, D - jr)), 1.0f, 1.0f);
      // dQ += dS K (straight into dq when the rows are one head's consecutive rows)
      kr.packA(R, nk, dP, bkp, 1, dSA);
      float* dqDirect = rep == 1 ? dqT + ((b * a.H + g) * a.Tq + i0) * D : nullptr;
      for (int64_t ir = 0; ir < R; ir += mr)
        for (int64_t jr = 0; jr < D; jr += nr)
          kr.micro(nk, dSA + ir * nk, KB + jr * nk, (dqDirect ? dqDirect : dQc) + ir * D + jr, D,
                   static_cast<int>(std::min(mr, R - ir)), static_cast<int>(std::min(nr, D - jr)), 1.0f,
                   dqDirect ? 1.0f : 0.0f);
      if (!dqDirect)
        for (int64_t hh = 0; hh < rep; ++hh) {
          float* dst = dqT + ((b * a.H + g * rep + hh) * a.Tq + i0) * D;
          ops.add(dst, dQc + hh * nq * D, static_cast<int>(nq * D));
        }
    }
  }
}

}  // namespace

void attentionForward(const AttentionArgs& a, float* out, float* lse) {
  if (a.B * a.H * a.Tq == 0) return;  // (Tk = 0 needs no special case: every row ends with l = 0)
  const GemmKernel& kr = gemmKernelActive();
  const Tiling tl = chooseTiling(kr, a, 64);
  const int64_t groups = a.B * a.Hkv, nqb = ceilDiv(a.Tq, tl.nq), nkb = ceilDiv(a.Tk, tl.bk);
  const int64_t bkp = roundUp(tl.bk, kr.nr);
  const int64_t kStride = static_cast<int64_t>(slot(a.D * bkp));
  const int64_t vStride = static_cast<int64_t>(slot(tl.bk * roundUp(a.Dv, kr.nr)));
  const int64_t perGroup = nkb * (kStride + vStride);
  const int64_t batch = groupsPerBatch(groups, perGroup);
  const bool parallel = worthParallel(a);
  Buffer packs(static_cast<size_t>(batch * perGroup));
  for (int64_t g0 = 0; g0 < groups; g0 += batch) {
    const int64_t ng = std::min(batch, groups - g0);
    float* kPack = packs.get();
    float* vPack = packs.get() + ng * nkb * kStride;
    // K and V panels once per (group, key block), shared by every query block.
    runTasks(ng * nkb, parallel, [&](int64_t t) {
      const int64_t gl = t / nkb, kb = t % nkb, j0 = kb * tl.bk, nk = std::min(tl.bk, a.Tk - j0);
      const int64_t row = (g0 + gl) * a.Tk + j0;
      kr.packB(a.D, nk, a.k + row * a.D, 1, a.D, kPack + t * kStride);
      kr.packB(nk, a.Dv, a.v + row * a.Dv, a.Dv, 1, vPack + t * vStride);
    });
    const FwdCtx c{a, kr, rowOpsActive(), tl, out, lse, kPack, vPack, kStride, vStride, nkb, g0};
    // Later query blocks see more keys under a causal mask: start those first.
    runTasks(ng * nqb, parallel, [&](int64_t t) {
      const int64_t qb = nqb - 1 - t / ng, gi = g0 + t % ng;
      forwardTask(c, gi / a.Hkv, gi % a.Hkv, qb * tl.nq);
    });
  }
}

void attentionBackward(const AttentionArgs& a, const float* out, const float* lse, const float* dout, float* dq,
                       float* dk, float* dv) {
  const int64_t qRows = a.B * a.H * a.Tq;
  const int64_t dqSize = qRows * a.D;
  if (a.B == 0 || a.H == 0) {
    std::memset(dk, 0, static_cast<size_t>(a.B * a.Hkv * a.Tk * a.D) * sizeof(float));
    std::memset(dv, 0, static_cast<size_t>(a.B * a.Hkv * a.Tk * a.Dv) * sizeof(float));
    return;
  }
  if (a.Tk == 0 || a.Tq == 0) {
    std::memset(dq, 0, static_cast<size_t>(dqSize) * sizeof(float));
    std::memset(dk, 0, static_cast<size_t>(a.B * a.Hkv * a.Tk * a.D) * sizeof(float));
    std::memset(dv, 0, static_cast<size_t>(a.B * a.Hkv * a.Tk * a.Dv) * sizeof(float));
    return;
  }
  const bool parallel = worthParallel(a);
  // D_i = rowsum(dO ∘ O), in fp64 like the reference (it is subtracted from dP: cancellation-prone).
  std::vector<float> di(static_cast<size_t>(qRows));
  parallelFor(qRows, 256, parallel ? numThreads() : 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* o = out + r * a.Dv;
      const float* g = dout + r * a.Dv;
      double s = 0;
      for (int64_t e = 0; e < a.Dv; ++e) s += static_cast<double>(o[e]) * g[e];
      di[static_cast<size_t>(r)] = static_cast<float>(s);
    }
  });

  const GemmKernel& kr = gemmKernelActive();
  const Tiling tl = chooseTiling(kr, a, 96);
  const int64_t groups = a.B * a.Hkv, nkb = ceilDiv(a.Tk, tl.bk), nqb = ceilDiv(a.Tq, tl.nq);
  const int threads = parallel ? numThreads() : 1;
  // Key chunks per group: one (the task owns its group's dq rows) unless groups are too few to balance the
  // threads; then each chunk adds into its own dq-shaped partial buffer (all of them together bounded to
  // ~64 MiB), summed at the end.
  int64_t chunks = 1;
  if (threads > 1 && groups % threads != 0 && groups < 4 * threads) {
    chunks = std::min(nkb, ceilDiv(4 * threads, groups));
    chunks = std::max<int64_t>(1, std::min<int64_t>(chunks, (int64_t{16} << 20) / std::max<int64_t>(dqSize, 1)));
  }
  const int64_t chunkKeys = ceilDiv(nkb, chunks) * tl.bk;
  chunks = ceilDiv(a.Tk, chunkKeys);
  std::vector<float> partial;
  if (chunks == 1) {
    std::memset(dq, 0, static_cast<size_t>(dqSize) * sizeof(float));
  } else {
    partial.assign(static_cast<size_t>(chunks * dqSize), 0.0f);
  }
  const RowPack rp = rowPackLayout(kr, a, (a.H / a.Hkv) * tl.nq);
  const int64_t batch = groupsPerBatch(groups, nqb * rp.stride);
  Buffer rowsBuf(static_cast<size_t>(batch * nqb * rp.stride));
  for (int64_t g0 = 0; g0 < groups; g0 += batch) {
    const int64_t ng = std::min(batch, groups - g0);
    const BwdCtx c{a, kr, rowOpsActive(), tl, lse, dout, di.data(), dk, dv, rp, rowsBuf.get(), nqb, g0};
    // Q and dout rows once per (group, query block), shared by every key block.
    runTasks(ng * nqb, parallel, [&](int64_t t) {
      const int64_t gi = g0 + t / nqb;
      packRowsTask(c, gi / a.Hkv, gi % a.Hkv, t % nqb, rowsBuf.get() + t * rp.stride);
    });
    // Chunks of earlier keys see more queries under a causal mask: start those first.
    runTasks(ng * chunks, parallel, [&](int64_t t) {
      const int64_t ch = t / ng, gi = g0 + t % ng;
      const int64_t k0 = ch * chunkKeys, k1 = std::min(a.Tk, k0 + chunkKeys);
      backwardTask(c, gi / a.Hkv, gi % a.Hkv, k0, k1, chunks == 1 ? dq : partial.data() + ch * dqSize);
    });
  }
  if (chunks > 1) {
    parallelFor(ceilDiv(dqSize, 4096), 4, threads, [&](int64_t c0, int64_t c1) {
      const int64_t e0 = c0 * 4096, e1 = std::min(dqSize, c1 * 4096);
      for (int64_t e = e0; e < e1; ++e) {
        float s = 0;
        for (int64_t ch = 0; ch < chunks; ++ch) s += partial[static_cast<size_t>(ch * dqSize + e)];
        dq[e] = s;
      }
    });
  }
}

}  // namespace kiln

// ── bindings ──

namespace kiln {

namespace {

struct AttnParse {
  AttentionArgs a{};
  F32View q{}, k{}, v{}, mask{};
};

// Reads q, k, v, the mask view (args 0..8) and the sizes, scale and causal flag starting at argument `dims`;
// checks every extent. A mask of length 0 means "no mask".
bool parseAttention(Args& args, size_t dims, AttnParse* p) {
  AttentionArgs& a = p->a;
  int64_t maskOff = 0;
  constexpr int64_t kMin = -((int64_t{1} << 53) - 1);
  if (!args.f32Array(0, "q", &p->q) || !args.f32Array(1, "k", &p->k) || !args.f32Array(2, "v", &p->v) ||
      !args.f32Array(3, "mask", &p->mask) || !args.i64(4, "maskOff", 0, &maskOff) ||
      !args.i64(5, "msB", kMin, &a.msB) || !args.i64(6, "msH", kMin, &a.msH) || !args.i64(7, "msQ", kMin, &a.msQ) ||
      !args.i64(8, "msK", kMin, &a.msK) || !args.i64(dims, "B", 0, &a.B) || !args.i64(dims + 1, "H", 0, &a.H) ||
      !args.i64(dims + 2, "Hkv", 1, &a.Hkv) || !args.i64(dims + 3, "Tq", 0, &a.Tq) ||
      !args.i64(dims + 4, "Tk", 0, &a.Tk) || !args.i64(dims + 5, "D", 0, &a.D) || !args.i64(dims + 6, "Dv", 0, &a.Dv) ||
      !args.f32(dims + 7, "scale", &a.scale) || !args.boolean(dims + 8, "causal", &a.causal))
    return false;
  if (a.H % a.Hkv != 0)
    return args.fail("H = " + std::to_string(a.H) + " query heads is not a multiple of Hkv = " +
                     std::to_string(a.Hkv) + " key/value heads; grouped-query attention needs Hkv to divide H");
  const __int128 cap = __int128{1} << 53;
  auto tooBig = [&](__int128 n) { return n > cap; };
  const __int128 qN = static_cast<__int128>(a.B) * a.H * a.Tq * a.D;
  const __int128 kN = static_cast<__int128>(a.B) * a.Hkv * a.Tk * a.D;
  const __int128 vN = static_cast<__int128>(a.B) * a.Hkv * a.Tk * a.Dv;
  if (tooBig(qN) || tooBig(kN) || tooBig(vN) || tooBig(static_cast<__int128>(a.B) * a.H * a.Tq * a.Dv))
    return args.fail("sizes are too large (more than 2^53 elements)");
  if (!checkExtent(args, "q", p->q, 0, static_cast<int64_t>(qN)) ||
      !checkExtent(args, "k", p->k, 0, static_cast<int64_t>(kN)) ||
      !checkExtent(args, "v", p->v, 0, static_cast<int64_t>(vN)))
    return false;
  a.q = p->q.data;
  a.k = p->k.data;
  a.v = p->v.data;
  a.mask = nullptr;
  const bool empty = a.B == 0 || a.H == 0 || a.Tq == 0 || a.Tk == 0;
  if (p->mask.length > 0 && !empty) {
    // Smallest and largest element the strided view reaches.
    __int128 lo = maskOff, hi = maskOff;
    const int64_t sizes[4] = {a.B, a.H, a.Tq, a.Tk};
    const int64_t strides[4] = {a.msB, a.msH, a.msQ, a.msK};
    for (int d = 0; d < 4; ++d) {
      const __int128 span = static_cast<__int128>(sizes[d] - 1) * strides[d];
      (span < 0 ? lo : hi) += span;
    }
    if (lo < 0 || hi >= p->mask.length)
      return args.fail("the mask view (offset " + std::to_string(maskOff) + ", strides [" + std::to_string(a.msB) +
                       ", " + std::to_string(a.msH) + ", " + std::to_string(a.msQ) + ", " + std::to_string(a.msK) +
                       "] over [B, H, Tq, Tk]) reaches outside its Float32Array of length " +
                       std::to_string(p->mask.length) + "; broadcast it to [B, H, Tq, Tk] with stride-0 dims");
    a.mask = p->mask.data + maskOff;
  }
  return true;
}

bool outArray(Args& args, size_t i, const char* name, __int128 n, float** out) {
  F32View view{};
  if (!args.f32Array(i, name, &view) || !checkExtent(args, name, view, 0, static_cast<int64_t>(n))) return false;
  *out = view.data;
  return true;
}

}  // namespace

napi_value AttentionForwardBinding(napi_env env, napi_callback_info info) {
  Args args(env, info, "attentionForward", 20);
  if (!args.ok()) return nullptr;
  AttnParse p;
  if (!parseAttention(args, 9, &p)) return nullptr;
  const AttentionArgs& a = p.a;
  float *out = nullptr, *lse = nullptr;
  if (!outArray(args, 18, "out", static_cast<__int128>(a.B) * a.H * a.Tq * a.Dv, &out) ||
      !outArray(args, 19, "lse", static_cast<__int128>(a.B) * a.H * a.Tq, &lse))
    return nullptr;
  attentionForward(a, out, lse);
  return undefinedValue(env);
}

napi_value AttentionBackwardBinding(napi_env env, napi_callback_info info) {
  Args args(env, info, "attentionBackward", 24);
  if (!args.ok()) return nullptr;
  AttnParse p;
  if (!parseAttention(args, 12, &p)) return nullptr;
  const AttentionArgs& a = p.a;
  const __int128 oN = static_cast<__int128>(a.B) * a.H * a.Tq * a.Dv;
  F32View out{}, lse{}, dout{};
  float *dq = nullptr, *dk = nullptr, *dv = nullptr;
  if (!args.f32Array(9, "out", &out) || !checkExtent(args, "out", out, 0, static_cast<int64_t>(oN)) ||
      !args.f32Array(10, "lse", &lse) ||
      !checkExtent(args, "lse", lse, 0, static_cast<int64_t>(static_cast<__int128>(a.B) * a.H * a.Tq)) ||
      !args.f32Array(11, "dout", &dout) || !checkExtent(args, "dout", dout, 0, static_cast<int64_t>(oN)) ||
      !outArray(args, 21, "dq", static_cast<__int128>(a.B) * a.H * a.Tq * a.D, &dq) ||
      !outArray(args, 22, "dk", static_cast<__int128>(a.B) * a.Hkv * a.Tk * a.D, &dk) ||
      !outArray(args, 23, "dv", static_cast<__int128>(a.B) * a.Hkv * a.Tk * a.Dv, &dv))
    return nullptr;
  attentionBackward(a, out.data, lse.data, dout.data, dq, dk, dv);
  return undefinedValue(env);
}

}  // namespace kiln
