// Indexing drivers and bindings on contiguous [outer, n, inner] arrays: indexSelect / indexAdd along the middle axis
// with one index list, gather / scatterAdd (torch.gather / scatter_add) with a full index array. Every index is
// checked against [0, n) before any work (out-of-range throws E_ARG). The accumulating kernels are race-free: work
// is split over (outer slice, block of inner columns), never over indices that may repeat, and each destination
// element receives its additions in the reference's order, so results match the reference bit for bit.
#include <algorithm>
#include <cstring>
#include <string>

#include "kernels-args.h"
#include "kernels-bindings.h"
#include "thread-pool.h"

namespace kiln {

namespace {

constexpr int64_t kGrain = 32768;
constexpr int64_t kInnerBlock = 128;  // columns per accumulating task (512 bytes: tasks never share a cache line when rows are 64-byte aligned)

bool parseOuterNInner(KArgs& a, size_t i, int64_t* outer, int64_t* n, int64_t* inner) {
  if (!a.i64(i, "outer", 0, outer) || !a.i64(i + 1, "n", 0, n) || !a.i64(i + 2, "inner", 0, inner)) return false;
  if (static_cast<__int128>(*outer) * *n * *inner > (static_cast<__int128>(1) << 53))
    return a.fail("outer * n * inner is too large");
  return true;
}

bool checkIndices(KArgs& a, const int32_t* idx, int64_t count, int64_t n) {
  for (int64_t j = 0; j < count; ++j)
    if (idx[j] < 0 || idx[j] >= n)
      return a.fail("index " + std::to_string(idx[j]) + " at position " + std::to_string(j) + " is outside [0, " +
                    std::to_string(n) + "); indices must address the indexed axis");
  return true;
}

// Tasks over (o, block of inner columns) for the accumulating kernels: fn(o, i0, i1).
template <class Fn>
void overOuterAndInner(int64_t outer, int64_t inner, int64_t workPerColumn, Fn fn) {
  if (outer == 0 || inner == 0) return;
  const int64_t blocks = (inner + kInnerBlock - 1) / kInnerBlock;
  const int64_t perTask = std::max<int64_t>(1, workPerColumn * std::min(inner, kInnerBlock));
  parallelFor(outer * blocks, std::max<int64_t>(1, kGrain / perTask), numThreads(), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, b = t % blocks;
      fn(o, b * kInnerBlock, std::min(inner, (b + 1) * kInnerBlock));
    }
  });
}

}  // namespace

// indexSelect(x, outer, n, inner, idx, out): out[o, j, :] = x[o, idx[j], :].
napi_value IndexSelectBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "indexSelect", 6);
  float *x = nullptr, *out = nullptr;
  int32_t* idx = nullptr;
  int64_t xn = 0, m = 0, on = 0, outer = 0, n = 0, inner = 0;
  if (!a.ok() || !a.f32(0, "x", &x, &xn) || !parseOuterNInner(a, 1, &outer, &n, &inner) || !a.i32(4, "idx", &idx, &m) ||
      !a.f32(5, "out", &out, &on) || !a.need("x", xn, outer * n * inner, "[outer, n, inner]") ||
      !a.need("out", on, outer * m * inner, "[outer, idx.length, inner]") || !checkIndices(a, idx, m, n))
    return nullptr;
  parallelFor(outer * m, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), numThreads(),
              [&](int64_t r0, int64_t r1) {
                for (int64_t r = r0; r < r1; ++r) {
                  const int64_t o = r / m, j = r % m;
                  std::memcpy(out + r * inner, x + (o * n + idx[j]) * inner, static_cast<size_t>(inner) * sizeof(float));
                }
              });
  return undefinedValue(env);
}

// indexAdd(acc, outer, n, inner, idx, src): acc[o, idx[j], :] += src[o, j, :].
napi_value IndexAddBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "indexAdd", 6);
  float *acc = nullptr, *src = nullptr;
  int32_t* idx = nullptr;
  int64_t an = 0, m = 0, sn = 0, outer = 0, n = 0, inner = 0;
  if (!a.ok() || !a.f32(0, "acc", &acc, &an) || !parseOuterNInner(a, 1, &outer, &n, &inner) ||
      !a.i32(4, "idx", &idx, &m) || !a.f32(5, "src", &src, &sn) ||
      !a.need("acc", an, outer * n * inner, "[outer, n, inner]") ||
      !a.need("src", sn, outer * m * inner, "[outer, idx.length, inner]") || !checkIndices(a, idx, m, n))
    return nullptr;
  overOuterAndInner(outer, inner, m, [&](int64_t o, int64_t i0, int64_t i1) {
    for (int64_t j = 0; j < m; ++j) {
      float* d = acc + (o * n + idx[j]) * inner;
      const float* s = src + (o * m + j) * inner;
      for (int64_t i = i0; i < i1; ++i) d[i] += s[i];
    }
  });
  return undefinedValue(env);
}

// gather(x, outer, n, inner, idx, m, out): out[o, j, i] = x[o, idx[o, j, i], i].
napi_value GatherBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "gather", 7);
  float *x = nullptr, *out = nullptr;
  int32_t* idx = nullptr;
  int64_t xn = 0, in = 0, on = 0, outer = 0, n = 0, inner = 0, m = 0;
  if (!a.ok() || !a.f32(0, "x", &x, &xn) || !parseOuterNInner(a, 1, &outer, &n, &inner) || !a.i32(4, "idx", &idx, &in) ||
      !a.i64(5, "m", 0, &m) || !a.f32(6, "out", &out, &on) || !a.need("x", xn, outer * n * inner, "[outer, n, inner]") ||
      !a.need("idx", in, outer * m * inner, "[outer, m, inner]") ||
      !a.need("out", on, outer * m * inner, "[outer, m, inner]") || !checkIndices(a, idx, outer * m * inner, n))
    return nullptr;
  parallelFor(outer * m, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), numThreads(),
              [&](int64_t r0, int64_t r1) {
                for (int64_t r = r0; r < r1; ++r) {
                  const int64_t o = r / m;
                  const int32_t* ir = idx + r * inner;
                  float* orow = out + r * inner;
                  const float* xo = x + o * n * inner;
                  for (int64_t i = 0; i < inner; ++i) orow[i] = xo[ir[i] * inner + i];
                }
              });
  return undefinedValue(env);
}

// scatterAdd(acc, outer, n, inner, idx, m, src): acc[o, idx[o, j, i], i] += src[o, j, i].
napi_value ScatterAddBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "scatterAdd", 7);
  float *acc = nullptr, *src = nullptr;
  int32_t* idx = nullptr;
  int64_t an = 0, in = 0, sn = 0, outer = 0, n = 0, inner = 0, m = 0;
  if (!a.ok() || !a.f32(0, "acc", &acc, &an) || !parseOuterNInner(a, 1, &outer, &n, &inner) ||
      !a.i32(4, "idx", &idx, &in) || !a.i64(5, "m", 0, &m) || !a.f32(6, "src", &src, &sn) ||
      !a.need("acc", an, outer * n * inner, "[outer, n, inner]") ||
      !a.need("idx", in, outer * m * inner, "[outer, m, inner]") ||
      !a.need("src", sn, outer * m * inner, "[outer, m, inner]") || !checkIndices(a, idx, outer * m * inner, n))
    return nullptr;
  overOuterAndInner(outer, inner, m, [&](int64_t o, int64_t i0, int64_t i1) {
    float* ao = acc + o * n * inner;
    for (int64_t j = 0; j < m; ++j) {
      const int64_t p = (o * m + j) * inner;
      for (int64_t i = i0; i < i1; ++i) ao[idx[p + i] * inner + i] += src[p + i];
    }
  });
  return undefinedValue(env);
}

}  // namespace kiln
