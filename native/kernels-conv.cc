// im2col / col2im kernels (contract in kernels-conv.h): generic loops compiled for the baseline, AVX2 and AVX-512
// (the inner copies/adds along W vectorise), chosen by activeIsa(), split over the thread pool.
#include "kernels-conv.h"

#include <algorithm>
#include <string>

#include "cpu.h"
#include "thread-pool.h"

namespace kiln {

namespace {

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// [lo, hi) of output positions o < on whose input position o·s + off lies in [0, n) (the reference's validRange).
inline void validRange(int64_t n, int64_t s, int64_t off, int64_t on, int64_t* lo, int64_t* hi) {
  const int64_t l = off >= 0 ? 0 : std::min(on, ceilDiv(-off, s));
  const int64_t h = n - 1 - off < 0 ? 0 : std::min(on, (n - 1 - off) / s + 1);
  *lo = l;
  *hi = std::max(l, h);
}

// Output loop bounds: the full grid with the outermost real dim restricted to the chunk.
struct Bounds {
  int64_t lo[3], hi[3];
  int64_t nD, nH, nW, L;
};

Bounds boundsOf(const ConvGeometry& g) {
  Bounds b;
  for (int d = 0; d < 3; ++d) {
    b.lo[d] = 0;
    b.hi[d] = g.out[d];
  }
  const int rd = 3 - g.rank;
  b.lo[rd] = g.outStart;
  b.hi[rd] = g.outStart + g.outCount;
  b.nD = b.hi[0] - b.lo[0];
  b.nH = b.hi[1] - b.lo[1];
  b.nW = b.hi[2] - b.lo[2];
  b.L = b.nD * b.nH * b.nW;
  return b;
}

// col row segments [s0, s1): segment = (row (c, kd, kh, kw), od, oh), nW columns each. The segment index is
// decoded once and then advanced digit by digit (integer division per segment would cost more than the copy).
inline __attribute__((always_inline)) void im2colGeneric(const ConvGeometry& g, const Bounds& bd, const float* x,
                                                         float* col, int64_t s0, int64_t s1) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t kD = g.kernel[0], kH = g.kernel[1], kW = g.kernel[2];
  const int64_t w0 = bd.lo[2], w1 = bd.hi[2], sW = g.stride[2];
  int64_t oh = bd.lo[1] + s0 % bd.nH;
  int64_t od = bd.lo[0] + (s0 / bd.nH) % bd.nD;
  int64_t row = s0 / (bd.nH * bd.nD);
  int64_t kw = row % kW, kh = (row / kW) % kH, kd = (row / (kW * kH)) % kD, c = row / (kD * kH * kW);
  bool rowChanged = true;
  int64_t offW = 0, wLo = 0, wHi = 0;
  for (int64_t seg = s0; seg < s1; ++seg) {
    if (rowChanged) {  // per col row: the valid ow range of this kw
      offW = kw * g.dilation[2] - g.padding[2];
      int64_t vLo, vHi;
      validRange(W, sW, offW, w1, &vLo, &vHi);
      wLo = std::max(vLo, w0);
      wHi = std::max(wLo, vHi);
      rowChanged = false;
    }
    float* dst = col + row * bd.L + ((od - bd.lo[0]) * bd.nH + (oh - bd.lo[1])) * bd.nW - w0;  // dst[ow]
    const int64_t id = od * g.stride[0] - g.padding[0] + kd * g.dilation[0];
    const int64_t ih = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1];
    if (id < 0 || id >= D || ih < 0 || ih >= H) {
      for (int64_t ow = w0; ow < w1; ++ow) dst[ow] = 0.0f;
    } else {
      const float* src = x + ((c * D + id) * H + ih) * W + offW;  // src[ow·sW]
      for (int64_t ow = w0; ow < wLo; ++ow) dst[ow] = 0.0f;
      if (sW == 1) {
        for (int64_t ow = wLo; ow < wHi; ++ow) dst[ow] = src[ow];
      } else {
        for (int64_t ow = wLo; ow < wHi; ++ow) dst[ow] = src[ow * sW];
      }
      for (int64_t ow = wHi; ow < w1; ++ow) dst[ow] = 0.0f;
    }
    // next segment: oh, then od, then the row (kw, kh, kd, c)
    if (++oh < bd.hi[1]) continue;
    oh = bd.lo[1];
    if (++od < bd.hi[0]) continue;
    od = bd.lo[0];
    ++row;
    rowChanged = true;
    if (++kw < kW) continue;
    kw = 0;
    if (++kh < kH) continue;
    kh = 0;
    if (++kd < kD) continue;
    kd = 0;
    ++c;
  }
}

// x rows [u0, u1): unit = (c, id, ih); adds every (kd, kh, kw) contribution in the reference's order.
inline __attribute__((always_inline)) void col2imGeneric(const ConvGeometry& g, const Bounds& bd, const float* col,
                                                         float* x, int64_t u0, int64_t u1) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t kD = g.kernel[0], kH = g.kernel[1], kW = g.kernel[2];
  const int64_t w0 = bd.lo[2], w1 = bd.hi[2], sW = g.stride[2];
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t ih = u % H, id = (u / H) % D, c = u / (H * D);
    float* xr = x + ((c * D + id) * H + ih) * W;
    for (int64_t kd = 0; kd < kD; ++kd) {
      const int64_t nd = id + g.padding[0] - kd * g.dilation[0];  // = od·sD
      if (nd < 0 || nd % g.stride[0] != 0) continue;
      const int64_t od = nd / g.stride[0];
      if (od < bd.lo[0] || od >= bd.hi[0]) continue;
      for (int64_t kh = 0; kh < kH; ++kh) {
        const int64_t nh = ih + g.padding[1] - kh * g.dilation[1];  // = oh·sH
        if (nh < 0 || nh % g.stride[1] != 0) continue;
        const int64_t oh = nh / g.stride[1];
        if (oh < bd.lo[1] || oh >= bd.hi[1]) continue;
        for (int64_t kw = 0; kw < kW; ++kw) {
          const int64_t offW = kw * g.dilation[2] - g.padding[2];
          int64_t vLo, vHi;
          validRange(W, sW, offW, w1, &vLo, &vHi);
          const int64_t wLo = std::max(vLo, w0), wHi = vHi;
          if (wLo >= wHi) continue;
          const int64_t row = ((c * kD + kd) * kH + kh) * kW + kw;
          const float* src = col + row * bd.L + ((od - bd.lo[0]) * bd.nH + (oh - bd.lo[1])) * bd.nW - w0;  // src[ow]
          float* dst = xr + offW;  // dst[ow·sW]
          if (sW == 1) {
            for (int64_t ow = wLo; ow < wHi; ++ow) dst[ow] += src[ow];
          } else {
            for (int64_t ow = wLo; ow < wHi; ++ow) dst[ow * sW] += src[ow];
          }
        }
      }
    }
  }
}

using Im2colFn = void (*)(const ConvGeometry&, const Bounds&, const float*, float*, int64_t, int64_t);

void im2colScalar(const ConvGeometry& g, const Bounds& b, const float* x, float* col, int64_t s0, int64_t s1) {
  im2colGeneric(g, b, x, col, s0, s1);
}
void col2imScalar(const ConvGeometry& g, const Bounds& b, const float* col, float* x, int64_t u0, int64_t u1) {
  col2imGeneric(g, b, col, x, u0, u1);
}

#pragma GCC push_options
#pragma GCC target("avx2,fma")
void im2colAvx2(const ConvGeometry& g, const Bounds& b, const float* x, float* col, int64_t s0, int64_t s1) {
  im2colGeneric(g, b, x, col, s0, s1);
}
void col2imAvx2(const ConvGeometry& g, const Bounds& b, const float* col, float* x, int64_t u0, int64_t u1) {
  col2imGeneric(g, b, col, x, u0, u1);
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
void im2colAvx512(const ConvGeometry& g, const Bounds& b, const float* x, float* col, int64_t s0, int64_t s1) {
  im2colGeneric(g, b, x, col, s0, s1);
}
void col2imAvx512(const ConvGeometry& g, const Bounds& b, const float* col, float* x, int64_t u0, int64_t u1) {
  col2imGeneric(g, b, col, x, u0, u1);
}
#pragma GCC pop_options

// Work items per thread at least ~16K elements, so small convolutions stay on the calling thread.
int64_t grainFor(int64_t elemsPerItem) { return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, elemsPerItem)); }

}  // namespace

void im2col(const ConvGeometry& g, const float* x, float* col) {
  const Bounds bd = boundsOf(g);
  const int64_t rows = g.channels * g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t segs = rows * bd.nD * bd.nH;
  if (segs <= 0 || bd.nW <= 0) return;
  Im2colFn fn = activeIsa() == Isa::Avx512 ? im2colAvx512 : activeIsa() == Isa::Avx2 ? im2colAvx2 : im2colScalar;
  parallelFor(segs, grainFor(bd.nW), numThreads(), [&](int64_t s0, int64_t s1) { fn(g, bd, x, col, s0, s1); });
}

void col2im(const ConvGeometry& g, const float* col, float* x) {
  const Bounds bd = boundsOf(g);
  const int64_t units = g.channels * g.in[0] * g.in[1];
  if (units <= 0 || g.in[2] <= 0 || bd.L <= 0) return;
  auto fn = activeIsa() == Isa::Avx512 ? col2imAvx512 : activeIsa() == Isa::Avx2 ? col2imAvx2 : col2imScalar;
  const int64_t perUnit = g.in[2] * g.kernel[0] * g.kernel[1] * g.kernel[2];
  parallelFor(units, grainFor(perUnit), numThreads(), [&](int64_t u0, int64_t u1) { fn(g, bd, col, x, u0, u1); });
}

// ── bindings ──

namespace {

constexpr __int128 kMaxElems = __int128{1} << 53;

// Reads (channels, rank, in×3, kernel×3, stride×3, padding×3, dilation×3, out×3, outStart, outCount) from
// arguments 1..22 and checks the geometry.
bool parseGeometry(Args& args, ConvGeometry* g) {
  int64_t rank = 0;
  if (!args.i64(1, "channels", 0, &g->channels) || !args.i64(2, "rank", 1, &rank, 3)) return false;
  g->rank = static_cast<int>(rank);
  const char* names[6] = {"inSize", "kernel", "stride", "padding", "dilation", "outSize"};
  int64_t* dst[6] = {g->in, g->kernel, g->stride, g->padding, g->dilation, g->out};
  const int64_t mins[6] = {0, 1, 1, 0, 1, 0};
  for (int a = 0; a < 6; ++a)
    for (int d = 0; d < 3; ++d)
      if (!args.i64(3 + 3 * a + d, (std::string(names[a]) + "[" + std::to_string(d) + "]").c_str(), mins[a], &dst[a][d],
                    int64_t{1} << 31))
        return false;
  for (int d = 0; d < 3 - g->rank; ++d)
    if (g->in[d] != 1 || g->kernel[d] != 1 || g->stride[d] != 1 || g->padding[d] != 0 || g->dilation[d] != 1 ||
        g->out[d] != 1)
      return args.fail("the leading " + std::to_string(3 - g->rank) + " of the 3 padded dims of a rank-" +
                       std::to_string(g->rank) + " geometry must be (in 1, kernel 1, stride 1, padding 0, dilation 1, out 1)");
  if (!args.i64(21, "outStart", 0, &g->outStart) || !args.i64(22, "outCount", 0, &g->outCount)) return false;
  const int rd = 3 - g->rank;
  if (g->outStart + g->outCount > g->out[rd])
    return args.fail("chunk [" + std::to_string(g->outStart) + ", " + std::to_string(g->outStart + g->outCount) +
                     ") exceeds the outermost output size " + std::to_string(g->out[rd]));
  return true;
}

bool checkSizes(Args& args, const ConvGeometry& g, const F32View& x, const F32View& col) {
  const __int128 xN = static_cast<__int128>(g.channels) * g.in[0] * g.in[1] * g.in[2];
  __int128 L = g.outCount;
  for (int d = 3 - g.rank + 1; d < 3; ++d) L *= g.out[d];
  const __int128 colN = static_cast<__int128>(g.channels) * g.kernel[0] * g.kernel[1] * g.kernel[2] * L;
  if (xN > kMaxElems || colN > kMaxElems) return args.fail("sizes are too large (more than 2^53 elements)");
  return checkExtent(args, "x", x, 0, static_cast<int64_t>(xN)) &&
         checkExtent(args, "col", col, 0, static_cast<int64_t>(colN));
}

}  // namespace

napi_value Im2colBinding(napi_env env, napi_callback_info info) {
  Args args(env, info, "im2col", 24);
  if (!args.ok()) return nullptr;
  ConvGeometry g{};
  F32View x{}, col{};
  if (!args.f32Array(0, "x", &x) || !parseGeometry(args, &g) || !args.f32Array(23, "col", &col) ||
      !checkSizes(args, g, x, col))
    return nullptr;
  im2col(g, x.data, col.data);
  return undefinedValue(env);
}

napi_value Col2imBinding(napi_env env, napi_callback_info info) {
  Args args(env, info, "col2im", 24);
  if (!args.ok()) return nullptr;
  ConvGeometry g{};
  F32View x{}, col{};
  if (!args.f32Array(0, "col", &col) || !parseGeometry(args, &g) || !args.f32Array(23, "x", &x) ||
      !checkSizes(args, g, x, col))
    return nullptr;
  col2im(g, col.data, x.data);
  return undefinedValue(env);
}

}  // namespace kiln
