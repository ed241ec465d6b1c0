// DeepSeek-V3 fused decode kernels, generic body (included by kernels-deepseek.cc once per ISA inside a
// `#pragma GCC target` region and a namespace of its own; KILN_DS_AVX512 / KILN_DS_AVX2 pick the dot-product
// intrinsics, neither = portable scalar). Contract and numerics: kernels-deepseek.h.
//
// Work split: every matrix-vector product is a list of row segments (GemvJob) run by one parallelFor over their
// concatenated rows, grained so small products stay on the calling thread; the per-head attention runs in parallel
// over heads. Scratch lives in the calling thread's thread_local buffers and is shared with the pool's workers only
// for the duration of one call.

// ── dot products ──

#if defined(KILN_DS_AVX512)
inline float dot(const float* a, const float* b, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(b + k + 16), s1);
  }
  for (; k < n; k += 16) {
    const __mmask16 m = n - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - k)) - 1);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k), _mm512_maskz_loadu_ps(m, b + k), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

// One row with exactly dot4's arithmetic (one 16-lane chain, masked tail, then the lane sum): gemvRows's rows give
// the same value whichever of the two computes them, and headArgmax can recompute a logit bit for bit.
inline float dotRow(const float* w, const float* x, int64_t K) {
  __m512 s0 = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (K - k)) - 1);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + k), _mm512_maskz_loadu_ps(m, x + k), s0);
  }
  return _mm512_reduce_add_ps(s0);
}

// Σ bf16(w[k])·x[k] (w holds the upper 16 bits of f32 values).
inline float dotBf16(const uint16_t* w, const float* x, int64_t K) {
  __m512 s0 = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512i wi = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, w + k)), 16);
    s0 = _mm512_fmadd_ps(_mm512_castsi512_ps(wi), _mm512_maskz_loadu_ps(m, x + k), s0);
  }
  return _mm512_reduce_add_ps(s0);
}

// y[j] = W[j, :]·x for 4 consecutive rows of W (leading dimension K).
inline void dot4(const float* w, int64_t K, const float* x, float* y) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + k), xv, s0);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + K + k), xv, s1);
    s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + 2 * K + k), xv, s2);
    s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + 3 * K + k), xv, s3);
  }
  y[0] = _mm512_reduce_add_ps(s0);
  y[1] = _mm512_reduce_add_ps(s1);
  y[2] = _mm512_reduce_add_ps(s2);
  y[3] = _mm512_reduce_add_ps(s3);
}
#elif defined(KILN_DS_AVX2)
inline float hsum256(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}

inline float dot(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
  }
  for (; k + 8 <= n; k += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
  float s = hsum256(_mm256_add_ps(s0, s1));
  for (; k < n; ++k) s += a[k] * b[k];
  return s;
}

// Scalar tail shared by dotRow and dot4 (explicit fma: the same rounding wherever it is inlined).
inline float tailDot(float r, const float* w, const float* x, int64_t k, int64_t K) {
  for (; k < K; ++k) r = std::fma(w[k], x[k], r);
  return r;
}

// One row with exactly dot4's arithmetic (one 8-lane chain, lane sum, scalar tail).
inline float dotRow(const float* w, const float* x, int64_t K) {
  __m256 s0 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), s0);
  return tailDot(hsum256(s0), w, x, k, K);
}

inline float dotBf16(const uint16_t* w, const float* x, int64_t K) {
  __m256 s0 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    const __m256i wi = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + k))), 16);
    s0 = _mm256_fmadd_ps(_mm256_castsi256_ps(wi), _mm256_loadu_ps(x + k), s0);
  }
  float r = hsum256(s0);
  for (; k < K; ++k) {
    const uint32_t b = static_cast<uint32_t>(w[k]) << 16;
    float f;
    std::memcpy(&f, &b, 4);
    r = std::fma(f, x[k], r);
  }
  return r;
}

inline void dot4(const float* w, int64_t K, const float* x, float* y) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    const __m256 xv = _mm256_loadu_ps(x + k);
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), xv, s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + K + k), xv, s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 2 * K + k), xv, s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 3 * K + k), xv, s3);
  }
  y[0] = tailDot(hsum256(s0), w, x, k, K);
  y[1] = tailDot(hsum256(s1), w + K, x, k, K);
  y[2] = tailDot(hsum256(s2), w + 2 * K, x, k, K);
  y[3] = tailDot(hsum256(s3), w + 3 * K, x, k, K);
}
#else
inline float dot(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += a[k] * b[k];
    s1 += a[k + 1] * b[k + 1];
    s2 += a[k + 2] * b[k + 2];
    s3 += a[k + 3] * b[k + 3];
  }
  for (; k < n; ++k) s0 += a[k] * b[k];
  return (s0 + s1) + (s2 + s3);
}

inline float dotRow(const float* w, const float* x, int64_t K) {
  float r = 0;
  for (int64_t k = 0; k < K; ++k) r = std::fma(w[k], x[k], r);
  return r;
}

inline float dotBf16(const uint16_t* w, const float* x, int64_t K) {
  float r = 0;
  for (int64_t k = 0; k < K; ++k) {
    const uint32_t b = static_cast<uint32_t>(w[k]) << 16;
    float f;
    std::memcpy(&f, &b, 4);
    r = std::fma(f, x[k], r);
  }
  return r;
}

inline void dot4(const float* w, int64_t K, const float* x, float* y) {
  for (int j = 0; j < 4; ++j) y[j] = dotRow(w + j * K, x, K);
}
#endif

// ── matrix-vector products over row segments ──

// Rows [r0, r1) of Y[t, :] = W · X[t, :] for t < T (X rows of length K at stride ldx, Y rows at stride ldy).
inline void gemvRows(const float* W, int64_t K, int64_t r0, int64_t r1, const float* X, int64_t ldx, float* Y,
                     int64_t ldy, int64_t T) {
  int64_t i = r0;
  for (; i + 4 <= r1; i += 4)
    for (int64_t t = 0; t < T; ++t) dot4(W + i * K, K, X + t * ldx, Y + t * ldy + i);
  for (; i < r1; ++i)
    for (int64_t t = 0; t < T; ++t) Y[t * ldy + i] = dotRow(W + i * K, X + t * ldx, K);
}

// Runs a list of products (each Y_j = W_j · X_j for T_j rows) as one parallelFor over all their output rows.
inline void runGemvJobs(const GemvJob* jobs, int nJobs) {
  int64_t total = 0, work = 0;
  int64_t start[kMaxGemvJobs + 1];
  for (int j = 0; j < nJobs; ++j) {
    start[j] = total;
    total += jobs[j].N;
    work += jobs[j].N * jobs[j].K * jobs[j].T;
  }
  start[nJobs] = total;
  if (total == 0) return;
  const int64_t avgRowWork = std::max<int64_t>(1, work / total);
  const int64_t grain = std::max<int64_t>(4, kGemvGrainWork / avgRowWork);
  auto body = [&](int64_t b, int64_t e) {
    for (int j = 0; j < nJobs && b < e; ++j) {
      if (start[j + 1] <= b) continue;
      const int64_t lo = b - start[j], hi = std::min(e, start[j + 1]) - start[j];
      const GemvJob& g = jobs[j];
      gemvRows(g.W, g.K, lo, hi, g.X, g.ldx, g.Y, g.ldy, g.T);
      b = start[j] + hi;
    }
  };
  if (work < kGemvGrainWork * 2) body(0, total);
  else parallelFor(total, grain, numThreads(), body);
}

// ── small helpers (double accumulation where the reference's semantics are set) ──

inline void rmsNormRow(const float* x, const float* w, int64_t n, float eps, float* y) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double rs = 1.0 / std::sqrt(ss / static_cast<double>(n) + static_cast<double>(eps));
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i] * rs * w[i]);
}

// In-place rotary of p numbers by one table row (c, s of p/2), pairs interleaved (2i, 2i+1) or half (i, i + p/2).
inline void ropeRow(float* x, int64_t p, const float* c, const float* s, bool interleaved) {
  const int64_t half = p / 2;
  for (int64_t i = 0; i < half; ++i) {
    const int64_t ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    const double xa = x[ia], xb = x[ib], ci = c[i], si = s[i];
    x[ia] = static_cast<float>(xa * ci - xb * si);
    x[ib] = static_cast<float>(xb * ci + xa * si);
  }
}

inline float sigmoidF(float v) { return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(v)))); }

// ── MLA decode ──

void mlaDecode(const MlaDecodeArgs& a) {
  const int64_t T = a.T, d = a.d, H = a.H, n = a.n, p = a.p, v = a.v, r = a.r, qr = a.qr, w = r + p;
  const int64_t qk = n + p;
  thread_local std::vector<float> scratch;
  const int64_t need = T * (d + qr + H * qk + w + H * w + H * v) + H * (a.cacheLen + T);
  if (static_cast<int64_t>(scratch.size()) < need) scratch.resize(static_cast<size_t>(need));
  float* xn = scratch.data();         // [T, d]   input_layernorm(x)
  float* qa = xn + T * d;             // [T, qr]  q_a_proj, then its norm
  float* q = qa + T * qr;             // [T, H, n + p]
  float* ckv = q + T * H * qk;        // [T, r + p]
  float* qcat = ckv + T * w;          // [T, H, r + p]  absorbed queries
  float* o = qcat + T * H * w;        // [T, H, v]
  float* prob = o + T * H * v;        // [H, Tk] softmax rows (per head, reused across t)
  for (int64_t t = 0; t < T; ++t) rmsNormRow(a.x + t * d, a.norm, d, a.eps, xn + t * d);
  // 1. the down-projections of the normed input (or the full q projection without q LoRA)
  {
    GemvJob jobs[2];
    int nj = 0;
    if (qr > 0) jobs[nj++] = GemvJob{a.qA, d, qr, xn, d, qa, qr, T};
    else jobs[nj++] = GemvJob{a.qB, d, H * qk, xn, d, q, H * qk, T};
    jobs[nj++] = GemvJob{a.kvA, d, w, xn, d, ckv, w, T};
    runGemvJobs(jobs, nj);
  }
  // 2. norms, rotary key, cache rows
  for (int64_t t = 0; t < T; ++t) {
    float* c = ckv + t * w;
    if (qr > 0) {
      float* qrow = qa + t * qr;
      rmsNormRow(qrow, a.qANorm, qr, a.eps, qrow);
    }
    rmsNormRow(c, a.kvANorm, r, a.eps, c);
    ropeRow(c + r, p, a.cos + t * (p / 2), a.sin + t * (p / 2), a.interleaved);
    std::memcpy(a.cache + (a.cacheLen + t) * w, c, static_cast<size_t>(w) * sizeof(float));
  }
  // 3. q up-projection
  if (qr > 0) {
    GemvJob job{a.qB, qr, H * qk, qa, qr, q, H * qk, T};
    runGemvJobs(&job, 1);
  }
  // 4. per (t, head): rotary query, absorb W_uk, scores over the cache, softmax, latent output, absorb W_uv
  const int64_t Tk = a.cacheLen + T;
  auto head = [&](int64_t b, int64_t e) {
    for (int64_t th = b; th < e; ++th) {
      const int64_t t = th / H, h = th % H;
      const float* qh = q + (t * H + h) * qk;
      float* qc = qcat + (t * H + h) * w;
      const float* wk = a.kvB + h * (n + v) * r;  // [n, r] then [v, r]
      for (int64_t m = 0; m < r; ++m) qc[m] = 0;
      for (int64_t i = 0; i < n; ++i) {
        const float qi = qh[i];
        const float* row = wk + i * r;
        for (int64_t m = 0; m < r; ++m) qc[m] += qi * row[m];
      }
      for (int64_t i = 0; i < p; ++i) qc[r + i] = qh[n + i];
      ropeRow(qc + r, p, a.cos + t * (p / 2), a.sin + t * (p / 2), a.interleaved);
      const int64_t keys = a.cacheLen + t + 1;  // causal: cached positions and the new ones up to t
      float* pr = prob + h * Tk;
      float mx = -INFINITY;
      for (int64_t j = 0; j < keys; ++j) {
        const float sc = dot(qc, a.cache + j * w, w) * a.scale;
        pr[j] = sc;
        if (sc > mx) mx = sc;
      }
      double sum = 0;
      for (int64_t j = 0; j < keys; ++j) {
        const float ex = static_cast<float>(std::exp(static_cast<double>(pr[j]) - mx));
        pr[j] = ex;
        sum += ex;
      }
      const float inv = static_cast<float>(1.0 / sum);
      float lat[kMaxLatent];
      for (int64_t m = 0; m < r; ++m) lat[m] = 0;
      for (int64_t j = 0; j < keys; ++j) {
        const float pj = pr[j] * inv;
        const float* cj = a.cache + j * w;
        for (int64_t m = 0; m < r; ++m) lat[m] += pj * cj[m];
      }
      float* oh = o + (t * H + h) * v;
      const float* wv = wk + n * r;
      for (int64_t k = 0; k < v; ++k) oh[k] = dot(lat, wv + k * r, r);
    }
  };
  // prob rows are per head: run one t at a time so concurrent heads never share a row
  for (int64_t t = 0; t < T; ++t) {
    const int64_t work = H * (Tk * w + 2 * n * r);
    if (work < 2 * kGemvGrainWork) head(t * H, (t + 1) * H);
    else parallelFor(H, std::max<int64_t>(1, kGemvGrainWork / std::max<int64_t>(1, Tk * w + 2 * n * r)), numThreads(),
                     [&](int64_t b, int64_t e) { head(t * H + b, t * H + e); });
  }
  // 5. output projection + residual (out may be x: row t of x is read only for output row t)
  {
    GemvJob job{a.o, H * v, d, o, H * v, xn, d, T};  // xn is free now: reuse it for o_proj's output
    runGemvJobs(&job, 1);
    for (int64_t i = 0; i < T * d; ++i) a.out[i] = a.x[i] + xn[i];
  }
}

// ── MoE / dense MLP decode ──

void moeDecode(const MoeDecodeArgs& a) {
  const int64_t T = a.T, d = a.d, K = a.K, I = a.I, Is = a.Is;
  thread_local std::vector<float> scratch;
  const int64_t need = T * (d + 2 * K * I + 2 * Is + d);
  if (static_cast<int64_t>(scratch.size()) < need) scratch.resize(static_cast<size_t>(need));
  float* m = scratch.data();          // [T, d]  post_attention_layernorm(h)
  float* gu = m + T * d;          // [T, K, 2, I]  gate and up projections of each chosen expert
  float* sgu = gu + T * K * 2 * I;    // [T, 2, Is]    the same for the shared expert
  float* y = sgu + T * 2 * Is;        // [T, d]
  for (int64_t t = 0; t < T; ++t) rmsNormRow(a.h + t * d, a.norm, d, a.eps, m + t * d);
  // Routing was resolved by the binding (a.ids, a.expertW): see routeMoe. Gate/up products of every chosen expert
  // and of the shared expert, as one job list.
  GemvJob jobs[kMaxGemvJobs];
  int nj = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      const float* const* ew = a.expertW + (t * K + k) * 3;
      float* dst = gu + (t * K + k) * 2 * I;
      jobs[nj++] = GemvJob{ew[0], d, I, m + t * d, d, dst, I, 1};
      jobs[nj++] = GemvJob{ew[1], d, I, m + t * d, d, dst + I, I, 1};
    }
  if (Is > 0) {
    jobs[nj++] = GemvJob{a.sharedGate, d, Is, m, d, sgu, 2 * Is, T};
    jobs[nj++] = GemvJob{a.sharedUp, d, Is, m, d, sgu + Is, 2 * Is, T};
  }
  runGemvJobs(jobs, nj);
  // SwiGLU activations in place: a = silu(g)·u
  auto swiglu = [](float* g, int64_t len) {
    for (int64_t i = 0; i < len; ++i) {
      const double x = g[i];
      g[i] = static_cast<float>(x / (1.0 + std::exp(-x))) * g[len + i];
    }
  };
  for (int64_t tk = 0; tk < T * K; ++tk) swiglu(gu + tk * 2 * I, I);
  for (int64_t t = 0; t < T; ++t)
    if (Is > 0) swiglu(sgu + t * 2 * Is, Is);
  // down projections: y[t, i] = Σ_k gate[t, k]·(W_down_k[i, :]·a_k) + W_sd[i, :]·a_s, rows of y split over threads
  const int64_t rowWork = T * (K * I + Is);
  auto down = [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      for (int64_t t = 0; t < T; ++t) {
        float acc = 0;
        for (int64_t k = 0; k < K; ++k) {
          const float* wd = a.expertW[(t * K + k) * 3 + 2];
          acc += a.gates[t * K + k] * dot(wd + i * I, gu + (t * K + k) * 2 * I, I);
        }
        if (Is > 0) acc += dot(a.sharedDown + i * Is, sgu + t * 2 * Is, Is);
        y[t * d + i] = acc;
      }
  };
  if (rowWork * d < 2 * kGemvGrainWork) down(0, d);
  else parallelFor(d, std::max<int64_t>(4, kGemvGrainWork / std::max<int64_t>(1, rowWork)), numThreads(), down);
  for (int64_t i = 0; i < T * d; ++i) a.out[i] = a.h[i] + y[i];
}

// Group-limited top-K of s + bias for one row of affinities s [E]: the kg groups with the largest sums of their two
// largest biased affinities are kept, then the K largest biased affinities among them (others count as −∞; ties →
// lower index; descending). Writes ids [K].
void selectRow(const float* s, const float* bias, int64_t E, int64_t K, int64_t G, int64_t kg, int32_t* ids) {
  float choice[kMaxExperts];
  for (int64_t e = 0; e < E; ++e) choice[e] = s[e] + bias[e];
  if (G > 1 && kg < G) {
    const int64_t per = E / G;
    float gs[kMaxExperts];
    for (int64_t g = 0; g < G; ++g) {
      // sum of the group's two largest biased affinities (one when the group has a single expert)
      float b1 = -INFINITY, b2 = -INFINITY;
      for (int64_t j = 0; j < per; ++j) {
        const float v = choice[g * per + j];
        if (v > b1) {
          b2 = b1;
          b1 = v;
        } else if (v > b2) {
          b2 = v;
        }
      }
      gs[g] = per >= 2 ? b1 + b2 : b1;
    }
    bool keep[kMaxExperts] = {false};
    for (int64_t k = 0; k < kg; ++k) {
      int64_t best = -1;
      for (int64_t g = 0; g < G; ++g)
        if (!keep[g] && (best < 0 || gs[g] > gs[best])) best = g;
      keep[best] = true;
    }
    for (int64_t e = 0; e < E; ++e)
      if (!keep[e / per]) choice[e] = -INFINITY;
  }
  bool taken[kMaxExperts] = {false};
  for (int64_t k = 0; k < K; ++k) {
    int64_t best = -1;
    for (int64_t e = 0; e < E; ++e)
      if (!taken[e] && (best < 0 || choice[e] > choice[best])) best = e;
    taken[best] = true;
    ids[k] = static_cast<int32_t>(best);
  }
}

// Router for one normed row m: s = sigmoid(W_g·m), selectRow, gates from the unbiased s. Writes ids [K], gates [K].
void routeRow(const MoeDecodeArgs& a, const float* mrow, int32_t* ids, float* gates) {
  const int64_t E = a.E, K = a.K, d = a.d;
  float s[kMaxExperts];
  for (int64_t e = 0; e < E; ++e) s[e] = sigmoidF(dot(a.gate + e * d, mrow, d));
  selectRow(s, a.bias, E, K, a.G, a.kg, ids);
  double sum = 0;
  for (int64_t k = 0; k < K; ++k) sum += s[ids[k]];
  const float den = static_cast<float>(sum) + 1e-20f;
  for (int64_t k = 0; k < K; ++k) {
    float g = s[ids[k]];
    if (a.normTopk) g = g / den;
    gates[k] = g * a.routedScale;
  }
}

void moeRoute(const MoeDecodeArgs& a, int32_t* ids, float* gates) {
  std::vector<float> m(static_cast<size_t>(a.d));
  for (int64_t t = 0; t < a.T; ++t) {
    rmsNormRow(a.h + t * a.d, a.norm, a.d, a.eps, m.data());
    routeRow(a, m.data(), ids + t * a.K, gates + t * a.K);
  }
}

// ── Y[T, N] = X[T, K] · W[N, K]ᵀ for a few rows (the head and eh_proj at decode time) ──

void linearRows(const float* X, int64_t T, int64_t K, const float* W, int64_t N, float* Y) {
  GemvJob job{W, K, N, X, K, Y, N, T};
  runGemvJobs(&job, 1);
}

// ── routing alone (training forward): ids [N, K] for affinities [N, E] ──

void moeSelect(const float* scores, int64_t N, int64_t E, const float* bias, int64_t K, int64_t G, int64_t kg, int32_t* ids) {
  for (int64_t n = 0; n < N; ++n) selectRow(scores + n * E, bias, E, K, G, kg, ids + n * K);
}

// ── greedy head: ids[t] = argmax_i W[i, :]·h[t] exactly, streaming bf16 weights ──
// Approximate logits a_i from the bf16 copy; |a_i − l_i| ≤ bound_i = c·‖h‖·‖W_i‖ with c covering the bf16 rounding
// of the weights (2^-8 relative) and both f32 summations (K·2^-24 each, doubled for margin). Only rows whose interval
// reaches the best lower bound can hold the maximum; their logits are recomputed with dotRow — the very value
// linearRows gives — and the largest wins (ties → lower index).
void headArgmax(const float* H, int64_t T, int64_t K, const float* W, const uint16_t* Wb, const float* wNorm, int64_t N,
                int32_t* ids) {
  thread_local std::vector<float> approx;
  if (static_cast<int64_t>(approx.size()) < N) approx.resize(static_cast<size_t>(N));
  const double c = (std::ldexp(1.0, -8) + 4.0 * static_cast<double>(K) * std::ldexp(1.0, -24)) * 1.01;
  for (int64_t t = 0; t < T; ++t) {
    const float* h = H + t * K;
    float* ap = approx.data();
    auto body = [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ap[i] = dotBf16(Wb + i * K, h, K);
    };
    if (N * K < 2 * kGemvGrainWork) body(0, N);
    else parallelFor(N, std::max<int64_t>(16, 2 * kGemvGrainWork / K), numThreads(), body);
    double hn = 0;
    for (int64_t k = 0; k < K; ++k) hn += static_cast<double>(h[k]) * h[k];
    const double ch = c * std::sqrt(hn);
    double lo = -INFINITY;
    for (int64_t i = 0; i < N; ++i) lo = std::max(lo, static_cast<double>(ap[i]) - ch * wNorm[i]);
    int64_t best = -1;
    float bestV = 0;
    for (int64_t i = 0; i < N; ++i) {
      if (static_cast<double>(ap[i]) + ch * wNorm[i] < lo) continue;
      const float v = dotRow(W + i * K, h, K);
      if (best < 0 || v > bestV) {
        best = i;
        bestV = v;
      }
    }
    ids[t] = static_cast<int32_t>(best);
  }
}
