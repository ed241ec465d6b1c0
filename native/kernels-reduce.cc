// Reduction drivers and bindings: reduce (sum / max / min) and argReduce (argmax / argmin, first occurrence) over the
// middle axis of a contiguous [outer, r, inner] array. inner = 1 (row reductions) splits rows over the pool;
// otherwise the work is (outer slice × block of 64 columns) tasks, each streaming its r rows once.
#include <algorithm>
#include <string>

#include "kernels-args.h"
#include "kernels-bindings.h"
#include "kernels.h"
#include "thread-pool.h"

namespace kiln {

namespace {

constexpr int64_t kColBlock = 64;
constexpr int64_t kGrain = 32768;  // elements per thread before splitting

bool parseDims(KArgs& a, int64_t* outer, int64_t* r, int64_t* inner) {
  if (!a.i64(2, "outer", 0, outer) || !a.i64(3, "r", 0, r) || !a.i64(4, "inner", 0, inner)) return false;
  const __int128 total = static_cast<__int128>(*outer) * *r * *inner;
  if (total > (static_cast<__int128>(1) << 53)) return a.fail("outer * r * inner is too large");
  return true;
}

// Runs rowFn(k0, k1) over outer rows (inner == 1) or colFn(o, i0, i1) over column blocks.
template <class RowFn, class ColFn>
void splitReduce(int64_t outer, int64_t r, int64_t inner, RowFn rowFn, ColFn colFn) {
  if (outer == 0 || inner == 0) return;
  if (inner == 1) {
    parallelFor(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(r, 1)), numThreads(), rowFn);
    return;
  }
  const int64_t blocks = (inner + kColBlock - 1) / kColBlock;
  const int64_t perTask = std::max<int64_t>(1, r * std::min(inner, kColBlock));
  parallelFor(outer * blocks, std::max<int64_t>(1, kGrain / perTask), numThreads(), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, b = t % blocks;
      colFn(o, b * kColBlock, std::min(inner, (b + 1) * kColBlock));
    }
  });
}

}  // namespace

// reduce(op, x, outer, r, inner, out): op 0 sum, 1 max, 2 min.
napi_value ReduceBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "reduce", 6);
  int64_t op = 0, outer = 0, r = 0, inner = 0, xn = 0, on = 0;
  float *x = nullptr, *out = nullptr;
  if (!a.ok() || !a.i64(0, "op", 0, &op, kReduceCount - 1) || !a.f32(1, "x", &x, &xn) ||
      !parseDims(a, &outer, &r, &inner) || !a.f32(5, "out", &out, &on) ||
      !a.need("x", xn, outer * r * inner, "[outer, r, inner]") || !a.need("out", on, outer * inner, "[outer, inner]"))
    return nullptr;
  const KernelTable& k = kernelsActive();
  const int o = static_cast<int>(op);
  splitReduce(
      outer, r, inner, [&](int64_t k0, int64_t k1) { k.reduceRows(o, x, r, out, k0, k1); },
      [&](int64_t oi, int64_t i0, int64_t i1) { k.reduceCols(o, x + oi * r * inner, r, inner, out + oi * inner, i0, i1); });
  return undefinedValue(env);
}

// argReduce(op, x, outer, r, inner, out: Int32Array): op 1 argmax, 2 argmin.
napi_value ArgReduceBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "argReduce", 6);
  int64_t op = 0, outer = 0, r = 0, inner = 0, xn = 0, on = 0;
  float* x = nullptr;
  int32_t* out = nullptr;
  if (!a.ok() || !a.i64(0, "op", kRedMax, &op, kRedMin) || !a.f32(1, "x", &x, &xn) ||
      !parseDims(a, &outer, &r, &inner) || !a.i32(5, "out", &out, &on) ||
      !a.need("x", xn, outer * r * inner, "[outer, r, inner]") || !a.need("out", on, outer * inner, "[outer, inner]"))
    return nullptr;
  if (r == 0) {  // the reference's answer for an empty axis
    std::fill(out, out + outer * inner, 0);
    return undefinedValue(env);
  }
  const KernelTable& k = kernelsActive();
  const int o = static_cast<int>(op);
  splitReduce(
      outer, r, inner, [&](int64_t k0, int64_t k1) { k.argRows(o, x, r, out, k0, k1); },
      [&](int64_t oi, int64_t i0, int64_t i1) { k.argCols(o, x + oi * r * inner, r, inner, out + oi * inner, i0, i1); });
  return undefinedValue(env);
}

}  // namespace kiln
