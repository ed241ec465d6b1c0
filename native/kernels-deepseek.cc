// DeepSeek-V3 fused decode kernels (contract in kernels-deepseek.h): the generic body compiled for the baseline,
// AVX2 and AVX-512 (kernels-deepseek-generic.h), chosen by activeIsa(), plus the N-API bindings, which validate
// every size and array extent before any work and resolve the routed experts' weight arrays after routing.
#include "kernels-deepseek.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cpu.h"
#include "kernels-args.h"
#include "thread-pool.h"

namespace kiln {

namespace ds_scalar {
#include "kernels-deepseek-generic.h"
}  // namespace ds_scalar

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace ds_avx2 {
#define KILN_DS_AVX2
#include "kernels-deepseek-generic.h"
#undef KILN_DS_AVX2
}  // namespace ds_avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // the intrinsics' own _mm256_undefined_ps
namespace ds_avx512 {
#define KILN_DS_AVX512
#include "kernels-deepseek-generic.h"
#undef KILN_DS_AVX512
}  // namespace ds_avx512
#pragma GCC diagnostic pop
#pragma GCC pop_options

void mlaDecode(const MlaDecodeArgs& a) {
  switch (activeIsa()) {
    case Isa::Avx512: ds_avx512::mlaDecode(a); break;
    case Isa::Avx2: ds_avx2::mlaDecode(a); break;
    default: ds_scalar::mlaDecode(a);
  }
}

void linearRows(const float* X, int64_t T, int64_t K, const float* W, int64_t N, float* Y) {
  switch (activeIsa()) {
    case Isa::Avx512: ds_avx512::linearRows(X, T, K, W, N, Y); break;
    case Isa::Avx2: ds_avx2::linearRows(X, T, K, W, N, Y); break;
    default: ds_scalar::linearRows(X, T, K, W, N, Y);
  }
}

void headArgmax(const float* H, int64_t T, int64_t K, const float* W, const uint16_t* Wb, const float* wNorm, int64_t N,
                int32_t* ids) {
  switch (activeIsa()) {
    case Isa::Avx512: ds_avx512::headArgmax(H, T, K, W, Wb, wNorm, N, ids); break;
    case Isa::Avx2: ds_avx2::headArgmax(H, T, K, W, Wb, wNorm, N, ids); break;
    default: ds_scalar::headArgmax(H, T, K, W, Wb, wNorm, N, ids);
  }
}

void moeSelect(const float* scores, int64_t N, int64_t E, const float* bias, int64_t K, int64_t G, int64_t kg, int32_t* ids) {
  ds_scalar::moeSelect(scores, N, E, bias, K, G, kg, ids);  // comparisons only: no SIMD variant needed
}

void moeRoute(const MoeDecodeArgs& a, int32_t* ids, float* gates) {
  switch (activeIsa()) {
    case Isa::Avx512: ds_avx512::moeRoute(a, ids, gates); break;
    case Isa::Avx2: ds_avx2::moeRoute(a, ids, gates); break;
    default: ds_scalar::moeRoute(a, ids, gates);
  }
}

void moeDecode(const MoeDecodeArgs& a) {
  switch (activeIsa()) {
    case Isa::Avx512: ds_avx512::moeDecode(a); break;
    case Isa::Avx2: ds_avx2::moeDecode(a); break;
    default: ds_scalar::moeDecode(a);
  }
}

namespace {

constexpr int64_t kMaxDim = int64_t{1} << 24;

// KArgs with access to a raw argument (the experts array) and a null test.
class DsArgs : public KArgs {
 public:
  using KArgs::KArgs;
  napi_value at(size_t i) const { return get(i); }
  bool isNull(size_t i) const {
    napi_valuetype t;
    return i >= count() || (napi_typeof(env(), get(i), &t) == napi_ok && (t == napi_null || t == napi_undefined));
  }
};
constexpr int64_t kMaxRows = 64;

// dims[i] as an integer in [lo, hi].
bool dimAt(DsArgs& args, const double* dims, int i, const char* name, int64_t lo, int64_t hi, int64_t* out) {
  const double v = dims[i];
  if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)) || v != std::floor(v))
    return args.fail(std::string("dims[") + std::to_string(i) + "] (" + name + ") must be an integer in [" +
                     std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v));
  *out = static_cast<int64_t>(v);
  return true;
}

bool weight(DsArgs& args, size_t i, const char* name, int64_t need, const float** out, bool nullable = false) {
  float* p = nullptr;
  int64_t len = 0;
  if (!args.f32(i, name, &p, &len, nullable)) return false;
  if (p == nullptr && nullable) {
    *out = nullptr;
    return true;
  }
  if (!args.need(name, len, need, "this layer's shape")) return false;
  *out = p;
  return true;
}

}  // namespace

// mlaDecode(x, T, dims, norm, qA, qANorm, qB, kvA, kvANorm, kvB, o, cos, sin, cache, cacheLen, out)
// dims (Float64Array): [d, H, n, p, v, r, qr, eps, scale, interleaved]; qr = 0: qA/qANorm null and qB is q_proj.
napi_value MlaDecodeBinding(napi_env env, napi_callback_info info) {
  DsArgs args(env, info, "mlaDecode", 16);
  if (!args.ok()) return nullptr;
  MlaDecodeArgs a{};
  double* dims = nullptr;
  int64_t dn = 0, il = 0;
  if (!args.i64(1, "T", 1, &a.T, kMaxRows) || !args.f64Array(2, "dims", &dims, &dn)) return nullptr;
  if (dn < 10) {
    args.fail("dims must hold 10 numbers [d, H, n, p, v, r, qr, eps, scale, interleaved]");
    return nullptr;
  }
  if (!dimAt(args, dims, 0, "d", 1, kMaxDim, &a.d) || !dimAt(args, dims, 1, "H", 1, 4096, &a.H) ||
      !dimAt(args, dims, 2, "n", 0, 4096, &a.n) || !dimAt(args, dims, 3, "p", 0, 4096, &a.p) ||
      !dimAt(args, dims, 4, "v", 1, 4096, &a.v) || !dimAt(args, dims, 5, "r", 1, kMaxLatent, &a.r) ||
      !dimAt(args, dims, 6, "qr", 0, kMaxDim, &a.qr) || !dimAt(args, dims, 9, "interleaved", 0, 1, &il))
    return nullptr;
  if (a.p % 2 != 0) {
    args.fail("dims[3] (p, the RoPE head dim) must be even");
    return nullptr;
  }
  a.eps = static_cast<float>(dims[7]);
  a.scale = static_cast<float>(dims[8]);
  a.interleaved = il == 1;
  if (!(std::isfinite(dims[7]) && dims[7] >= 0) || !std::isfinite(dims[8]))
    {
    args.fail("dims[7] (eps) and dims[8] (scale) must be finite, eps >= 0");
    return nullptr;
  }
  const int64_t d = a.d, H = a.H, qk = a.n + a.p, w = a.r + a.p, T = a.T;
  float* x = nullptr;
  int64_t xl = 0;
  if (!args.f32(0, "x", &x, &xl) || !args.need("x", xl, T * d, "T·d")) return nullptr;
  a.x = x;
  if (!weight(args, 3, "norm", d, &a.norm)) return nullptr;
  if (a.qr > 0) {
    if (!weight(args, 4, "qA", a.qr * d, &a.qA) || !weight(args, 5, "qANorm", a.qr, &a.qANorm) ||
        !weight(args, 6, "qB", H * qk * a.qr, &a.qB))
      return nullptr;
  } else if (!weight(args, 6, "qB (q_proj)", H * qk * d, &a.qB)) {
    return nullptr;
  }
  if (!weight(args, 7, "kvA", w * d, &a.kvA) || !weight(args, 8, "kvANorm", a.r, &a.kvANorm) ||
      !weight(args, 9, "kvB", H * (a.n + a.v) * a.r, &a.kvB) || !weight(args, 10, "o", d * H * a.v, &a.o) ||
      !weight(args, 11, "cos", T * (a.p / 2), &a.cos) || !weight(args, 12, "sin", T * (a.p / 2), &a.sin))
    return nullptr;
  float* cache = nullptr;
  int64_t cl = 0;
  if (!args.f32(13, "cache", &cache, &cl) || !args.i64(14, "cacheLen", 0, &a.cacheLen, kMaxDim) ||
      !args.need("cache", cl, (a.cacheLen + T) * w, "(cacheLen + T)·(r + p)"))
    return nullptr;
  a.cache = cache;
  float* out = nullptr;
  int64_t ol = 0;
  if (!args.f32(15, "out", &out, &ol) || !args.need("out", ol, T * d, "T·d")) return nullptr;
  if (out != x && out < x + T * d && x < out + T * d)
    {
    args.fail("out must be x itself or not overlap it");
    return nullptr;
  }
  a.out = out;
  mlaDecode(a);
  return undefinedValue(env);
}

// moeDecode(h, T, dims, norm, gate, bias, experts, sharedGate, sharedUp, sharedDown, out, ids)
// dims (Float64Array): [d, eps, E, K, G, kg, normTopk, routedScale, I, Is]; E = 0: gate/bias/experts null.
napi_value MoeDecodeBinding(napi_env env, napi_callback_info info) {
  DsArgs args(env, info, "moeDecode", 12);
  if (!args.ok()) return nullptr;
  MoeDecodeArgs a{};
  double* dims = nullptr;
  int64_t dn = 0, nt = 0;
  if (!args.i64(1, "T", 1, &a.T, kMaxRows) || !args.f64Array(2, "dims", &dims, &dn)) return nullptr;
  if (dn < 10) {
    args.fail("dims must hold 10 numbers [d, eps, E, K, G, kg, normTopk, routedScale, I, Is]");
    return nullptr;
  }
  if (!dimAt(args, dims, 0, "d", 1, kMaxDim, &a.d) || !dimAt(args, dims, 2, "E", 0, kMaxExperts, &a.E) ||
      !dimAt(args, dims, 6, "normTopk", 0, 1, &nt) || !dimAt(args, dims, 8, "I", 0, kMaxDim, &a.I) ||
      !dimAt(args, dims, 9, "Is", 0, kMaxDim, &a.Is))
    return nullptr;
  if (a.E > 0) {
    if (!dimAt(args, dims, 3, "K", 1, a.E, &a.K) || !dimAt(args, dims, 4, "G", 1, a.E, &a.G) ||
        !dimAt(args, dims, 5, "kg", 1, a.G, &a.kg) || !dimAt(args, dims, 8, "I", 1, kMaxDim, &a.I))
      return nullptr;
    if (a.E % a.G != 0) {
    args.fail("dims[4] (G) must divide E");
    return nullptr;
  }
  }
  if (a.E == 0 && a.Is == 0) {
    args.fail("nothing to compute: E = 0 and Is = 0");
    return nullptr;
  }
  if (a.T * a.K * 2 + 2 > kMaxGemvJobs) {
    args.fail("T·K is too large for one call (T·K·2 + 2 > 512)");
    return nullptr;
  }
  a.eps = static_cast<float>(dims[1]);
  a.normTopk = nt == 1;
  a.routedScale = static_cast<float>(dims[7]);
  if (!(std::isfinite(dims[1]) && dims[1] >= 0) || !std::isfinite(dims[7]))
    {
    args.fail("dims[1] (eps) and dims[7] (routedScale) must be finite, eps >= 0");
    return nullptr;
  }
  const int64_t d = a.d, T = a.T;
  float* h = nullptr;
  int64_t hl = 0;
  if (!args.f32(0, "h", &h, &hl) || !args.need("h", hl, T * d, "T·d")) return nullptr;
  a.h = h;
  if (!weight(args, 3, "norm", d, &a.norm)) return nullptr;
  if (a.E > 0 && (!weight(args, 4, "gate", a.E * d, &a.gate) || !weight(args, 5, "bias", a.E, &a.bias))) return nullptr;
  if (a.Is > 0 && (!weight(args, 7, "sharedGate", a.Is * d, &a.sharedGate) || !weight(args, 8, "sharedUp", a.Is * d, &a.sharedUp) ||
                   !weight(args, 9, "sharedDown", d * a.Is, &a.sharedDown)))
    return nullptr;
  float* out = nullptr;
  int64_t ol = 0;
  if (!args.f32(10, "out", &out, &ol) || !args.need("out", ol, T * d, "T·d")) return nullptr;
  if (out != h && out < h + T * d && h < out + T * d)
    {
    args.fail("out must be h itself or not overlap it");
    return nullptr;
  }
  a.out = out;
  int32_t* idsOut = nullptr;
  if (a.E > 0) {
    if (!args.isNull(11)) {
      int64_t il = 0;
      if (!args.i32(11, "ids", &idsOut, &il) || !args.need("ids", il, T * a.K, "T·K")) return nullptr;
    }
  }
  std::vector<int32_t> ids(static_cast<size_t>(T * a.K));
  std::vector<float> gates(static_cast<size_t>(T * a.K));
  std::vector<const float*> ew(static_cast<size_t>(T * a.K * 3));
  if (a.E > 0) {
    moeRoute(a, ids.data(), gates.data());
    // the experts' weights: a JS array of 3·E Float32Arrays (gate, up, down of expert e at 3e, 3e+1, 3e+2)
    const napi_value experts = args.at(6);
    bool isArr = false;
    uint32_t len = 0;
    if (napi_is_array(env, experts, &isArr) != napi_ok || !isArr || napi_get_array_length(env, experts, &len) != napi_ok ||
        len < static_cast<uint32_t>(3 * a.E))
      {
    args.fail("experts must be an array of 3·E Float32Arrays (gate, up, down per expert)");
    return nullptr;
  }
    const int64_t sizes[3] = {a.I * d, a.I * d, d * a.I};
    for (int64_t tk = 0; tk < T * a.K; ++tk)
      for (int j = 0; j < 3; ++j) {
        napi_value el;
        napi_typedarray_type ty;
        size_t n = 0;
        void* data = nullptr;
        bool typed = false;
        const uint32_t idx = static_cast<uint32_t>(3 * ids[static_cast<size_t>(tk)] + j);
        if (napi_get_element(env, experts, idx, &el) != napi_ok || napi_is_typedarray(env, el, &typed) != napi_ok || !typed ||
            napi_get_typedarray_info(env, el, &ty, &n, &data, nullptr, nullptr) != napi_ok || ty != napi_float32_array ||
            static_cast<int64_t>(n) < sizes[j] || (data == nullptr && sizes[j] > 0))
        {
          args.fail("experts[" + std::to_string(idx) + "] must be a Float32Array of at least " + std::to_string(sizes[j]) + " elements");
          return nullptr;
        }
        ew[static_cast<size_t>(tk * 3 + j)] = static_cast<const float*>(data);
      }
  } else {
    a.K = 0;
  }
  a.expertW = ew.data();
  a.gates = gates.data();
  moeDecode(a);
  if (idsOut) std::memcpy(idsOut, ids.data(), ids.size() * sizeof(int32_t));
  return undefinedValue(env);
}

// linearRows(x, T, K, w, N, y): y[T, N] = x[T, K]·w[N, K]ᵀ
napi_value LinearRowsBinding(napi_env env, napi_callback_info info) {
  DsArgs args(env, info, "linearRows", 6);
  if (!args.ok()) return nullptr;
  int64_t T = 0, K = 0, N = 0, xl = 0, wl = 0, yl = 0;
  float *x = nullptr, *w = nullptr, *y = nullptr;
  if (!args.i64(1, "T", 1, &T, kMaxRows) || !args.i64(2, "K", 1, &K, kMaxDim) || !args.i64(4, "N", 1, &N, kMaxDim) ||
      !args.f32(0, "x", &x, &xl) || !args.need("x", xl, T * K, "T·K") || !args.f32(3, "w", &w, &wl) ||
      !args.need("w", wl, N * K, "N·K") || !args.f32(5, "y", &y, &yl) || !args.need("y", yl, T * N, "T·N"))
    return nullptr;
  if ((y < x + T * K && x < y + T * N) || (y < w + N * K && w < y + T * N)) {
    args.fail("y must not overlap x or w");
    return nullptr;
  }
  linearRows(x, T, K, w, N, y);
  return undefinedValue(env);
}

// moeSelect(scores, N, E, bias, K, G, kg, ids): ids [N, K]
napi_value MoeSelectBinding(napi_env env, napi_callback_info info) {
  DsArgs args(env, info, "moeSelect", 8);
  if (!args.ok()) return nullptr;
  int64_t N = 0, E = 0, K = 0, G = 0, kg = 0, sl = 0, bl = 0, il = 0;
  float *scores = nullptr, *bias = nullptr;
  int32_t* ids = nullptr;
  if (!args.i64(1, "N", 0, &N) || !args.i64(2, "E", 1, &E, kMaxExperts) || !args.i64(4, "K", 1, &K, E) ||
      !args.i64(5, "G", 1, &G, E) || !args.i64(6, "kg", 1, &kg, G) || !args.f32(0, "scores", &scores, &sl) ||
      !args.need("scores", sl, N * E, "N·E") || !args.f32(3, "bias", &bias, &bl) || !args.need("bias", bl, E, "E") ||
      !args.i32(7, "ids", &ids, &il) || !args.need("ids", il, N * K, "N·K"))
    return nullptr;
  if (E % G != 0) {
    args.fail("G = " + std::to_string(G) + " must divide E = " + std::to_string(E));
    return nullptr;
  }
  moeSelect(scores, N, E, bias, K, G, kg, ids);
  return undefinedValue(env);
}

// headArgmax(h, T, K, w, wb, wNorm, N, ids): ids [T]
napi_value HeadArgmaxBinding(napi_env env, napi_callback_info info) {
  DsArgs args(env, info, "headArgmax", 8);
  if (!args.ok()) return nullptr;
  int64_t T = 0, K = 0, N = 0, hl = 0, wl = 0, nl = 0, il = 0;
  float *h = nullptr, *w = nullptr, *wn = nullptr;
  int32_t* ids = nullptr;
  TypedView wb{};
  if (!args.i64(1, "T", 1, &T, kMaxRows) || !args.i64(2, "K", 1, &K, kMaxDim) || !args.i64(6, "N", 1, &N, kMaxDim) ||
      !args.f32(0, "h", &h, &hl) || !args.need("h", hl, T * K, "T·K") || !args.f32(3, "w", &w, &wl) ||
      !args.need("w", wl, N * K, "N·K") || !args.typed(4, "wb", &wb) || !args.f32(5, "wNorm", &wn, &nl) ||
      !args.need("wNorm", nl, N, "N") || !args.i32(7, "ids", &ids, &il) || !args.need("ids", il, T, "T"))
    return nullptr;
  if (wb.type != napi_uint16_array) {
    args.fail("wb must be a Uint16Array (the bf16 bits of w)");
    return nullptr;
  }
  if (!args.need("wb", wb.length, N * K, "N·K")) return nullptr;
  headArgmax(h, T, K, w, static_cast<const uint16_t*>(wb.data), wn, N, ids);
  return undefinedValue(env);
}

}  // namespace kiln
