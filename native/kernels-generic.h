// The row kernels of kernels.h written once over the SIMD traits `V` of kernels-simd.h; included by each per-ISA
// translation unit inside its own namespace (so the instantiations never collide across ISAs). Loops run over full
// vectors and finish with one masked vector, so there is no separate scalar tail. Semantics follow the TypeScript
// reference line by line (see the comments naming its formulas); numerical notes are in kernels.h.

using F = V::F;
using M = V::M;
using D = V::D;
using MD = V::MD;

constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr double kInfD = std::numeric_limits<double>::infinity();

// ───────────────────────────── math ─────────────────────────────

// f32 exp (Cephes expf polynomial; ≤ 2 ulp). NaN stays NaN, -inf → 0, +inf → inf.
inline F expF(F x) { return expApprox<V>(x); }

// f32 tanh (Cephes tanhf): an odd polynomial below 0.625, 1 − 2/(exp(2|x|) + 1) above; ≤ 3 ulp.
inline F tanhF(F x) {
  const F one = V::set1(1.0f);
  const F a = V::abs(x);
  const F e = expF(V::add(a, a));
  const F large = V::sub(one, V::div(V::set1(2.0f), V::add(e, one)));
  const F s = V::mul(x, x);
  F p = V::set1(-5.70498872745e-3f);
  p = V::fma(p, s, V::set1(2.06390887954e-2f));
  p = V::fma(p, s, V::set1(-5.37397155531e-2f));
  p = V::fma(p, s, V::set1(1.33314422036e-1f));
  p = V::fma(p, s, V::set1(-3.33332819422e-1f));
  const F small = V::fma(V::mul(p, s), x, x);
  // copysign(large, x): large is positive (or NaN), so flip it where x < 0
  const F signedLarge = V::sel(V::cmp<kLT>(x, V::set1(0.0f)), V::neg(large), large);
  return V::sel(V::cmp<kLT>(a, V::set1(0.625f)), small, signedLarge);
}

// f64 exp: Cody-Waite reduction by ln 2 (fdlibm's split) and a degree-11 Taylor polynomial on |r| ≤ ln2/2
// (truncation < 6e-15 relative); scalef handles overflow to inf and underflow to 0.
inline D expD(D x) {
  x = V::maxD(V::set1D(-746.0), x);
  x = V::minD(V::set1D(710.0), x);
  const D n = V::roundD(V::mulD(x, V::set1D(1.4426950408889634)));
  D r = V::fmaD(n, V::set1D(-6.93147180369123816490e-01), x);
  r = V::fmaD(n, V::set1D(-1.90821492927058770002e-10), r);
  D p = V::set1D(1.0 / 39916800.0);
  p = V::fmaD(p, r, V::set1D(1.0 / 3628800.0));
  p = V::fmaD(p, r, V::set1D(1.0 / 362880.0));
  p = V::fmaD(p, r, V::set1D(1.0 / 40320.0));
  p = V::fmaD(p, r, V::set1D(1.0 / 5040.0));
  p = V::fmaD(p, r, V::set1D(1.0 / 720.0));
  p = V::fmaD(p, r, V::set1D(1.0 / 120.0));
  p = V::fmaD(p, r, V::set1D(1.0 / 24.0));
  p = V::fmaD(p, r, V::set1D(1.0 / 6.0));
  p = V::fmaD(p, r, V::set1D(0.5));
  p = V::fmaD(p, r, V::set1D(1.0));
  p = V::fmaD(p, r, V::set1D(1.0));
  return V::scalefD(p, n);
}

// f64 log: x = m·2^e with m in [√½, √2), log m = 2·atanh(s), s = (m−1)/(m+1), series to s^19 (< 1e-16 relative).
inline D logD(D x) {
  D e = V::getexpD(x);
  D m = V::getmantD(x);
  const MD big = V::cmpD<kGT>(m, V::set1D(1.4142135623730951));
  m = V::selD(big, V::mulD(m, V::set1D(0.5)), m);
  e = V::selD(big, V::addD(e, V::set1D(1.0)), e);
  const D f = V::subD(m, V::set1D(1.0));
  const D s = V::divD(f, V::addD(f, V::set1D(2.0)));
  const D s2 = V::mulD(s, s);
  D p = V::set1D(1.0 / 19.0);
  p = V::fmaD(p, s2, V::set1D(1.0 / 17.0));
  p = V::fmaD(p, s2, V::set1D(1.0 / 15.0));
  p = V::fmaD(p, s2, V::set1D(1.0 / 13.0));
  p = V::fmaD(p, s2, V::set1D(1.0 / 11.0));
  p = V::fmaD(p, s2, V::set1D(1.0 / 9.0));
  p = V::fmaD(p, s2, V::set1D(1.0 / 7.0));
  p = V::fmaD(p, s2, V::set1D(1.0 / 5.0));
  p = V::fmaD(p, s2, V::set1D(1.0 / 3.0));
  p = V::fmaD(p, s2, V::set1D(1.0));
  D l = V::fmaD(e, V::set1D(0.6931471805599453), V::mulD(V::addD(s, s), p));
  l = V::selD(V::cmpD<kEQ>(x, V::set1D(0.0)), V::set1D(-kInfD), l);
  l = V::selD(V::cmpD<kLT>(x, V::set1D(0.0)), V::set1D(std::numeric_limits<double>::quiet_NaN()), l);
  l = V::selD(V::cmpD<kEQ>(x, V::set1D(kInfD)), V::set1D(kInfD), l);
  return V::selD(V::cmpD<kUNORD>(x, x), x, l);
}

// f64 tanh: 1 − 2/(exp(2|x|) + 1) (fdlibm's form, so results near ±1 round like the reference's Math.tanh) for
// |x| ≥ 1e-3, a Taylor polynomial below (no cancellation).
inline D tanhD(D x) {
  const D one = V::set1D(1.0);
  const D a = V::absD(x);
  const D e = expD(V::addD(a, a));
  const D large = V::subD(one, V::divD(V::set1D(2.0), V::addD(e, one)));
  const D a2 = V::mulD(a, a);
  const D small = V::mulD(a, V::fmaD(a2, V::fmaD(a2, V::set1D(2.0 / 15.0), V::set1D(-1.0 / 3.0)), one));
  return V::copysignD(V::selD(V::cmpD<kLT>(a, V::set1D(1e-3)), small, large), x);
}

// The reference's erf, evaluated in the same order: the Maclaurin series for |x| < 0.5, Numerical Recipes' erfc
// Chebyshev fit (|error| < 1.2e-7) beyond.
inline D erfD(D x) {
  static constexpr double kSeries[] = {1.1283791670955126, -0.37612638903183754, 0.11283791670955126, -0.026866170645131252, 0.005223977625442188, -0.0008548327023450852, 0.00012055332981789664, -1.492565035840625e-05, 1.6462114365889246e-06, -1.6365844691234924e-07, 1.4807192815879218e-08, -1.2290555301717926e-09};
  const D x2 = V::mulD(x, x);
  D s = V::set1D(kSeries[11]);
  for (int n = 10; n >= 0; n--) s = V::addD(V::mulD(s, x2), V::set1D(kSeries[n]));
  const D series = V::mulD(x, s);
  const D z = V::absD(x);
  const D one = V::set1D(1.0);
  const D t = V::divD(one, V::addD(one, V::mulD(V::set1D(0.5), z)));
  D p = V::mulD(t, V::set1D(0.17087277));
  p = V::mulD(t, V::addD(V::set1D(-0.82215223), p));
  p = V::mulD(t, V::addD(V::set1D(1.48851587), p));
  p = V::mulD(t, V::addD(V::set1D(-1.13520398), p));
  p = V::mulD(t, V::addD(V::set1D(0.27886807), p));
  p = V::mulD(t, V::addD(V::set1D(-0.18628806), p));
  p = V::mulD(t, V::addD(V::set1D(0.09678418), p));
  p = V::mulD(t, V::addD(V::set1D(0.37409196), p));
  p = V::addD(V::set1D(1.00002368), p);
  const D arg = V::addD(V::subD(V::mulD(V::subD(V::set1D(0.0), z), z), V::set1D(1.26551223)), V::mulD(t, p));
  const D r = V::mulD(t, expD(arg));
  const D fit = V::selD(V::cmpD<kGE>(x, V::set1D(0.0)), V::subD(one, r), V::subD(r, one));
  return V::selD(V::cmpD<kLT>(z, V::set1D(0.5)), series, fit);
}

// ───────────────────────────── maps ─────────────────────────────

template <class Fn>
inline void mapF(const float* x, float* out, int64_t n, Fn fn) {
  int64_t i = 0;
  const M full = V::mask(V::N);
  for (; i + V::N <= n; i += V::N) V::store(out + i, full, fn(V::load(x + i, full)));
  if (i < n) {
    const M m = V::mask(n - i);
    V::store(out + i, m, fn(V::load(x + i, m)));
  }
}

template <class Fn>
inline void mapD(const float* x, float* out, int64_t n, Fn fn) {
  int64_t i = 0;
  const MD full = V::maskD(V::ND);
  for (; i + V::ND <= n; i += V::ND) V::storeD(out + i, full, fn(V::loadD(x + i, full)));
  if (i < n) {
    const MD m = V::maskD(n - i);
    V::storeD(out + i, m, fn(V::loadD(x + i, m)));
  }
}

template <class Fn>
inline void mapScalarD(const float* x, float* out, int64_t n, Fn fn) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(fn(static_cast<double>(x[i])));
}

void unaryK(int op, const float* x, float* out, int64_t n) {
  const F zero = V::set1(0.0f), one = V::set1(1.0f);
  switch (op) {
    case kNeg: return mapF(x, out, n, [](F v) { return V::neg(v); });
    case kAbs: return mapF(x, out, n, [](F v) { return V::abs(v); });
    case kSqrt: return mapF(x, out, n, [](F v) { return V::sqrt(v); });
    case kSquare: return mapF(x, out, n, [](F v) { return V::mul(v, v); });
    case kReciprocal: return mapF(x, out, n, [=](F v) { return V::div(one, v); });
    case kRelu: return mapF(x, out, n, [=](F v) { return V::sel(V::cmp<kGT>(v, zero), v, zero); });
    case kSign:
      return mapF(x, out, n, [=](F v) {
        return V::sel(V::cmp<kGT>(v, zero), one,
                      V::sel(V::cmp<kLT>(v, zero), V::set1(-1.0f), V::sel(V::cmp<kEQ>(v, zero), zero, v)));
      });
    // exp, tanh, sigmoid and silu run in f32 (≤ 2-4 ulp, see kernels.h); the others in double.
    case kExp: return mapF(x, out, n, [](F v) { return expF(v); });
    case kLog: return mapD(x, out, n, [](D v) { return logD(v); });
    case kRsqrt: return mapD(x, out, n, [](D v) { return V::divD(V::set1D(1.0), V::sqrtD(v)); });
    case kTanh: return mapF(x, out, n, [](F v) { return tanhF(v); });
    case kSigmoid: return mapF(x, out, n, [=](F v) { return V::div(one, V::add(one, expF(V::neg(v)))); });
    case kSilu: return mapF(x, out, n, [=](F v) { return V::div(v, V::add(one, expF(V::neg(v)))); });
    case kGelu:  // 0.5·x·(1 + erf(x/√2))
      return mapD(x, out, n, [](D v) {
        const D e = erfD(V::mulD(v, V::set1D(0.7071067811865476)));
        return V::mulD(V::mulD(V::set1D(0.5), v), V::addD(V::set1D(1.0), e));
      });
    case kGeluTanh:  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      return mapD(x, out, n, [](D v) {
        const D cube = V::mulD(V::mulD(V::mulD(V::set1D(0.044715), v), v), v);
        const D th = tanhD(V::mulD(V::set1D(0.7978845608028654), V::addD(v, cube)));
        return V::mulD(V::mulD(V::set1D(0.5), v), V::addD(V::set1D(1.0), th));
      });
    case kErf: return mapD(x, out, n, [](D v) { return erfD(v); });
    // The activations' derivatives (their backward passes), in double in the reference's order.
    case kSiluGrad:  // s·(1 + x·(1 − s)), s = σ(x)
      return mapD(x, out, n, [](D v) {
        const D one = V::set1D(1.0);
        const D s = V::divD(one, V::addD(one, expD(V::subD(V::set1D(0.0), v))));
        return V::mulD(s, V::addD(one, V::mulD(v, V::subD(one, s))));
      });
    case kGeluGrad:  // Φ(x) + x·φ(x)
      return mapD(x, out, n, [](D v) {
        const D cdf = V::mulD(V::set1D(0.5), V::addD(V::set1D(1.0), erfD(V::mulD(v, V::set1D(0.7071067811865476)))));
        const D pdf = V::mulD(expD(V::mulD(V::mulD(V::set1D(-0.5), v), v)), V::set1D(0.3989422804014327));
        return V::addD(cdf, V::mulD(v, pdf));
      });
    case kGeluTanhGrad:  // ½(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²), t = tanh(√(2/π)·(x + 0.044715·x³))
      return mapD(x, out, n, [](D v) {
        const D one = V::set1D(1.0), c = V::set1D(0.7978845608028654);
        const D cube = V::mulD(V::mulD(V::mulD(V::set1D(0.044715), v), v), v);
        const D t = tanhD(V::mulD(c, V::addD(v, cube)));
        const D a = V::mulD(V::set1D(0.5), V::addD(one, t));
        const D b = V::mulD(V::mulD(V::mulD(V::mulD(V::set1D(0.5), v), V::subD(one, V::mulD(t, t))), c),
                            V::addD(one, V::mulD(V::mulD(V::set1D(3 * 0.044715), v), v)));
        return V::addD(a, b);
      });
    case kSin: return mapScalarD(x, out, n, [](double v) { return std::sin(v); });
    case kCos: return mapScalarD(x, out, n, [](double v) { return std::cos(v); });
    default: return;
  }
}

// ───────────────────────────── binary ─────────────────────────────

// JavaScript's Math.pow differs from C's pow in two cases: pow(±1, ±inf) and pow(1, NaN) are NaN.
inline double jsPow(double a, double b) {
  if (b != b) return b;
  if (std::fabs(a) == 1.0 && std::isinf(b)) return std::numeric_limits<double>::quiet_NaN();
  return std::pow(a, b);
}

// Applies fn to (a[i*sa], b[i*sb]) with sa, sb in {0, 1}: four loops so the broadcast operand is a register.
template <bool SA, bool SB, class Fn>
inline void zip2(const float* a, const float* b, float* out, int64_t n, Fn fn) {
  const F av = SA ? V::set1(0.0f) : V::set1(*a);
  const F bv = SB ? V::set1(0.0f) : V::set1(*b);
  int64_t i = 0;
  const M full = V::mask(V::N);
  for (; i + V::N <= n; i += V::N)
    V::store(out + i, full, fn(SA ? V::load(a + i, full) : av, SB ? V::load(b + i, full) : bv));
  if (i < n) {
    const M m = V::mask(n - i);
    V::store(out + i, m, fn(SA ? V::load(a + i, m) : av, SB ? V::load(b + i, m) : bv));
  }
}

template <class Fn>
inline void zip(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n, Fn fn) {
  if (sa && sb) zip2<true, true>(a, b, out, n, fn);
  else if (sa) zip2<true, false>(a, b, out, n, fn);
  else if (sb) zip2<false, true>(a, b, out, n, fn);
  else zip2<false, false>(a, b, out, n, fn);
}

template <int C>
inline F cmpToF(F a, F b) {
  return V::sel(V::cmp<C>(a, b), V::set1(1.0f), V::set1(0.0f));
}

void binaryK(int op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  switch (op) {
    case kAdd: return zip(a, sa, b, sb, out, n, [](F x, F y) { return V::add(x, y); });
    case kSub: return zip(a, sa, b, sb, out, n, [](F x, F y) { return V::sub(x, y); });
    case kMul: return zip(a, sa, b, sb, out, n, [](F x, F y) { return V::mul(x, y); });
    case kDiv: return zip(a, sa, b, sb, out, n, [](F x, F y) { return V::div(x, y); });
    case kMax:  // a >= b || isNaN(a) ? a : b
      return zip(a, sa, b, sb, out, n,
                 [](F x, F y) { return V::sel(V::mor(V::cmp<kGE>(x, y), V::cmp<kUNORD>(x, x)), x, y); });
    case kMin:
      return zip(a, sa, b, sb, out, n,
                 [](F x, F y) { return V::sel(V::mor(V::cmp<kLE>(x, y), V::cmp<kUNORD>(x, x)), x, y); });
    case kEq: return zip(a, sa, b, sb, out, n, cmpToF<kEQ>);
    case kNe: return zip(a, sa, b, sb, out, n, cmpToF<kNE>);
    case kLt: return zip(a, sa, b, sb, out, n, cmpToF<kLT>);
    case kLe: return zip(a, sa, b, sb, out, n, cmpToF<kLE>);
    case kGt: return zip(a, sa, b, sb, out, n, cmpToF<kGT>);
    case kGe: return zip(a, sa, b, sb, out, n, cmpToF<kGE>);
    case kPow:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(jsPow(a[i * sa], b[i * sb]));
      return;
    default: return;
  }
}

// op(a[i], s) in double (the scalar is not an f32): widen, compute, round once.
template <class Fn>
inline void mapSD(const float* a, float* out, int64_t n, Fn fn) {
  mapD(a, out, n, fn);
}

void binaryScalarK(int op, const float* a, double s, bool scalarFirst, float* out, int64_t n) {
  if (op == kPow) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<float>(scalarFirst ? jsPow(s, a[i]) : jsPow(a[i], s));
    return;
  }
  const float sf = static_cast<float>(s);
  if (static_cast<double>(sf) == s || s != s) {
    // Exactly an f32: the f32 operation equals the f64 one rounded.
    if (scalarFirst) binaryK(op, &sf, 0, a, 1, out, n);
    else binaryK(op, a, 1, &sf, 0, out, n);
    return;
  }
  const D sv = V::set1D(s), one = V::set1D(1.0), zero = V::set1D(0.0);
  auto run = [&](auto fn) {
    if (scalarFirst) mapSD(a, out, n, [&](D x) { return fn(sv, x); });
    else mapSD(a, out, n, [&](D x) { return fn(x, sv); });
  };
  switch (op) {
    case kAdd: return run([](D x, D y) { return V::addD(x, y); });
    case kSub: return run([](D x, D y) { return V::subD(x, y); });
    case kMul: return run([](D x, D y) { return V::mulD(x, y); });
    case kDiv: return run([](D x, D y) { return V::divD(x, y); });
    case kMax: return run([](D x, D y) { return V::selD(V::morD(V::cmpD<kGE>(x, y), V::cmpD<kUNORD>(x, x)), x, y); });
    case kMin: return run([](D x, D y) { return V::selD(V::morD(V::cmpD<kLE>(x, y), V::cmpD<kUNORD>(x, x)), x, y); });
    case kEq: return run([=](D x, D y) { return V::selD(V::cmpD<kEQ>(x, y), one, zero); });
    case kNe: return run([=](D x, D y) { return V::selD(V::cmpD<kNE>(x, y), one, zero); });
    case kLt: return run([=](D x, D y) { return V::selD(V::cmpD<kLT>(x, y), one, zero); });
    case kLe: return run([=](D x, D y) { return V::selD(V::cmpD<kLE>(x, y), one, zero); });
    case kGt: return run([=](D x, D y) { return V::selD(V::cmpD<kGT>(x, y), one, zero); });
    case kGe: return run([=](D x, D y) { return V::selD(V::cmpD<kGE>(x, y), one, zero); });
    default: return;
  }
}

void whereK(const float* c, int64_t sc, const float* a, int64_t sa, const float* b, int64_t sb, float* out,
            int64_t n) {
  const F zero = V::set1(0.0f);
  const F cv = V::set1(*c), av = V::set1(*a), bv = V::set1(*b);
  int64_t i = 0;
  for (; i < n; i += V::N) {
    const M m = V::mask(n - i);
    const F cc = sc ? V::load(c + i, m) : cv;
    const F aa = sa ? V::load(a + i, m) : av;
    const F bb = sb ? V::load(b + i, m) : bv;
    V::store(out + i, m, V::sel(V::cmp<kNE>(cc, zero), aa, bb));
  }
}

// ───────────────────────────── reductions ─────────────────────────────

inline double sumRow(const float* x, int64_t r) {
  D a0 = V::set1D(0.0), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  const MD full = V::maskD(V::ND);
  for (; i + 4 * V::ND <= r; i += 4 * V::ND) {
    a0 = V::addD(a0, V::loadD(x + i, full));
    a1 = V::addD(a1, V::loadD(x + i + V::ND, full));
    a2 = V::addD(a2, V::loadD(x + i + 2 * V::ND, full));
    a3 = V::addD(a3, V::loadD(x + i + 3 * V::ND, full));
  }
  for (; i < r; i += V::ND) a0 = V::addD(a0, V::loadD(x + i, V::maskD(r - i)));
  return V::haddD(V::addD(V::addD(a0, a1), V::addD(a2, a3)));
}

// The reference's max/min over a row: the first NaN if any, else the first element equal to the extreme.
inline float extremeRow(const float* x, int64_t r, bool isMax) {
  if (r <= 0) return isMax ? -kInfF : kInfF;
  const F first = V::set1(x[0]);
  F acc = first;
  M nan = V::mask(0);
  for (int64_t i = 0; i < r; i += V::N) {
    const M m = V::mask(r - i);
    const F v = V::loadOr(x + i, m, first);
    acc = isMax ? V::max(v, acc) : V::min(v, acc);
    nan = V::mor(nan, V::cmp<kUNORD>(v, v));
  }
  if (V::any(nan)) {
    for (int64_t i = 0; i < r; ++i)
      if (x[i] != x[i]) return x[i];
  }
  const float best = isMax ? V::hmax(acc) : V::hmin(acc);
  if (best == 0.0f)
    for (int64_t i = 0; i < r; ++i)
      if (x[i] == 0.0f) return x[i];  // the sign of the first zero
  return best;
}

void reduceRowsK(int op, const float* x, int64_t r, float* out, int64_t k0, int64_t k1) {
  for (int64_t k = k0; k < k1; ++k) {
    const float* row = x + k * r;
    out[k] = op == kSum ? static_cast<float>(sumRow(row, r)) : extremeRow(row, r, op == kRedMax);
  }
}

constexpr int kColVecs = 8;  // accumulators per column block

void reduceColsK(int op, const float* x, int64_t r, int64_t inner, float* out, int64_t i0, int64_t i1) {
  if (op == kSum) {
    constexpr int64_t W = kColVecs * V::ND;
    for (int64_t i = i0; i < i1; i += W) {
      const int64_t w = std::min<int64_t>(W, i1 - i);
      D acc[kColVecs];
      MD mk[kColVecs];
      for (int k = 0; k < kColVecs; ++k) {
        acc[k] = V::set1D(0.0);
        mk[k] = V::maskD(w - k * V::ND);
      }
      const int kv = static_cast<int>((w + V::ND - 1) / V::ND);
      for (int64_t j = 0; j < r; ++j) {
        const float* p = x + j * inner + i;
        for (int k = 0; k < kv; ++k) acc[k] = V::addD(acc[k], V::loadD(p + k * V::ND, mk[k]));
      }
      for (int k = 0; k < kv; ++k) V::storeD(out + i + k * V::ND, mk[k], acc[k]);
    }
    return;
  }
  const bool isMax = op == kRedMax;
  constexpr int64_t W = 4 * V::N;
  for (int64_t i = i0; i < i1; i += W) {
    const int64_t w = std::min<int64_t>(W, i1 - i);
    F acc[4];
    M mk[4];
    const int kv = static_cast<int>((w + V::N - 1) / V::N);
    for (int k = 0; k < 4; ++k) {
      mk[k] = V::mask(w - k * V::N);
      acc[k] = r > 0 ? V::load(x + i + k * V::N, mk[k]) : V::set1(isMax ? -kInfF : kInfF);
    }
    for (int64_t j = 1; j < r; ++j) {
      const float* p = x + j * inner + i;
      for (int k = 0; k < kv; ++k) {
        const F v = V::load(p + k * V::N, mk[k]);
        // better(v, best) || isNaN(v), unless best is already NaN
        const M better = isMax ? V::cmp<kGT>(v, acc[k]) : V::cmp<kLT>(v, acc[k]);
        const M upd = V::mandn(V::mor(better, V::cmp<kUNORD>(v, v)), V::cmp<kUNORD>(acc[k], acc[k]));
        acc[k] = V::sel(upd, v, acc[k]);
      }
    }
    for (int k = 0; k < kv; ++k) V::store(out + i + k * V::N, mk[k], acc[k]);
  }
}

void argRowsK(int op, const float* x, int64_t r, int32_t* out, int64_t k0, int64_t k1) {
  const bool isMax = op == kRedMax;
  for (int64_t k = k0; k < k1; ++k) {
    const float* row = x + k * r;
    int32_t bi = 0;
    if (r > 1) {
      const F first = V::set1(row[0]);
      F acc = first;
      M nan = V::mask(0);
      for (int64_t i = 0; i < r; i += V::N) {
        const M m = V::mask(r - i);
        const F v = V::loadOr(row + i, m, first);
        acc = isMax ? V::max(v, acc) : V::min(v, acc);
        nan = V::mor(nan, V::cmp<kUNORD>(v, v));
      }
      if (V::any(nan)) {
        for (int64_t i = 0; i < r; ++i)
          if (row[i] != row[i]) {
            bi = static_cast<int32_t>(i);
            break;
          }
      } else {
        const F best = V::set1(isMax ? V::hmax(acc) : V::hmin(acc));
        const F nanv = V::set1(std::numeric_limits<float>::quiet_NaN());
        for (int64_t i = 0; i < r; i += V::N) {
          const M hit = V::cmp<kEQ>(V::loadOr(row + i, V::mask(r - i), nanv), best);
          if (V::any(hit)) {
            bi = static_cast<int32_t>(i + V::firstLane(hit));
            break;
          }
        }
      }
    }
    out[k] = bi;
  }
}

void argColsK(int op, const float* x, int64_t r, int64_t inner, int32_t* out, int64_t i0, int64_t i1) {
  const bool isMax = op == kRedMax;
  constexpr int64_t W = 64;
  float best[W];
  int32_t idx[W];
  for (int64_t i = i0; i < i1; i += W) {
    const int64_t w = std::min<int64_t>(W, i1 - i);
    for (int64_t c = 0; c < w; ++c) {
      best[c] = x[i + c];
      idx[c] = 0;
    }
    for (int64_t j = 1; j < r; ++j) {
      const float* p = x + j * inner + i;
      for (int64_t c = 0; c < w; ++c) {
        const float v = p[c];
        const bool better = isMax ? v > best[c] : v < best[c];
        if (best[c] == best[c] && (better || v != v)) {
          best[c] = v;
          idx[c] = static_cast<int32_t>(j);
        }
      }
    }
    for (int64_t c = 0; c < w; ++c) out[i + c] = idx[c];
  }
}

// ───────────────────────────── softmax / cross-entropy ─────────────────────────────

// Max over a row ignoring NaN (the reference's `if (x > m) m = x`), -inf for an empty or all -inf/NaN row.
inline float rowMaxIgnoringNaN(const float* x, int64_t n) {
  const F ninf = V::set1(-kInfF);
  F acc = ninf;
  for (int64_t i = 0; i < n; i += V::N) acc = V::max(V::loadOr(x + i, V::mask(n - i), ninf), acc);
  return V::hmax(acc);
}

// Σ exp(x − m) in double over a row, writing exp(x − m) to e when non-null.
inline double sumExp(const float* x, int64_t n, float m, float* e) {
  const F mv = V::set1(m), ninf = V::set1(-kInfF);
  D s0 = V::set1D(0.0), s1 = s0;
  for (int64_t i = 0; i < n; i += V::N) {
    const M mk = V::mask(n - i);
    const F v = expF(V::sub(V::loadOr(x + i, mk, ninf), mv));
    if (e) V::store(e + i, mk, v);
    V::addD2(s0, s1, V::sel(mk, v, V::set1(0.0f)));
  }
  return V::haddD(V::addD(s0, s1));
}

void softmaxK(const float* x, int64_t cols, float* out, bool log, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* o = out + r * cols;
    float m = rowMaxIgnoringNaN(xr, cols);
    if (m == -kInfF) m = 0.0f;  // a fully masked row
    if (!log) {
      const double s = sumExp(xr, cols, m, o);
      const F inv = V::set1(static_cast<float>(1.0 / s));
      for (int64_t i = 0; i < cols; i += V::N) {
        const M mk = V::mask(cols - i);
        V::store(o + i, mk, V::mul(V::load(o + i, mk), inv));
      }
    } else {
      const double s = sumExp(xr, cols, m, nullptr);
      const D lse = V::set1D(static_cast<double>(m) + std::log(s));
      mapD(xr, o, cols, [=](D v) { return V::subD(v, lse); });
    }
  }
}

void softmaxBackwardK(const float* y, const float* dy, int64_t cols, float* dx, bool log, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* yr = y + r * cols;
    const float* gr = dy + r * cols;
    float* o = dx + r * cols;
    D acc = V::set1D(0.0);
    for (int64_t i = 0; i < cols; i += V::ND) {
      const MD mk = V::maskD(cols - i);
      acc = log ? V::addD(acc, V::loadD(gr + i, mk)) : V::fmaD(V::loadD(gr + i, mk), V::loadD(yr + i, mk), acc);
    }
    const D s = V::set1D(V::haddD(acc));
    for (int64_t i = 0; i < cols; i += V::ND) {
      const MD mk = V::maskD(cols - i);
      const D yv = V::loadD(yr + i, mk), gv = V::loadD(gr + i, mk);
      // log: dy − exp(y)·s;  plain: y·(dy − s)
      const D v = log ? V::subD(gv, V::mulD(expD(yv), s)) : V::mulD(yv, V::subD(gv, s));
      V::storeD(o + i, mk, v);
    }
  }
}

void crossEntropyK(const float* logits, int64_t cols, const int32_t* targets, int64_t ignoreIndex, double smoothing,
                   float* loss, float* dlogits, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = logits + r * cols;
    const int64_t t = targets[r];
    if (t == ignoreIndex) {
      loss[r] = 0.0f;
      if (dlogits) std::fill(dlogits + r * cols, dlogits + (r + 1) * cols, 0.0f);
      continue;
    }
    const float m = rowMaxIgnoringNaN(xr, cols);
    const F mv = V::set1(m), ninf = V::set1(-kInfF), zero = V::set1(0.0f);
    float* g = dlogits ? dlogits + r * cols : nullptr;
    D s0 = V::set1D(0.0), s1 = s0, l0 = s0, l1 = s0;
    for (int64_t i = 0; i < cols; i += V::N) {
      const M mk = V::mask(cols - i);
      const F v = V::load(xr + i, mk);
      const F e = expF(V::sub(V::sel(mk, v, ninf), mv));
      if (g) V::store(g + i, mk, e);  // exp(x − m), scaled below
      V::addD2(s0, s1, V::sel(mk, e, zero));
      V::addD2(l0, l1, v);
    }
    const double s = V::haddD(V::addD(s0, s1));
    const double sumLogits = V::haddD(V::addD(l0, l1));
    const double lse = static_cast<double>(m) + std::log(s);
    const double nll = lse - static_cast<double>(xr[t]);
    const double uniform = lse - sumLogits / static_cast<double>(cols);
    loss[r] = static_cast<float>((1.0 - smoothing) * nll + smoothing * uniform);
    if (g) {
      const F inv = V::set1(static_cast<float>(1.0 / s));
      const F eps = V::set1(static_cast<float>(smoothing / static_cast<double>(cols)));
      for (int64_t i = 0; i < cols; i += V::N) {
        const M mk = V::mask(cols - i);
        V::store(g + i, mk, V::sub(V::mul(V::load(g + i, mk), inv), eps));
      }
      g[t] = static_cast<float>(static_cast<double>(g[t]) - (1.0 - smoothing));
    }
  }
}

// ───────────────────────────── norms ─────────────────────────────

void rmsNormK(const float* x, const float* w, int64_t cols, double eps, float* y, float* rstd, int64_t r0,
              int64_t r1) {
  const D one = V::set1D(1.0);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    D a0 = V::set1D(0.0), a1 = a0;
    int64_t i = 0;
    for (; i + 2 * V::ND <= cols; i += 2 * V::ND) {
      const D u = V::loadD(xr + i, V::maskD(V::ND)), v = V::loadD(xr + i + V::ND, V::maskD(V::ND));
      a0 = V::fmaD(u, u, a0);
      a1 = V::fmaD(v, v, a1);
    }
    for (; i < cols; i += V::ND) {
      const D u = V::loadD(xr + i, V::maskD(cols - i));
      a0 = V::fmaD(u, u, a0);
    }
    const double ss = V::haddD(V::addD(a0, a1));
    const double rs = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
    rstd[r] = static_cast<float>(rs);
    const D rsv = V::set1D(rs);
    for (int64_t c = 0; c < cols; c += V::ND) {
      const MD mk = V::maskD(cols - c);
      const D wv = w ? V::loadD(w + c, mk) : one;
      V::storeD(yr + c, mk, V::mulD(V::mulD(V::loadD(xr + c, mk), rsv), wv));
    }
  }
}

void rmsNormBackwardK(const float* x, const float* w, const float* rstd, const float* dy, int64_t cols, float* dx,
                      double* dwAcc, int64_t r0, int64_t r1) {
  const D one = V::set1D(1.0);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    const float* gr = dy + r * cols;
    float* o = dx + r * cols;
    const double rs = rstd[r];
    const D rsv = V::set1D(rs);
    D acc = V::set1D(0.0);
    for (int64_t c = 0; c < cols; c += V::ND) {
      const MD mk = V::maskD(cols - c);
      const D wv = w ? V::loadD(w + c, mk) : one;
      acc = V::fmaD(V::mulD(V::loadD(gr + c, mk), wv), V::loadD(xr + c, mk), acc);
    }
    const D dot = V::set1D(V::haddD(acc) * rs / static_cast<double>(cols));
    for (int64_t c = 0; c < cols; c += V::ND) {
      const MD mk = V::maskD(cols - c);
      const D wv = w ? V::loadD(w + c, mk) : one;
      const D g = V::loadD(gr + c, mk);
      const D xhat = V::mulD(V::loadD(xr + c, mk), rsv);
      V::storeD(o + c, mk, V::mulD(rsv, V::subD(V::mulD(g, wv), V::mulD(xhat, dot))));
      if (dwAcc) V::storeDD(dwAcc + c, mk, V::fmaD(g, xhat, V::loadDD(dwAcc + c, mk)));
    }
  }
}

void layerNormK(const float* x, const float* w, const float* b, int64_t cols, double eps, float* y, float* mean,
                float* rstd, int64_t r0, int64_t r1) {
  const D one = V::set1D(1.0), zero = V::set1D(0.0);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const double mu = sumRow(xr, cols) / static_cast<double>(cols);
    const D muv = V::set1D(mu);
    D acc = zero;
    for (int64_t c = 0; c < cols; c += V::ND) {
      const MD mk = V::maskD(cols - c);
      const D d = V::selD(mk, V::subD(V::loadD(xr + c, mk), muv), zero);
      acc = V::fmaD(d, d, acc);
    }
    const double rs = 1.0 / std::sqrt(V::haddD(acc) / static_cast<double>(cols) + eps);
    mean[r] = static_cast<float>(mu);
    rstd[r] = static_cast<float>(rs);
    const D rsv = V::set1D(rs);
    for (int64_t c = 0; c < cols; c += V::ND) {
      const MD mk = V::maskD(cols - c);
      const D wv = w ? V::loadD(w + c, mk) : one;
      const D bv = b ? V::loadD(b + c, mk) : zero;
      V::storeD(yr + c, mk, V::addD(V::mulD(V::mulD(V::subD(V::loadD(xr + c, mk), muv), rsv), wv), bv));
    }
  }
}

void layerNormBackwardK(const float* x, const float* w, const float* mean, const float* rstd, const float* dy,
                        int64_t cols, float* dx, double* dwAcc, double* dbAcc, int64_t r0, int64_t r1) {
  const D one = V::set1D(1.0);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    const float* gr = dy + r * cols;
    float* o = dx + r * cols;
    const D muv = V::set1D(mean[r]), rsv = V::set1D(rstd[r]);
    D sg = V::set1D(0.0), sgx = sg;
    for (int64_t c = 0; c < cols; c += V::ND) {
      const MD mk = V::maskD(cols - c);
      const D wv = w ? V::loadD(w + c, mk) : one;
      const D dyv = V::loadD(gr + c, mk);
      const D g = V::mulD(dyv, wv);
      const D xhat = V::mulD(V::subD(V::loadD(xr + c, mk), muv), rsv);
      sg = V::addD(sg, g);
      sgx = V::fmaD(g, xhat, sgx);
      if (dwAcc) V::storeDD(dwAcc + c, mk, V::fmaD(dyv, xhat, V::loadDD(dwAcc + c, mk)));
      if (dbAcc) V::storeDD(dbAcc + c, mk, V::addD(dyv, V::loadDD(dbAcc + c, mk)));
    }
    const double n = static_cast<double>(cols);
    const D sgv = V::set1D(V::haddD(sg) / n), sgxv = V::set1D(V::haddD(sgx) / n);
    for (int64_t c = 0; c < cols; c += V::ND) {
      const MD mk = V::maskD(cols - c);
      const D wv = w ? V::loadD(w + c, mk) : one;
      const D xhat = V::mulD(V::subD(V::loadD(xr + c, mk), muv), rsv);
      const D g = V::mulD(V::loadD(gr + c, mk), wv);
      V::storeD(o + c, mk, V::mulD(rsv, V::subD(V::subD(g, sgv), V::mulD(xhat, sgxv))));
    }
  }
}

const KernelTable kTable = {
    kIsaName,      unaryK,    binaryK,          binaryScalarK, whereK,           reduceRowsK,
    reduceColsK,   argRowsK,  argColsK,         softmaxK,      softmaxBackwardK, crossEntropyK,
    rmsNormK,      rmsNormBackwardK, layerNormK, layerNormBackwardK,
};
