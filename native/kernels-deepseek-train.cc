// DeepSeek-V3 training kernels (contract in kernels-deepseek-train.h): the generic body compiled for the baseline,
// AVX2 and AVX-512 (kernels-deepseek-train-generic.h over kernels-simd.h's traits), chosen by activeIsa(), run over
// rows on the pool; plus the N-API bindings, which validate every size, index and array extent before any work.
#include "kernels-deepseek-train.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "cpu.h"
#include "kernels-args.h"
#include "thread-pool.h"

namespace kiln {

namespace dst {
// kernels-simd.h declares this enum once per translation unit; declared here so every ISA namespace below sees it.
enum Cmp { kGT, kGE, kLT, kLE, kEQ, kNE, kUNORD };
}  // namespace dst
#define KILN_SIMD_TRAITS_ONCE

namespace dst {
namespace scalar {
#define KILN_SIMD_SCALAR
#include "kernels-simd.h"
#undef KILN_SIMD_SCALAR
#include "kernels-deepseek-train-generic.h"
}  // namespace scalar
}  // namespace dst

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace dst {
namespace avx2 {
#define KILN_SIMD_AVX2
#include "kernels-simd.h"
#undef KILN_SIMD_AVX2
#include "kernels-deepseek-train-generic.h"
}  // namespace avx2
}  // namespace dst
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // the intrinsics' own _mm256_undefined_ps
namespace dst {
namespace avx512 {
#define KILN_SIMD_AVX512
#include "kernels-simd.h"
#undef KILN_SIMD_AVX512
#include "kernels-deepseek-train-generic.h"
}  // namespace avx512
}  // namespace dst
#pragma GCC diagnostic pop
#pragma GCC pop_options

namespace {
// Elements of work per pool chunk: below this a call stays on the calling thread.
constexpr int64_t kGrainWork = 32768;
int64_t grainRows(int64_t perRow) { return std::max<int64_t>(1, kGrainWork / std::max<int64_t>(perRow, 1)); }
}  // namespace

void crossEntropyInPlace(float* x, int64_t rows, int64_t cols, const int32_t* targets, int64_t ignoreIndex, float* loss) {
  const Isa isa = activeIsa();
  parallelFor(rows, grainRows(cols), numThreads(), [&](int64_t r0, int64_t r1) {
    if (isa == Isa::Avx512) dst::avx512::ceRows(x, cols, targets, ignoreIndex, loss, r0, r1);
    else if (isa == Isa::Avx2) dst::avx2::ceRows(x, cols, targets, ignoreIndex, loss, r0, r1);
    else dst::scalar::ceRows(x, cols, targets, ignoreIndex, loss, r0, r1);
  });
}

void moeCombine(const float* src, int64_t d, const int32_t* pos, const float* gates, int64_t N, int64_t K, float* out) {
  const Isa isa = activeIsa();
  parallelFor(N, grainRows(d * K), numThreads(), [&](int64_t n0, int64_t n1) {
    if (isa == Isa::Avx512) dst::avx512::combineRows(src, d, pos, gates, K, out, n0, n1);
    else if (isa == Isa::Avx2) dst::avx2::combineRows(src, d, pos, gates, K, out, n0, n1);
    else dst::scalar::combineRows(src, d, pos, gates, K, out, n0, n1);
  });
}

void moeCombineBackward(const float* dy, const float* src, int64_t d, const int32_t* pos, const float* gates, int64_t N,
                        int64_t K, float* dsrc, float* dgates) {
  const Isa isa = activeIsa();
  parallelFor(N, grainRows(2 * d * K), numThreads(), [&](int64_t n0, int64_t n1) {
    if (isa == Isa::Avx512) dst::avx512::combineBackwardRows(dy, src, d, pos, gates, K, dsrc, dgates, n0, n1);
    else if (isa == Isa::Avx2) dst::avx2::combineBackwardRows(dy, src, d, pos, gates, K, dsrc, dgates, n0, n1);
    else dst::scalar::combineBackwardRows(dy, src, d, pos, gates, K, dsrc, dgates, n0, n1);
  });
}

void swiglu(const float* G, const float* U, int64_t n, float* A) {
  const Isa isa = activeIsa();
  parallelFor(n, kGrainWork, numThreads(), [&](int64_t i0, int64_t i1) {
    if (isa == Isa::Avx512) dst::avx512::swigluRange(G, U, A, i0, i1);
    else if (isa == Isa::Avx2) dst::avx2::swigluRange(G, U, A, i0, i1);
    else dst::scalar::swigluRange(G, U, A, i0, i1);
  });
}

void swigluBackward(const float* G, const float* U, const float* dA, int64_t n, float* dG, float* dU) {
  const Isa isa = activeIsa();
  parallelFor(n, kGrainWork, numThreads(), [&](int64_t i0, int64_t i1) {
    if (isa == Isa::Avx512) dst::avx512::swigluBackwardRange(G, U, dA, dG, dU, i0, i1);
    else if (isa == Isa::Avx2) dst::avx2::swigluBackwardRange(G, U, dA, dG, dU, i0, i1);
    else dst::scalar::swigluBackwardRange(G, U, dA, dG, dU, i0, i1);
  });
}

namespace {

bool overlaps(const float* a, int64_t an, const float* b, int64_t bn) { return a < b + bn && b < a + an; }

// pos [N·K]: every entry a row of src [0, R), all distinct (each src row is one assignment).
bool checkPos(KArgs& a, const int32_t* pos, int64_t n, int64_t R) {
  std::vector<uint8_t> seen(static_cast<size_t>(R), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = pos[i];
    if (p < 0 || p >= R)
      return a.fail("pos[" + std::to_string(i) + "] = " + std::to_string(p) + " is outside the " + std::to_string(R) +
                    " rows of src");
    if (seen[static_cast<size_t>(p)])
      return a.fail("pos[" + std::to_string(i) + "] = " + std::to_string(p) + " repeats an earlier entry (pos must be distinct rows)");
    seen[static_cast<size_t>(p)] = 1;
  }
  return true;
}

}  // namespace

// crossEntropyInPlace(x, rows, cols, targets, ignoreIndex, loss)
napi_value CrossEntropyInPlaceBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "crossEntropyInPlace", 6);
  float *x = nullptr, *loss = nullptr;
  int32_t* t = nullptr;
  int64_t xn = 0, tn = 0, ln = 0, rows = 0, cols = 0;
  double ignore = 0;
  if (!a.ok() || !a.f32(0, "x", &x, &xn) || !a.i64(1, "rows", 0, &rows) || !a.i64(2, "cols", 1, &cols) ||
      !a.i32(3, "targets", &t, &tn) || !a.f64(4, "ignoreIndex", &ignore) || !a.f32(5, "loss", &loss, &ln) ||
      !a.need("x", xn, rows * cols, "[rows, cols]") || !a.need("targets", tn, rows, "[rows]") ||
      !a.need("loss", ln, rows, "[rows]"))
    return nullptr;
  if (overlaps(x, rows * cols, loss, rows)) {
    a.fail("loss must not overlap x");
    return nullptr;
  }
  int64_t ig = 0;
  if (!a.classTargets(t, rows, cols, ignore, &ig)) return nullptr;
  crossEntropyInPlace(x, rows, cols, t, ig, loss);
  return undefinedValue(env);
}

// moeCombine(src, R, d, pos, gates | null, N, K, out)
napi_value MoeCombineBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "moeCombine", 8);
  float *src = nullptr, *gates = nullptr, *out = nullptr;
  int32_t* pos = nullptr;
  int64_t sn = 0, gn = 0, on = 0, pn = 0, R = 0, d = 0, N = 0, K = 0;
  if (!a.ok() || !a.f32(0, "src", &src, &sn) || !a.i64(1, "R", 0, &R) || !a.i64(2, "d", 1, &d) ||
      !a.i32(3, "pos", &pos, &pn) || !a.f32(4, "gates", &gates, &gn, true) || !a.i64(5, "N", 0, &N) ||
      !a.i64(6, "K", 1, &K) || !a.f32(7, "out", &out, &on) || !a.need("src", sn, R * d, "[R, d]") ||
      !a.need("pos", pn, N * K, "[N, K]") || (gates && !a.need("gates", gn, N * K, "[N, K]")) ||
      !a.need("out", on, N * d, "[N, d]") || !checkPos(a, pos, N * K, R))
    return nullptr;
  if (overlaps(out, N * d, src, R * d) || (gates && overlaps(out, N * d, gates, N * K))) {
    a.fail("out must not overlap src or gates");
    return nullptr;
  }
  moeCombine(src, d, pos, gates, N, K, out);
  return undefinedValue(env);
}

// moeCombineBackward(dy, src, R, d, pos, gates | null, N, K, dsrc, dgates | null)
napi_value MoeCombineBackwardBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "moeCombineBackward", 10);
  float *dy = nullptr, *src = nullptr, *gates = nullptr, *dsrc = nullptr, *dg = nullptr;
  int32_t* pos = nullptr;
  int64_t yn = 0, sn = 0, gn = 0, dsn = 0, dgn = 0, pn = 0, R = 0, d = 0, N = 0, K = 0;
  if (!a.ok() || !a.f32(0, "dy", &dy, &yn) || !a.f32(1, "src", &src, &sn) || !a.i64(2, "R", 0, &R) ||
      !a.i64(3, "d", 1, &d) || !a.i32(4, "pos", &pos, &pn) || !a.f32(5, "gates", &gates, &gn, true) ||
      !a.i64(6, "N", 0, &N) || !a.i64(7, "K", 1, &K) || !a.f32(8, "dsrc", &dsrc, &dsn) ||
      !a.f32(9, "dgates", &dg, &dgn, true) || !a.need("dy", yn, N * d, "[N, d]") ||
      !a.need("src", sn, R * d, "[R, d]") || !a.need("pos", pn, N * K, "[N, K]") ||
      (gates && !a.need("gates", gn, N * K, "[N, K]")) || !a.need("dsrc", dsn, R * d, "[R, d]") ||
      (dg && !a.need("dgates", dgn, N * K, "[N, K]")) || !checkPos(a, pos, N * K, R))
    return nullptr;
  if (overlaps(dsrc, R * d, dy, N * d) || overlaps(dsrc, R * d, src, R * d) ||
      (gates && overlaps(dsrc, R * d, gates, N * K)) ||
      (dg && (overlaps(dg, N * K, dsrc, R * d) || overlaps(dg, N * K, dy, N * d) || overlaps(dg, N * K, src, R * d)))) {
    a.fail("dsrc and dgates must not overlap each other or the inputs");
    return nullptr;
  }
  moeCombineBackward(dy, src, d, pos, gates, N, K, dsrc, dg);
  return undefinedValue(env);
}

// swiglu(G, U, n, A)
napi_value SwigluBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "swiglu", 4);
  float *G = nullptr, *U = nullptr, *A = nullptr;
  int64_t gn = 0, un = 0, an = 0, n = 0;
  if (!a.ok() || !a.f32(0, "G", &G, &gn) || !a.f32(1, "U", &U, &un) || !a.i64(2, "n", 0, &n) ||
      !a.f32(3, "A", &A, &an) || !a.need("G", gn, n, "[n]") || !a.need("U", un, n, "[n]") || !a.need("A", an, n, "[n]"))
    return nullptr;
  if ((A != G && overlaps(A, n, G, n)) || (A != U && overlaps(A, n, U, n))) {
    a.fail("A must be G, U or disjoint from both");
    return nullptr;
  }
  swiglu(G, U, n, A);
  return undefinedValue(env);
}

// swigluBackward(G, U, dA, n, dG, dU)
napi_value SwigluBackwardBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "swigluBackward", 6);
  float *G = nullptr, *U = nullptr, *dA = nullptr, *dG = nullptr, *dU = nullptr;
  int64_t gn = 0, un = 0, dan = 0, dgn = 0, dun = 0, n = 0;
  if (!a.ok() || !a.f32(0, "G", &G, &gn) || !a.f32(1, "U", &U, &un) || !a.f32(2, "dA", &dA, &dan) ||
      !a.i64(3, "n", 0, &n) || !a.f32(4, "dG", &dG, &dgn) || !a.f32(5, "dU", &dU, &dun) || !a.need("G", gn, n, "[n]") ||
      !a.need("U", un, n, "[n]") || !a.need("dA", dan, n, "[n]") || !a.need("dG", dgn, n, "[n]") ||
      !a.need("dU", dun, n, "[n]"))
    return nullptr;
  // dG may be G and dU may be U; every other pair of an output with any array must be disjoint
  const bool bad = overlaps(dG, n, dU, n) || (dG != G && overlaps(dG, n, G, n)) || overlaps(dG, n, U, n) ||
                   overlaps(dG, n, dA, n) || (dU != U && overlaps(dU, n, U, n)) || overlaps(dU, n, G, n) ||
                   overlaps(dU, n, dA, n);
  if (bad) {
    a.fail("dG (may be G) and dU (may be U) must not overlap each other or the other inputs");
    return nullptr;
  }
  swigluBackward(G, U, dA, n, dG, dU);
  return undefinedValue(env);
}

}  // namespace kiln
