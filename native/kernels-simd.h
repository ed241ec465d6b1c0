// SIMD traits for the generic elementwise / reduction / normalisation kernels (kernels-generic.h). Each trait struct
// exposes the same static interface over one instruction set, so a kernel is written once as a template and
// instantiated per ISA in its own translation unit (kernels-avx512.cc, kernels-avx2.cc, kernels-scalar.cc), each
// compiled with its own `#pragma GCC target`. This header is included INSIDE a per-ISA namespace after
// <immintrin.h> and <cmath>; it must not include anything itself.
//
//   F / M   : N float lanes and their lane mask;   D / MD : ND double lanes and their mask.
//   load(p, m)       masked load (inactive lanes 0); loadOr(p, m, v): inactive lanes v; store(p, m, v) masked.
//   loadD(p, md)     ND floats widened to double;   storeD(p, md, d): narrowed (round to nearest) and stored.
//   max(a, b) / min  x86 semantics: a > b ? a : b (a < b ? a : b), so a NaN in either gives b.
//   sel(m, t, f)     m ? t : f per lane.   cmp<C>(a, b): C one of the Cmp predicates (ordered except kNE).
//   round(x)         to nearest, ties to even.   scalef(y, n): y * 2^n (n integral), with IEEE overflow/underflow.
//   getexpD / getmantD: x = mant * 2^exp with mant in [1, 2) (finite nonzero x).
//   addD2(acc0, acc1, f): widen the N floats of f to double and add them into two accumulators.
#ifndef KILN_SIMD_TRAITS_ONCE
#define KILN_SIMD_TRAITS_ONCE
enum Cmp { kGT, kGE, kLT, kLE, kEQ, kNE, kUNORD };
#endif

#ifdef KILN_SIMD_AVX512
struct V {
  static constexpr int N = 16, ND = 8;
  using F = __m512;
  using M = __mmask16;
  using D = __m512d;
  using MD = __mmask8;
  static inline M mask(int64_t n) { return n >= 16 ? static_cast<M>(0xFFFF) : static_cast<M>((1u << n) - 1u); }
  static inline MD maskD(int64_t n) { return n >= 8 ? static_cast<MD>(0xFF) : static_cast<MD>((1u << n) - 1u); }
  static inline bool any(M m) { return m != 0; }
  static inline bool anyD(MD m) { return m != 0; }
  static inline M mor(M a, M b) { return static_cast<M>(a | b); }
  static inline M mandn(M a, M b) { return static_cast<M>(a & ~b); }  // a and not b
  static inline MD morD(MD a, MD b) { return static_cast<MD>(a | b); }
  static inline int firstLane(M m) { return __builtin_ctz(static_cast<unsigned>(m)); }
  static inline F load(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
  static inline F loadOr(const float* p, M m, F v) { return _mm512_mask_loadu_ps(v, m, p); }
  static inline void store(float* p, M m, F v) { _mm512_mask_storeu_ps(p, m, v); }
  static inline F set1(float x) { return _mm512_set1_ps(x); }
  static inline F add(F a, F b) { return _mm512_add_ps(a, b); }
  static inline F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static inline F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static inline F div(F a, F b) { return _mm512_div_ps(a, b); }
  static inline F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static inline F max(F a, F b) { return _mm512_max_ps(a, b); }
  static inline F min(F a, F b) { return _mm512_min_ps(a, b); }
  static inline F sqrt(F a) { return _mm512_sqrt_ps(a); }
  static inline F abs(F a) { return _mm512_abs_ps(a); }
  static inline F neg(F a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
  static inline F sel(M m, F t, F f) { return _mm512_mask_blend_ps(m, f, t); }
  static inline F round(F x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static inline F scalef(F y, F n) { return _mm512_scalef_ps(y, n); }
  template <int C>
  static inline M cmp(F a, F b) {
    constexpr int P = C == kGT ? _CMP_GT_OQ : C == kGE ? _CMP_GE_OQ : C == kLT ? _CMP_LT_OQ : C == kLE ? _CMP_LE_OQ
                    : C == kEQ ? _CMP_EQ_OQ : C == kNE ? _CMP_NEQ_UQ : _CMP_UNORD_Q;
    return _mm512_cmp_ps_mask(a, b, P);
  }
  static inline float hmax(F a) { return _mm512_reduce_max_ps(a); }
  static inline float hmin(F a) { return _mm512_reduce_min_ps(a); }
  static inline float hadd(F a) { return _mm512_reduce_add_ps(a); }
  // double
  static inline D loadD(const float* p, MD m) { return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, p)); }
  static inline void storeD(float* p, MD m, D v) { _mm256_mask_storeu_ps(p, m, _mm512_cvtpd_ps(v)); }
  static inline D loadDD(const double* p, MD m) { return _mm512_maskz_loadu_pd(m, p); }
  static inline void storeDD(double* p, MD m, D v) { _mm512_mask_storeu_pd(p, m, v); }
  static inline D set1D(double x) { return _mm512_set1_pd(x); }
  static inline D addD(D a, D b) { return _mm512_add_pd(a, b); }
  static inline D subD(D a, D b) { return _mm512_sub_pd(a, b); }
  static inline D mulD(D a, D b) { return _mm512_mul_pd(a, b); }
  static inline D divD(D a, D b) { return _mm512_div_pd(a, b); }
  static inline D fmaD(D a, D b, D c) { return _mm512_fmadd_pd(a, b, c); }
  static inline D maxD(D a, D b) { return _mm512_max_pd(a, b); }
  static inline D minD(D a, D b) { return _mm512_min_pd(a, b); }
  static inline D sqrtD(D a) { return _mm512_sqrt_pd(a); }
  static inline D absD(D a) { return _mm512_abs_pd(a); }
  static inline D selD(MD m, D t, D f) { return _mm512_mask_blend_pd(m, f, t); }
  static inline D roundD(D x) { return _mm512_roundscale_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static inline D scalefD(D y, D n) { return _mm512_scalef_pd(y, n); }
  static inline D getexpD(D x) { return _mm512_getexp_pd(x); }
  static inline D getmantD(D x) { return _mm512_getmant_pd(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero); }
  static inline D copysignD(D mag, D sgn) {
    const __m512i s = _mm512_set1_epi64(static_cast<long long>(0x8000000000000000ull));
    return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(_mm512_castpd_si512(mag), _mm512_castpd_si512(sgn), s, 0xD8));
  }
  template <int C>
  static inline MD cmpD(D a, D b) {
    constexpr int P = C == kGT ? _CMP_GT_OQ : C == kGE ? _CMP_GE_OQ : C == kLT ? _CMP_LT_OQ : C == kLE ? _CMP_LE_OQ
                    : C == kEQ ? _CMP_EQ_OQ : C == kNE ? _CMP_NEQ_UQ : _CMP_UNORD_Q;
    return _mm512_cmp_pd_mask(a, b, P);
  }
  static inline double haddD(D a) { return _mm512_reduce_add_pd(a); }
  static inline void addD2(D& a0, D& a1, F f) {
    a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
    a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(f, 1)));
  }
};
#endif

#ifdef KILN_SIMD_AVX2
// 8 f32 / 4 f64 lanes; masks are all-ones lanes (M = __m256, MD = __m256d). Masked loads and stores use
// vmaskmov (no fault on masked-off lanes); scalef builds 2^n from exponent bits in two halves (exact, with IEEE
// overflow / underflow in the final multiply), getexp / getmant read the exponent field.
struct V {
  static constexpr int N = 8, ND = 4;
  using F = __m256;
  using M = __m256;
  using D = __m256d;
  using MD = __m256d;
  static inline M mask(int64_t n) {
    const int k = n >= 8 ? 8 : n <= 0 ? 0 : static_cast<int>(n);
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  }
  static inline MD maskD(int64_t n) {
    const long long k = n >= 4 ? 4 : n <= 0 ? 0 : n;
    return _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_set1_epi64x(k), _mm256_setr_epi64x(0, 1, 2, 3)));
  }
  static inline bool any(M m) { return _mm256_movemask_ps(m) != 0; }
  static inline bool anyD(MD m) { return _mm256_movemask_pd(m) != 0; }
  static inline M mor(M a, M b) { return _mm256_or_ps(a, b); }
  static inline M mandn(M a, M b) { return _mm256_andnot_ps(b, a); }
  static inline MD morD(MD a, MD b) { return _mm256_or_pd(a, b); }
  static inline int firstLane(M m) { return __builtin_ctz(static_cast<unsigned>(_mm256_movemask_ps(m))); }
  static inline F load(const float* p, M m) { return _mm256_maskload_ps(p, _mm256_castps_si256(m)); }
  static inline F loadOr(const float* p, M m, F v) { return _mm256_blendv_ps(v, load(p, m), m); }
  static inline void store(float* p, M m, F v) { _mm256_maskstore_ps(p, _mm256_castps_si256(m), v); }
  static inline F set1(float x) { return _mm256_set1_ps(x); }
  static inline F add(F a, F b) { return _mm256_add_ps(a, b); }
  static inline F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static inline F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static inline F div(F a, F b) { return _mm256_div_ps(a, b); }
  static inline F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static inline F max(F a, F b) { return _mm256_max_ps(a, b); }
  static inline F min(F a, F b) { return _mm256_min_ps(a, b); }
  static inline F sqrt(F a) { return _mm256_sqrt_ps(a); }
  static inline F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static inline F neg(F a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
  static inline F sel(M m, F t, F f) { return _mm256_blendv_ps(f, t, m); }
  static inline F round(F x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static inline F scalef(F y, F n) {
    const __m256i k = _mm256_cvtps_epi32(n);
    const __m256i h = _mm256_srai_epi32(k, 1);
    const __m256i b = _mm256_set1_epi32(127);
    const F p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, b), 23));
    const F p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(k, h), b), 23));
    return _mm256_mul_ps(_mm256_mul_ps(y, p1), p2);
  }
  template <int C>
  static inline M cmp(F a, F b) {
    constexpr int P = C == kGT ? _CMP_GT_OQ : C == kGE ? _CMP_GE_OQ : C == kLT ? _CMP_LT_OQ : C == kLE ? _CMP_LE_OQ
                    : C == kEQ ? _CMP_EQ_OQ : C == kNE ? _CMP_NEQ_UQ : _CMP_UNORD_Q;
    return _mm256_cmp_ps(a, b, P);
  }
  static inline float hmax(F a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static inline float hmin(F a) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static inline __m128i maskF4(MD m) {  // the 4 double-lane mask as a 4 x 32-bit mask
    return _mm256_castsi256_si128(
        _mm256_permutevar8x32_epi32(_mm256_castpd_si256(m), _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
  }
  static inline D loadD(const float* p, MD m) { return _mm256_cvtps_pd(_mm_maskload_ps(p, maskF4(m))); }
  static inline void storeD(float* p, MD m, D v) { _mm_maskstore_ps(p, maskF4(m), _mm256_cvtpd_ps(v)); }
  static inline D loadDD(const double* p, MD m) { return _mm256_maskload_pd(p, _mm256_castpd_si256(m)); }
  static inline void storeDD(double* p, MD m, D v) { _mm256_maskstore_pd(p, _mm256_castpd_si256(m), v); }
  static inline D set1D(double x) { return _mm256_set1_pd(x); }
  static inline D addD(D a, D b) { return _mm256_add_pd(a, b); }
  static inline D subD(D a, D b) { return _mm256_sub_pd(a, b); }
  static inline D mulD(D a, D b) { return _mm256_mul_pd(a, b); }
  static inline D divD(D a, D b) { return _mm256_div_pd(a, b); }
  static inline D fmaD(D a, D b, D c) { return _mm256_fmadd_pd(a, b, c); }
  static inline D maxD(D a, D b) { return _mm256_max_pd(a, b); }
  static inline D minD(D a, D b) { return _mm256_min_pd(a, b); }
  static inline D sqrtD(D a) { return _mm256_sqrt_pd(a); }
  static inline D absD(D a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
  static inline D selD(MD m, D t, D f) { return _mm256_blendv_pd(f, t, m); }
  static inline D roundD(D x) { return _mm256_round_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static inline D scalefD(D y, D n) {
    // n is integral and within [-1100, 1100] here; 2^n = 2^h * 2^(n-h), each built from exponent bits.
    const __m128i k = _mm256_cvtpd_epi32(n);
    const __m128i h = _mm_srai_epi32(k, 1);
    const __m256i h64 = _mm256_cvtepi32_epi64(h);
    const __m256i r64 = _mm256_cvtepi32_epi64(_mm_sub_epi32(k, h));
    const __m256i b = _mm256_set1_epi64x(1023);
    const D p1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(h64, b), 52));
    const D p2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(r64, b), 52));
    return _mm256_mul_pd(_mm256_mul_pd(y, p1), p2);
  }
  static inline D getexpD(D x) {
    const __m256i bits = _mm256_castpd_si256(x);
    const __m256i e = _mm256_and_si256(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(0x7ff));
    // exponent - 1023 as double: (e | 2^52 as double) - 2^52 - 1023
    const D ed = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(e, _mm256_castpd_si256(_mm256_set1_pd(4503599627370496.0)))),
                               _mm256_set1_pd(4503599627370496.0));
    return _mm256_sub_pd(ed, _mm256_set1_pd(1023.0));
  }
  static inline D getmantD(D x) {
    const __m256i bits = _mm256_castpd_si256(x);
    const __m256i m = _mm256_and_si256(bits, _mm256_set1_epi64x(0x000fffffffffffffLL));
    return _mm256_castsi256_pd(_mm256_or_si256(m, _mm256_set1_epi64x(0x3ff0000000000000LL)));
  }
  static inline D copysignD(D mag, D sgn) {
    const D s = _mm256_set1_pd(-0.0);
    return _mm256_or_pd(_mm256_andnot_pd(s, mag), _mm256_and_pd(s, sgn));
  }
  template <int C>
  static inline MD cmpD(D a, D b) {
    constexpr int P = C == kGT ? _CMP_GT_OQ : C == kGE ? _CMP_GE_OQ : C == kLT ? _CMP_LT_OQ : C == kLE ? _CMP_LE_OQ
                    : C == kEQ ? _CMP_EQ_OQ : C == kNE ? _CMP_NEQ_UQ : _CMP_UNORD_Q;
    return _mm256_cmp_pd(a, b, P);
  }
  static inline double haddD(D a) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
  }
  static inline void addD2(D& a0, D& a1, F f) {
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
  }
};
#endif

#ifdef KILN_SIMD_SCALAR
// One lane: F = float, D = double, for CPUs without AVX2 (baseline x86-64: SSE2, no FMA, no SSE4.1 rounding).
struct V {
  static constexpr int N = 1, ND = 1;
  using F = float;
  using M = bool;
  using D = double;
  using MD = bool;
  static inline M mask(int64_t n) { return n > 0; }
  static inline MD maskD(int64_t n) { return n > 0; }
  static inline bool any(M m) { return m; }
  static inline bool anyD(MD m) { return m; }
  static inline M mor(M a, M b) { return a || b; }
  static inline M mandn(M a, M b) { return a && !b; }
  static inline MD morD(MD a, MD b) { return a || b; }
  static inline int firstLane(M) { return 0; }
  static inline F load(const float* p, M m) { return m ? *p : 0.0f; }
  static inline F loadOr(const float* p, M m, F v) { return m ? *p : v; }
  static inline void store(float* p, M m, F v) {
    if (m) *p = v;
  }
  static inline F set1(float x) { return x; }
  static inline F add(F a, F b) { return a + b; }
  static inline F sub(F a, F b) { return a - b; }
  static inline F mul(F a, F b) { return a * b; }
  static inline F div(F a, F b) { return a / b; }
  static inline F fma(F a, F b, F c) { return a * b + c; }  // not std::fma: a slow library call without FMA hardware
  static inline F max(F a, F b) { return a > b ? a : b; }
  static inline F min(F a, F b) { return a < b ? a : b; }
  static inline F sqrt(F a) { return std::sqrt(a); }
  static inline F abs(F a) { return std::fabs(a); }
  static inline F neg(F a) { return -a; }
  static inline F sel(M m, F t, F f) { return m ? t : f; }
  // Round to nearest even by the 1.5·2^23 trick (|x| < 2^22 here); scalef from exponent bits in two halves
  // (exact, one rounding in the last multiply), |n| <= 252.
  static inline F round(F x) { return (x + 12582912.0f) - 12582912.0f; }
  static inline F scalef(F y, F n) {
    if (n != n) return n;
    const int k = static_cast<int>(n), h = k >> 1;
    return y * bitsF((h + 127) << 23) * bitsF((k - h + 127) << 23);
  }
  static inline float bitsF(int32_t b) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
  }
  static inline double bitsD(int64_t b) {
    double d;
    std::memcpy(&d, &b, sizeof d);
    return d;
  }
  template <int C>
  static inline M cmp(F a, F b) {
    return C == kGT ? a > b : C == kGE ? a >= b : C == kLT ? a < b : C == kLE ? a <= b : C == kEQ ? a == b
         : C == kNE ? a != b : (a != a || b != b);
  }
  static inline float hmax(F a) { return a; }
  static inline float hmin(F a) { return a; }
  static inline float hadd(F a) { return a; }
  static inline D loadD(const float* p, MD m) { return m ? static_cast<double>(*p) : 0.0; }
  static inline void storeD(float* p, MD m, D v) {
    if (m) *p = static_cast<float>(v);
  }
  static inline D loadDD(const double* p, MD m) { return m ? *p : 0.0; }
  static inline void storeDD(double* p, MD m, D v) {
    if (m) *p = v;
  }
  static inline D set1D(double x) { return x; }
  static inline D addD(D a, D b) { return a + b; }
  static inline D subD(D a, D b) { return a - b; }
  static inline D mulD(D a, D b) { return a * b; }
  static inline D divD(D a, D b) { return a / b; }
  static inline D fmaD(D a, D b, D c) { return a * b + c; }
  static inline D maxD(D a, D b) { return a > b ? a : b; }
  static inline D minD(D a, D b) { return a < b ? a : b; }
  static inline D sqrtD(D a) { return std::sqrt(a); }
  static inline D absD(D a) { return std::fabs(a); }
  static inline D selD(MD m, D t, D f) { return m ? t : f; }
  static inline D roundD(D x) { return (x + 6755399441055744.0) - 6755399441055744.0; }  // |x| < 2^51
  static inline D scalefD(D y, D n) {  // |n| <= 2044
    if (n != n) return n;
    const int64_t k = static_cast<int64_t>(n), h = k >> 1;
    return y * bitsD((h + 1023) << 52) * bitsD((k - h + 1023) << 52);
  }
  static inline D getexpD(D x) {
    int e = 0;
    std::frexp(x, &e);
    return static_cast<double>(e - 1);
  }
  static inline D getmantD(D x) {
    int e = 0;
    return 2.0 * std::fabs(std::frexp(x, &e));
  }
  static inline D copysignD(D mag, D sgn) { return std::copysign(mag, sgn); }
  template <int C>
  static inline MD cmpD(D a, D b) {
    return C == kGT ? a > b : C == kGE ? a >= b : C == kLT ? a < b : C == kLE ? a <= b : C == kEQ ? a == b
         : C == kNE ? a != b : (a != a || b != b);
  }
  static inline double haddD(D a) { return a; }
  static inline void addD2(D& a0, D&, F f) { a0 += static_cast<double>(f); }
};
#endif

// f32 exp over any trait V: Cody-Waite reduction by ln 2 and the Cephes expf polynomial; x clamped to [−104, 89]
// (so −inf → ~1e−45, callers mask such lanes), NaN stays NaN (operand order of max/min keeps x second).
template <class V>
inline typename V::F expApprox(typename V::F x) {
  using F = typename V::F;
  x = V::max(V::set1(-104.0f), x);
  x = V::min(V::set1(89.0f), x);
  const F n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  F r = V::fma(n, V::set1(-0.693359375f), x);
  r = V::fma(n, V::set1(2.12194440e-4f), r);
  F p = V::set1(1.9875691500e-4f);
  p = V::fma(p, r, V::set1(1.3981999507e-3f));
  p = V::fma(p, r, V::set1(8.3334519073e-3f));
  p = V::fma(p, r, V::set1(4.1665795894e-2f));
  p = V::fma(p, r, V::set1(1.6666665459e-1f));
  p = V::fma(p, r, V::set1(5.0000001201e-1f));
  p = V::fma(p, V::mul(r, r), r);
  return V::scalef(V::add(p, V::set1(1.0f)), n);
}
