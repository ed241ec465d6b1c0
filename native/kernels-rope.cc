// Rotary embedding kernel (contract in kernels-rope.h): one generic row loop, compiled for the baseline, AVX2 and
// AVX-512 (the pair arithmetic in double vectorises; the interleaved layout through the compiler's lane shuffles),
// chosen by activeIsa().
#include "kernels-rope.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "cpu.h"
#include "thread-pool.h"

namespace kiln {

namespace {

// Rows [r0, r1). Products of two floats are exact in double, so each output is the reference's value rounded once.
inline __attribute__((always_inline)) void rotaryRowsGeneric(const RotaryArgs& a, int64_t r0, int64_t r1) {
  const int64_t half = a.rotaryDim / 2, D = a.D;
  const double sgn = a.inverse ? -1.0 : 1.0;
  for (int64_t r = r0; r < r1; ++r) {
    const float* x = a.x + r * D;
    float* o = a.out + r * D;
    const float* c = a.cos + (r % a.tableRows) * half;
    const float* s = a.sin + (r % a.tableRows) * half;
    if (a.interleaved) {
      for (int64_t i = 0; i < half; ++i) {
        const double ci = c[i], si = sgn * s[i];
        const double xa = x[2 * i], xb = x[2 * i + 1];
        o[2 * i] = static_cast<float>(xa * ci - xb * si);
        o[2 * i + 1] = static_cast<float>(xb * ci + xa * si);
      }
    } else {
      for (int64_t i = 0; i < half; ++i) {
        const double ci = c[i], si = sgn * s[i];
        const double xa = x[i], xb = x[i + half];
        o[i] = static_cast<float>(xa * ci - xb * si);
        o[i + half] = static_cast<float>(xb * ci + xa * si);
      }
    }
    if (D > a.rotaryDim && o != x)
      std::memcpy(o + a.rotaryDim, x + a.rotaryDim, static_cast<size_t>(D - a.rotaryDim) * sizeof(float));
  }
}

void rotaryRowsScalar(const RotaryArgs& a, int64_t r0, int64_t r1) { rotaryRowsGeneric(a, r0, r1); }

#pragma GCC push_options
#pragma GCC target("avx2,fma")
void rotaryRowsAvx2(const RotaryArgs& a, int64_t r0, int64_t r1) { rotaryRowsGeneric(a, r0, r1); }
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
void rotaryRowsAvx512(const RotaryArgs& a, int64_t r0, int64_t r1) { rotaryRowsGeneric(a, r0, r1); }
#pragma GCC pop_options

}  // namespace

void rotary(const RotaryArgs& a) {
  if (a.rows <= 0 || a.D <= 0) return;
  void (*rows)(const RotaryArgs&, int64_t, int64_t) =
      activeIsa() == Isa::Avx512 ? rotaryRowsAvx512 : activeIsa() == Isa::Avx2 ? rotaryRowsAvx2 : rotaryRowsScalar;
  // ~32K elements per thread at least: small tensors stay on the calling thread.
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / a.D);
  parallelFor(a.rows, grain, numThreads(), [&](int64_t r0, int64_t r1) { rows(a, r0, r1); });
}

napi_value RotaryBinding(napi_env env, napi_callback_info info) {
  Args args(env, info, "rotary", 10);
  if (!args.ok()) return nullptr;
  RotaryArgs a{};
  F32View x{}, cosT{}, sinT{}, out{};
  if (!args.f32Array(0, "x", &x) || !args.i64(1, "rows", 0, &a.rows) || !args.i64(2, "D", 0, &a.D) ||
      !args.i64(3, "rotaryDim", 0, &a.rotaryDim) || !args.f32Array(4, "cos", &cosT) ||
      !args.f32Array(5, "sin", &sinT) || !args.i64(6, "tableRows", 1, &a.tableRows) ||
      !args.boolean(7, "interleaved", &a.interleaved) || !args.boolean(8, "inverse", &a.inverse) ||
      !args.f32Array(9, "out", &out))
    return nullptr;
  if (a.rotaryDim % 2 != 0 || a.rotaryDim > a.D) {
    args.fail("rotaryDim = " + std::to_string(a.rotaryDim) + " must be even and at most D = " + std::to_string(a.D));
    return nullptr;
  }
  const __int128 n = static_cast<__int128>(a.rows) * a.D;
  const __int128 t = static_cast<__int128>(a.tableRows) * (a.rotaryDim / 2);
  if (n > (__int128{1} << 53) || t > (__int128{1} << 53)) {
    args.fail("sizes are too large (more than 2^53 elements)");
    return nullptr;
  }
  if (!checkExtent(args, "x", x, 0, static_cast<int64_t>(n)) || !checkExtent(args, "out", out, 0, static_cast<int64_t>(n)))
    return nullptr;
  if (a.rows > 0 && (!checkExtent(args, "cos", cosT, 0, static_cast<int64_t>(t)) ||
                     !checkExtent(args, "sin", sinT, 0, static_cast<int64_t>(t))))
    return nullptr;
  a.x = x.data;
  a.cos = cosT.data;
  a.sin = sinT.data;
  a.out = out.data;
  rotary(a);
  return undefinedValue(env);
}

}  // namespace kiln
