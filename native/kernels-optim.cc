// Optimizer kernels (src/backend/ts/optim.ts is the reference): the AdamW update with f32 moments and the sum of
// squares of a gradient (global-norm clipping). Both compute in double in the reference's order and are compiled
// without ISA flags (no FMA contraction), so results equal the reference's bit for bit at any thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels-args.h"
#include "kernels-bindings.h"
#include "thread-pool.h"

namespace kiln {

namespace {
constexpr int64_t kOptimGrain = 1 << 15;
}

// adamwStep(w, g, m, v, b1, b2, c1, c2, lr, decay, eps): m ← b1·m + (1−b1)·g, v ← b2·v + (1−b2)·g²,
// w ← w·decay − lr·m·c1 / (√(v·c2) + eps), elementwise over equal-length f32 arrays.
napi_value AdamwStepBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "adamwStep", 11);
  float *w = nullptr, *g = nullptr, *m = nullptr, *v = nullptr;
  int64_t wn = 0, gn = 0, mn = 0, vn = 0;
  double b1 = 0, b2 = 0, c1 = 0, c2 = 0, lr = 0, decay = 0, eps = 0;
  if (!a.ok() || !a.f32(0, "w", &w, &wn) || !a.f32(1, "g", &g, &gn) || !a.f32(2, "m", &m, &mn) ||
      !a.f32(3, "v", &v, &vn) || !a.f64(4, "b1", &b1) || !a.f64(5, "b2", &b2) || !a.f64(6, "c1", &c1) ||
      !a.f64(7, "c2", &c2) || !a.f64(8, "lr", &lr) || !a.f64(9, "decay", &decay) || !a.f64(10, "eps", &eps) ||
      !a.need("g", gn, wn, "w's length") || !a.need("m", mn, wn, "w's length") || !a.need("v", vn, wn, "w's length"))
    return nullptr;
  // elementwise (no order to keep): a finer grain than sumSquares' blocks, so 32K-element tensors (MoE experts) use the pool too
  parallelFor(wn, kOptimGrain / 4, numThreads(), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const double gi = g[i];
      const double mi = b1 * m[i] + (1 - b1) * gi;  // the update uses the moments before rounding to f32
      const double vi = b2 * v[i] + (1 - b2) * gi * gi;
      m[i] = static_cast<float>(mi);
      v[i] = static_cast<float>(vi);
      w[i] = static_cast<float>(w[i] * decay - (lr * mi * c1) / (std::sqrt(vi * c2) + eps));
    }
  });
  return undefinedValue(env);
}

// sumSquares(x) → Σ x[i]² in double, summed per 2^15-element block and the blocks in order (the reference's order).
napi_value SumSquaresBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "sumSquares", 1);
  float* x = nullptr;
  int64_t n = 0;
  if (!a.ok() || !a.f32(0, "x", &x, &n)) return nullptr;
  const int64_t blocks = (n + kOptimGrain - 1) / kOptimGrain;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallelFor(blocks, 1, numThreads(), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double s = 0;
      for (int64_t i = b * kOptimGrain, e = std::min(n, i + kOptimGrain); i < e; ++i) s += static_cast<double>(x[i]) * x[i];
      partial[static_cast<size_t>(b)] = s;
    }
  });
  double total = 0;
  for (double s : partial) total += s;
  return makeNumber(env, total);
}

}  // namespace kiln
