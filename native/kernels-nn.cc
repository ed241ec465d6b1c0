// Drivers and bindings of the fused NN kernels on contiguous [rows, cols]: softmax / log-softmax and their backward,
// cross-entropy with ignore index and label smoothing, RMSNorm and LayerNorm with their backward. Rows split over
// the pool (about 16K elements per thread at least). Backward passes that accumulate dw / db give each chunk of rows
// its own zeroed double buffer and add the buffers into dw / db at the end, so the result does not depend on timing.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels-args.h"
#include "kernels-bindings.h"
#include "kernels.h"
#include "thread-pool.h"

namespace kiln {

namespace {

constexpr int64_t kGrain = 16384;

int64_t rowGrain(int64_t cols) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1)); }

bool parseRowsCols(KArgs& a, size_t i, int64_t* rows, int64_t* cols) {
  if (!a.i64(i, "rows", 0, rows) || !a.i64(i + 1, "cols", 0, cols)) return false;
  if (static_cast<__int128>(*rows) * *cols > (static_cast<__int128>(1) << 53)) return a.fail("rows * cols is too large");
  return true;
}

// Splits rows into chunks, each with a zeroed double[cols] per accumulator; fn(r0, r1, acc0, acc1); then adds the
// chunk buffers (in chunk order) into dst0 / dst1 (either may be null).
template <class Fn>
void rowsWithPartials(int64_t rows, int64_t cols, float* dst0, float* dst1, Fn fn) {
  if (rows == 0) return;
  const int64_t grain = rowGrain(cols);
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(numThreads(), (rows + grain - 1) / grain));
  const int nacc = (dst0 ? 1 : 0) + (dst1 ? 1 : 0);
  std::vector<double> buf(static_cast<size_t>(chunks * cols * nacc), 0.0);
  parallelFor(chunks, 1, numThreads(), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double* base = buf.data() + c * cols * nacc;
      double* acc0 = dst0 ? base : nullptr;
      double* acc1 = dst1 ? base + (dst0 ? cols : 0) : nullptr;
      fn(rows * c / chunks, rows * (c + 1) / chunks, acc0, acc1);
    }
  });
  for (int k = 0; k < 2; ++k) {
    float* dst = k == 0 ? dst0 : dst1;
    if (!dst) continue;
    const int64_t slot = k == 0 ? 0 : (dst0 ? cols : 0);
    for (int64_t j = 0; j < cols; ++j) {
      double s = dst[j];
      for (int64_t c = 0; c < chunks; ++c) s += buf[static_cast<size_t>(c * cols * nacc + slot + j)];
      dst[j] = static_cast<float>(s);
    }
  }
}

}  // namespace

// softmax(x, rows, cols, out, log)
napi_value SoftmaxBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "softmax", 5);
  float *x = nullptr, *out = nullptr;
  int64_t xn = 0, on = 0, rows = 0, cols = 0;
  bool log = false;
  if (!a.ok() || !a.f32(0, "x", &x, &xn) || !parseRowsCols(a, 1, &rows, &cols) || !a.f32(3, "out", &out, &on) ||
      !a.boolean(4, "log", &log) || !a.need("x", xn, rows * cols, "[rows, cols]") ||
      !a.need("out", on, rows * cols, "[rows, cols]"))
    return nullptr;
  const KernelTable& k = kernelsActive();
  parallelFor(rows, rowGrain(cols), numThreads(), [&](int64_t r0, int64_t r1) { k.softmax(x, cols, out, log, r0, r1); });
  return undefinedValue(env);
}

// softmaxBackward(y, dy, rows, cols, dx, log)
napi_value SoftmaxBackwardBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "softmaxBackward", 6);
  float *y = nullptr, *dy = nullptr, *dx = nullptr;
  int64_t yn = 0, gn = 0, dn = 0, rows = 0, cols = 0;
  bool log = false;
  if (!a.ok() || !a.f32(0, "y", &y, &yn) || !a.f32(1, "dy", &dy, &gn) || !parseRowsCols(a, 2, &rows, &cols) ||
      !a.f32(4, "dx", &dx, &dn) || !a.boolean(5, "log", &log) || !a.need("y", yn, rows * cols, "[rows, cols]") ||
      !a.need("dy", gn, rows * cols, "[rows, cols]") || !a.need("dx", dn, rows * cols, "[rows, cols]"))
    return nullptr;
  const KernelTable& k = kernelsActive();
  parallelFor(rows, rowGrain(cols), numThreads(),
              [&](int64_t r0, int64_t r1) { k.softmaxBackward(y, dy, cols, dx, log, r0, r1); });
  return undefinedValue(env);
}

// crossEntropy(logits, rows, cols, targets, ignoreIndex, smoothing, loss, dlogits | null)
napi_value CrossEntropyBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "crossEntropy", 8);
  float *x = nullptr, *loss = nullptr, *dl = nullptr;
  int32_t* t = nullptr;
  int64_t xn = 0, tn = 0, ln = 0, dn = 0, rows = 0, cols = 0;
  double ignore = 0, smoothing = 0;
  if (!a.ok() || !a.f32(0, "logits", &x, &xn) || !parseRowsCols(a, 1, &rows, &cols) || !a.i32(3, "targets", &t, &tn) ||
      !a.f64(4, "ignoreIndex", &ignore) || !a.f64(5, "smoothing", &smoothing) || !a.f32(6, "loss", &loss, &ln) ||
      !a.f32(7, "dlogits", &dl, &dn, true) || !a.need("logits", xn, rows * cols, "[rows, cols]") ||
      !a.need("targets", tn, rows, "[rows]") || !a.need("loss", ln, rows, "[rows]") ||
      (dl && !a.need("dlogits", dn, rows * cols, "[rows, cols]")))
    return nullptr;
  int64_t ig = 0;
  if (!a.classTargets(t, rows, cols, ignore, &ig)) return nullptr;
  const KernelTable& k = kernelsActive();
  parallelFor(rows, rowGrain(cols), numThreads(),
              [&](int64_t r0, int64_t r1) { k.crossEntropy(x, cols, t, ig, smoothing, loss, dl, r0, r1); });
  return undefinedValue(env);
}

// rmsNorm(x, w | null, rows, cols, eps, y, rstd)
napi_value RmsNormBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "rmsNorm", 7);
  float *x = nullptr, *w = nullptr, *y = nullptr, *rstd = nullptr;
  int64_t xn = 0, wn = 0, yn = 0, rn = 0, rows = 0, cols = 0;
  double eps = 0;
  if (!a.ok() || !a.f32(0, "x", &x, &xn) || !a.f32(1, "w", &w, &wn, true) || !parseRowsCols(a, 2, &rows, &cols) ||
      !a.f64(4, "eps", &eps) || !a.f32(5, "y", &y, &yn) || !a.f32(6, "rstd", &rstd, &rn) ||
      !a.need("x", xn, rows * cols, "[rows, cols]") || (w && !a.need("w", wn, cols, "[cols]")) ||
      !a.need("y", yn, rows * cols, "[rows, cols]") || !a.need("rstd", rn, rows, "[rows]"))
    return nullptr;
  const KernelTable& k = kernelsActive();
  parallelFor(rows, rowGrain(cols), numThreads(),
              [&](int64_t r0, int64_t r1) { k.rmsNorm(x, w, cols, eps, y, rstd, r0, r1); });
  return undefinedValue(env);
}

// rmsNormBackward(x, w | null, rstd, dy, rows, cols, dx, dw | null): dw accumulates.
napi_value RmsNormBackwardBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "rmsNormBackward", 8);
  float *x = nullptr, *w = nullptr, *rstd = nullptr, *dy = nullptr, *dx = nullptr, *dw = nullptr;
  int64_t xn = 0, wn = 0, rn = 0, gn = 0, dxn = 0, dwn = 0, rows = 0, cols = 0;
  if (!a.ok() || !a.f32(0, "x", &x, &xn) || !a.f32(1, "w", &w, &wn, true) || !a.f32(2, "rstd", &rstd, &rn) ||
      !a.f32(3, "dy", &dy, &gn) || !parseRowsCols(a, 4, &rows, &cols) || !a.f32(6, "dx", &dx, &dxn) ||
      !a.f32(7, "dw", &dw, &dwn, true) || !a.need("x", xn, rows * cols, "[rows, cols]") ||
      (w && !a.need("w", wn, cols, "[cols]")) || !a.need("rstd", rn, rows, "[rows]") ||
      !a.need("dy", gn, rows * cols, "[rows, cols]") || !a.need("dx", dxn, rows * cols, "[rows, cols]") ||
      (dw && !a.need("dw", dwn, cols, "[cols]")))
    return nullptr;
  const KernelTable& k = kernelsActive();
  if (!dw) {
    parallelFor(rows, rowGrain(cols), numThreads(),
                [&](int64_t r0, int64_t r1) { k.rmsNormBackward(x, w, rstd, dy, cols, dx, nullptr, r0, r1); });
    return undefinedValue(env);
  }
  rowsWithPartials(rows, cols, dw, nullptr, [&](int64_t r0, int64_t r1, double* acc, double*) {
    k.rmsNormBackward(x, w, rstd, dy, cols, dx, acc, r0, r1);
  });
  return undefinedValue(env);
}

// layerNorm(x, w | null, b | null, rows, cols, eps, y, mean, rstd)
napi_value LayerNormBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "layerNorm", 9);
  float *x = nullptr, *w = nullptr, *b = nullptr, *y = nullptr, *mean = nullptr, *rstd = nullptr;
  int64_t xn = 0, wn = 0, bn = 0, yn = 0, mn = 0, rn = 0, rows = 0, cols = 0;
  double eps = 0;
  if (!a.ok() || !a.f32(0, "x", &x, &xn) || !a.f32(1, "w", &w, &wn, true) || !a.f32(2, "b", &b, &bn, true) ||
      !parseRowsCols(a, 3, &rows, &cols) || !a.f64(5, "eps", &eps) || !a.f32(6, "y", &y, &yn) ||
      !a.f32(7, "mean", &mean, &mn) || !a.f32(8, "rstd", &rstd, &rn) || !a.need("x", xn, rows * cols, "[rows, cols]") ||
      (w && !a.need("w", wn, cols, "[cols]")) || (b && !a.need("b", bn, cols, "[cols]")) ||
      !a.need("y", yn, rows * cols, "[rows, cols]") || !a.need("mean", mn, rows, "[rows]") ||
      !a.need("rstd", rn, rows, "[rows]"))
    return nullptr;
  const KernelTable& k = kernelsActive();
  parallelFor(rows, rowGrain(cols), numThreads(),
              [&](int64_t r0, int64_t r1) { k.layerNorm(x, w, b, cols, eps, y, mean, rstd, r0, r1); });
  return undefinedValue(env);
}

// layerNormBackward(x, w | null, mean, rstd, dy, rows, cols, dx, dw | null, db | null): dw, db accumulate.
napi_value LayerNormBackwardBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "layerNormBackward", 10);
  float *x = nullptr, *w = nullptr, *mean = nullptr, *rstd = nullptr, *dy = nullptr, *dx = nullptr, *dw = nullptr,
        *db = nullptr;
  int64_t xn = 0, wn = 0, mn = 0, rn = 0, gn = 0, dxn = 0, dwn = 0, dbn = 0, rows = 0, cols = 0;
  if (!a.ok() || !a.f32(0, "x", &x, &xn) || !a.f32(1, "w", &w, &wn, true) || !a.f32(2, "mean", &mean, &mn) ||
      !a.f32(3, "rstd", &rstd, &rn) || !a.f32(4, "dy", &dy, &gn) || !parseRowsCols(a, 5, &rows, &cols) ||
      !a.f32(7, "dx", &dx, &dxn) || !a.f32(8, "dw", &dw, &dwn, true) || !a.f32(9, "db", &db, &dbn, true) ||
      !a.need("x", xn, rows * cols, "[rows, cols]") || (w && !a.need("w", wn, cols, "[cols]")) ||
      !a.need("mean", mn, rows, "[rows]") || !a.need("rstd", rn, rows, "[rows]") ||
      !a.need("dy", gn, rows * cols, "[rows, cols]") || !a.need("dx", dxn, rows * cols, "[rows, cols]") ||
      (dw && !a.need("dw", dwn, cols, "[cols]")) || (db && !a.need("db", dbn, cols, "[cols]")))
    return nullptr;
  const KernelTable& k = kernelsActive();
  if (!dw && !db) {
    parallelFor(rows, rowGrain(cols), numThreads(), [&](int64_t r0, int64_t r1) {
      k.layerNormBackward(x, w, mean, rstd, dy, cols, dx, nullptr, nullptr, r0, r1);
    });
    return undefinedValue(env);
  }
  rowsWithPartials(rows, cols, dw, db, [&](int64_t r0, int64_t r1, double* dwAcc, double* dbAcc) {
    k.layerNormBackward(x, w, mean, rstd, dy, cols, dx, dwAcc, dbAcc, r0, r1);
  });
  return undefinedValue(env);
}

}  // namespace kiln
