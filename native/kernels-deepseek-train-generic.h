// DeepSeek-V3 training kernels, generic body: included by kernels-deepseek-train.cc once per ISA inside its own
// namespace, after the SIMD traits `V` of kernels-simd.h for that ISA. Row loops only; the caller splits rows over
// the pool. Contract and numerics: kernels-deepseek-train.h.

using F = V::F;
using M = V::M;
using D = V::D;

// f32 exp: Cody-Waite reduction by ln 2 and the Cephes expf polynomial; x clamped to [−104, 89] (so −inf → ~1e−45,
// callers mask such lanes), NaN stays NaN.
inline F expF(F x) { return expApprox<V>(x); }

inline void ceRows(float* x, int64_t cols, const int32_t* targets, int64_t ignoreIndex, float* loss, int64_t r0,
                   int64_t r1) {
  const F ninf = V::set1(-std::numeric_limits<float>::infinity()), zero = V::set1(0.0f);
  for (int64_t r = r0; r < r1; ++r) {
    float* xr = x + r * cols;
    const int64_t t = targets[r];
    if (t == ignoreIndex) {
      loss[r] = 0.0f;
      std::fill(xr, xr + cols, 0.0f);
      continue;
    }
    F mx = ninf;
    for (int64_t i = 0; i < cols; i += V::N) mx = V::max(mx, V::loadOr(xr + i, V::mask(cols - i), ninf));
    const float m = V::hmax(mx);
    const F mv = V::set1(m);
    const double xt = static_cast<double>(xr[t]);
    D s0 = V::set1D(0.0), s1 = s0;
    for (int64_t i = 0; i < cols; i += V::N) {  // e = exp(x − m) over the row (still in L1), summed in double
      const M mk = V::mask(cols - i);
      const F e = V::sel(mk, expF(V::sub(V::load(xr + i, mk), mv)), zero);
      V::store(xr + i, mk, e);
      V::addD2(s0, s1, e);
    }
    const double s = V::haddD(V::addD(s0, s1));
    loss[r] = static_cast<float>(static_cast<double>(m) + std::log(s) - xt);
    const F inv = V::set1(static_cast<float>(1.0 / s));
    for (int64_t i = 0; i < cols; i += V::N) {
      const M mk = V::mask(cols - i);
      V::store(xr + i, mk, V::mul(V::load(xr + i, mk), inv));
    }
    xr[t] -= 1.0f;
  }
}

// out rows [n0, n1): out[n] = Σ_k g[n, k]·src[pos[n, k]]
inline void combineRows(const float* src, int64_t d, const int32_t* pos, const float* gates, int64_t K, float* out,
                        int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) {
    float* o = out + n * d;
    for (int64_t i = 0; i < d; i += V::N) {
      const M mk = V::mask(d - i);
      F acc = V::set1(0.0f);
      for (int64_t k = 0; k < K; ++k) {
        const F s = V::load(src + pos[n * K + k] * d + i, mk);
        acc = gates ? V::fma(V::set1(gates[n * K + k]), s, acc) : V::add(acc, s);
      }
      V::store(o + i, mk, acc);
    }
  }
}

inline void combineBackwardRows(const float* dy, const float* src, int64_t d, const int32_t* pos, const float* gates,
                                int64_t K, float* dsrc, float* dgates, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) {
    const float* g = dy + n * d;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t row = pos[n * K + k];
      float* ds = dsrc + row * d;
      const float* s = src + row * d;
      const F gv = V::set1(gates ? gates[n * K + k] : 1.0f);
      F dot = V::set1(0.0f);
      for (int64_t i = 0; i < d; i += V::N) {
        const M mk = V::mask(d - i);
        const F gi = V::load(g + i, mk);
        V::store(ds + i, mk, V::mul(gv, gi));
        if (dgates) dot = V::fma(gi, V::load(s + i, mk), dot);
      }
      if (dgates) {
        float lanes[V::N];
        V::store(lanes, V::mask(V::N), dot);
        float sum = 0.0f;
        for (int j = 0; j < V::N; ++j) sum += lanes[j];
        dgates[n * K + k] = sum;
      }
    }
  }
}

// A[i] = silu(G[i])·U[i], silu(g) = g / (1 + exp(−g))
inline void swigluRange(const float* G, const float* U, float* A, int64_t i0, int64_t i1) {
  const F one = V::set1(1.0f);
  for (int64_t i = i0; i < i1; i += V::N) {
    const M mk = V::mask(i1 - i);
    const F g = V::load(G + i, mk);
    const F s = V::div(g, V::add(one, expF(V::neg(g))));
    V::store(A + i, mk, V::mul(s, V::load(U + i, mk)));
  }
}

// σ = sigmoid(g), s = g·σ:  dU = dA·s,  dG = dA·u·(σ + s·(1 − σ)). dG may be G and dU may be U (read before written).
inline void swigluBackwardRange(const float* G, const float* U, const float* dA, float* dG, float* dU, int64_t i0,
                                int64_t i1) {
  const F one = V::set1(1.0f);
  for (int64_t i = i0; i < i1; i += V::N) {
    const M mk = V::mask(i1 - i);
    const F g = V::load(G + i, mk), u = V::load(U + i, mk), da = V::load(dA + i, mk);
    const F sg = V::div(one, V::add(one, expF(V::neg(g))));
    const F s = V::mul(g, sg);
    V::store(dU + i, mk, V::mul(da, s));
    V::store(dG + i, mk, V::mul(V::mul(da, u), V::fma(s, V::sub(one, sg), sg)));
  }
}
