// AVX-512 GEMM kernel: a 14 x 32 register-blocked micro-kernel in inline asm (28 zmm accumulators, two B vectors,
// A broadcast from the packed panel, 4x unrolled, A prefetched ahead), a 14 x 16 variant for narrow edge panels,
// masked C updates, and packing with 16 x 16 register transposes, all compiled for AVX-512 via a target pragma so
// the rest of the addon still runs on any x86-64. Only reached when cpu.cc says AVX-512 is usable.
#include <immintrin.h>

#include <cstdint>

#include "gemm.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi2")

namespace kiln {
namespace {

#include "gemm-generic.h"

constexpr int MR = 14;
constexpr int NR = 32;

inline __mmask16 lowMask(int n) { return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u); }

// One k step of the micro-kernel, unroll slot u: load the 32 B values (zmm28, zmm29), prefetch A ahead, then for
// each of the 14 rows broadcast A into zmm30/zmm31 (alternating, so consecutive rows overlap) and issue two FMAs
// into that row's accumulators. Displacements are assembler expressions: A advances 14 floats (56 bytes) and B
// 32 floats (128 bytes) per k step.
#define KILN_ROW(u, i, r0, r1, br)                                   \
  "vbroadcastss " #u "*56+" #i "*4(%[a]), %%zmm" #br "\n\t"          \
  "vfmadd231ps %%zmm28, %%zmm" #br ", %%zmm" #r0 "\n\t"              \
  "vfmadd231ps %%zmm29, %%zmm" #br ", %%zmm" #r1 "\n\t"
#define KILN_KSTEP(u)                                                                                      \
  "vmovaps " #u "*128(%[b]), %%zmm28\n\t"                                                                  \
  "vmovaps " #u "*128+64(%[b]), %%zmm29\n\t"                                                               \
  "prefetcht0 " #u "*56+" KILN_A_PREFETCH "(%[a])\n\t"                                                     \
  KILN_B_PREFETCH_INSN(u)                                                                                  \
  KILN_ROW(u, 0, 0, 1, 30) KILN_ROW(u, 1, 2, 3, 31) KILN_ROW(u, 2, 4, 5, 30) KILN_ROW(u, 3, 6, 7, 31)       \
  KILN_ROW(u, 4, 8, 9, 30) KILN_ROW(u, 5, 10, 11, 31) KILN_ROW(u, 6, 12, 13, 30)                           \
  KILN_ROW(u, 7, 14, 15, 31) KILN_ROW(u, 8, 16, 17, 30) KILN_ROW(u, 9, 18, 19, 31)                         \
  KILN_ROW(u, 10, 20, 21, 30) KILN_ROW(u, 11, 22, 23, 31) KILN_ROW(u, 12, 24, 25, 30)                      \
  KILN_ROW(u, 13, 26, 27, 31)
#ifdef KILN_B_PREFETCH
#define KILN_B_PREFETCH_INSN(u) "prefetcht0 " #u "*128+" KILN_B_PREFETCH "(%[b])\n\t"
#else
#define KILN_B_PREFETCH_INSN(u)
#endif
#ifndef KILN_A_PREFETCH
#define KILN_A_PREFETCH "512"
#endif

// acc[28][16] = A-panel (k x 14) times B-panel (k x 32), row r of the tile in acc[2r], acc[2r+1].
// Written in inline assembly because GCC's register allocation of 28 live zmm accumulators is unreliable.
void microLoop(int64_t k, const float* a, const float* b, float* acc) {
  int64_t k4 = k >> 2, k1 = k & 3;
  __asm__ volatile(
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      "vmovaps %%zmm0, %%zmm1\n\t vmovaps %%zmm0, %%zmm2\n\t vmovaps %%zmm0, %%zmm3\n\t"
      "vmovaps %%zmm0, %%zmm4\n\t vmovaps %%zmm0, %%zmm5\n\t vmovaps %%zmm0, %%zmm6\n\t"
      "vmovaps %%zmm0, %%zmm7\n\t vmovaps %%zmm0, %%zmm8\n\t vmovaps %%zmm0, %%zmm9\n\t"
      "vmovaps %%zmm0, %%zmm10\n\t vmovaps %%zmm0, %%zmm11\n\t vmovaps %%zmm0, %%zmm12\n\t"
      "vmovaps %%zmm0, %%zmm13\n\t vmovaps %%zmm0, %%zmm14\n\t vmovaps %%zmm0, %%zmm15\n\t"
      "vmovaps %%zmm0, %%zmm16\n\t vmovaps %%zmm0, %%zmm17\n\t vmovaps %%zmm0, %%zmm18\n\t"
      "vmovaps %%zmm0, %%zmm19\n\t vmovaps %%zmm0, %%zmm20\n\t vmovaps %%zmm0, %%zmm21\n\t"
      "vmovaps %%zmm0, %%zmm22\n\t vmovaps %%zmm0, %%zmm23\n\t vmovaps %%zmm0, %%zmm24\n\t"
      "vmovaps %%zmm0, %%zmm25\n\t vmovaps %%zmm0, %%zmm26\n\t vmovaps %%zmm0, %%zmm27\n\t"
      "test %[k4], %[k4]\n\t"
      "jz 2f\n\t"
      ".p2align 5\n"
      "1:\n\t"
      KILN_KSTEP(0) KILN_KSTEP(1) KILN_KSTEP(2) KILN_KSTEP(3)
      "add $224, %[a]\n\t"
      "add $512, %[b]\n\t"
      "dec %[k4]\n\t"
      "jnz 1b\n"
      "2:\n\t"
      "test %[k1], %[k1]\n\t"
      "jz 4f\n"
      "3:\n\t"
      KILN_KSTEP(0)
      "add $56, %[a]\n\t"
      "add $128, %[b]\n\t"
      "dec %[k1]\n\t"
      "jnz 3b\n"
      "4:\n\t"
      "vmovaps %%zmm0, 0(%[acc])\n\t vmovaps %%zmm1, 64(%[acc])\n\t vmovaps %%zmm2, 128(%[acc])\n\t"
      "vmovaps %%zmm3, 192(%[acc])\n\t vmovaps %%zmm4, 256(%[acc])\n\t vmovaps %%zmm5, 320(%[acc])\n\t"
      "vmovaps %%zmm6, 384(%[acc])\n\t vmovaps %%zmm7, 448(%[acc])\n\t vmovaps %%zmm8, 512(%[acc])\n\t"
      "vmovaps %%zmm9, 576(%[acc])\n\t vmovaps %%zmm10, 640(%[acc])\n\t vmovaps %%zmm11, 704(%[acc])\n\t"
      "vmovaps %%zmm12, 768(%[acc])\n\t vmovaps %%zmm13, 832(%[acc])\n\t vmovaps %%zmm14, 896(%[acc])\n\t"
      "vmovaps %%zmm15, 960(%[acc])\n\t vmovaps %%zmm16, 1024(%[acc])\n\t vmovaps %%zmm17, 1088(%[acc])\n\t"
      "vmovaps %%zmm18, 1152(%[acc])\n\t vmovaps %%zmm19, 1216(%[acc])\n\t vmovaps %%zmm20, 1280(%[acc])\n\t"
      "vmovaps %%zmm21, 1344(%[acc])\n\t vmovaps %%zmm22, 1408(%[acc])\n\t vmovaps %%zmm23, 1472(%[acc])\n\t"
      "vmovaps %%zmm24, 1536(%[acc])\n\t vmovaps %%zmm25, 1600(%[acc])\n\t vmovaps %%zmm26, 1664(%[acc])\n\t"
      "vmovaps %%zmm27, 1728(%[acc])\n\t"
      : [a] "+r"(a), [b] "+r"(b), [k4] "+r"(k4), [k1] "+r"(k1)
      : [acc] "r"(acc)
      : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
        "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}

#undef KILN_KSTEP
#undef KILN_ROW

// The same for a half-width edge panel (at most 16 valid columns): one B vector and 14 accumulators (zmm0-13),
// half the FMAs. Row r of the tile goes to acc[32r .. 32r+16).
#define KILN_ROW16(u, i, r0, br)                                     \
  "vbroadcastss " #u "*56+" #i "*4(%[a]), %%zmm" #br "\n\t"          \
  "vfmadd231ps %%zmm28, %%zmm" #br ", %%zmm" #r0 "\n\t"
#define KILN_KSTEP16(u)                                                                                    \
  "vmovaps " #u "*128(%[b]), %%zmm28\n\t"                                                                  \
  "prefetcht0 " #u "*56+" KILN_A_PREFETCH "(%[a])\n\t"                                                     \
  KILN_ROW16(u, 0, 0, 30) KILN_ROW16(u, 1, 1, 31) KILN_ROW16(u, 2, 2, 30) KILN_ROW16(u, 3, 3, 31)           \
  KILN_ROW16(u, 4, 4, 30) KILN_ROW16(u, 5, 5, 31) KILN_ROW16(u, 6, 6, 30) KILN_ROW16(u, 7, 7, 31)           \
  KILN_ROW16(u, 8, 8, 30) KILN_ROW16(u, 9, 9, 31) KILN_ROW16(u, 10, 10, 30) KILN_ROW16(u, 11, 11, 31)       \
  KILN_ROW16(u, 12, 12, 30) KILN_ROW16(u, 13, 13, 31)

void microLoopHalf(int64_t k, const float* a, const float* b, float* acc) {
  int64_t k4 = k >> 2, k1 = k & 3;
  __asm__ volatile(
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      "vmovaps %%zmm0, %%zmm1\n\t vmovaps %%zmm0, %%zmm2\n\t vmovaps %%zmm0, %%zmm3\n\t"
      "vmovaps %%zmm0, %%zmm4\n\t vmovaps %%zmm0, %%zmm5\n\t vmovaps %%zmm0, %%zmm6\n\t"
      "vmovaps %%zmm0, %%zmm7\n\t vmovaps %%zmm0, %%zmm8\n\t vmovaps %%zmm0, %%zmm9\n\t"
      "vmovaps %%zmm0, %%zmm10\n\t vmovaps %%zmm0, %%zmm11\n\t vmovaps %%zmm0, %%zmm12\n\t"
      "vmovaps %%zmm0, %%zmm13\n\t"
      "test %[k4], %[k4]\n\t"
      "jz 2f\n\t"
      ".p2align 5\n"
      "1:\n\t"
      KILN_KSTEP16(0) KILN_KSTEP16(1) KILN_KSTEP16(2) KILN_KSTEP16(3)
      "add $224, %[a]\n\t"
      "add $512, %[b]\n\t"
      "dec %[k4]\n\t"
      "jnz 1b\n"
      "2:\n\t"
      "test %[k1], %[k1]\n\t"
      "jz 4f\n"
      "3:\n\t"
      KILN_KSTEP16(0)
      "add $56, %[a]\n\t"
      "add $128, %[b]\n\t"
      "dec %[k1]\n\t"
      "jnz 3b\n"
      "4:\n\t"
      "vmovaps %%zmm0, 0(%[acc])\n\t vmovaps %%zmm1, 128(%[acc])\n\t vmovaps %%zmm2, 256(%[acc])\n\t"
      "vmovaps %%zmm3, 384(%[acc])\n\t vmovaps %%zmm4, 512(%[acc])\n\t vmovaps %%zmm5, 640(%[acc])\n\t"
      "vmovaps %%zmm6, 768(%[acc])\n\t vmovaps %%zmm7, 896(%[acc])\n\t vmovaps %%zmm8, 1024(%[acc])\n\t"
      "vmovaps %%zmm9, 1152(%[acc])\n\t vmovaps %%zmm10, 1280(%[acc])\n\t vmovaps %%zmm11, 1408(%[acc])\n\t"
      "vmovaps %%zmm12, 1536(%[acc])\n\t vmovaps %%zmm13, 1664(%[acc])\n\t"
      : [a] "+r"(a), [b] "+r"(b), [k4] "+r"(k4), [k1] "+r"(k1)
      : [acc] "r"(acc)
      : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm28", "xmm30", "xmm31");
}

#undef KILN_KSTEP16
#undef KILN_ROW16

void micro14x32(int64_t k, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc, int m, int n,
                float alpha, float beta) {
  alignas(64) float acc[2 * MR * 16];
  for (int i = 0; i < m; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
  }
  const bool half = n <= 16;
  if (half) microLoopHalf(k, a, b, acc);  // fills only acc[32i .. 32i + 16)
  else microLoop(k, a, b, acc);
  const __mmask16 m0 = lowMask(n), m1 = lowMask(n > 16 ? n - 16 : 0);
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
  for (int i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, _mm512_load_ps(acc + 32 * i));
    if (beta != 0.0f) r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
    _mm512_mask_storeu_ps(ci, m0, r0);
    if (half) continue;
    __m512 r1 = _mm512_mul_ps(va, _mm512_load_ps(acc + 32 * i + 16));
    if (beta != 0.0f) r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
    _mm512_mask_storeu_ps(ci + 16, m1, r1);
  }
}

// In-register 16 x 16 transpose: on return r[c] holds column c of the input rows (r[c][i] = input r[i][c]).
// 64 shuffles: 32-bit and 64-bit interleaves within 128-bit lanes, then two rounds of 128-bit lane shuffles.
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // u[4i + j] lane L: rows 4i..4i+3 of column 4L + j
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 v = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), w = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    const __m512 w2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
    r[j] = _mm512_shuffle_f32x4(v, v2, 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(v, v2, 0xdd);
    r[4 + j] = _mm512_shuffle_f32x4(w, w2, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(w, w2, 0xdd);
  }
}

// op(A) panels of 14 rows. Transposed A (rs == 1): one masked 14-value copy per k step. Row-major A (cs == 1):
// 16 k steps at a time, 14 row loads and a 16 x 16 register transpose. Anything else: the generic loop.
void packA(int64_t m, int64_t k, const float* a, int64_t rs, int64_t cs, float* dst) {
  if (rs == 1) {
    for (int64_t i0 = 0; i0 < m; i0 += MR) {
      const int mm = (m - i0) < MR ? static_cast<int>(m - i0) : MR;
      const __mmask16 msk = lowMask(mm);
      const float* ap = a + i0;
      for (int64_t p = 0; p < k; ++p)
        _mm512_mask_storeu_ps(dst + p * MR, 0x3FFF, _mm512_maskz_loadu_ps(msk, ap + p * cs));
      dst += MR * k;
    }
    return;
  }
  if (cs != 1) {
    packAGeneric<MR>(m, k, a, rs, cs, dst);
    return;
  }
  for (int64_t i0 = 0; i0 < m; i0 += MR) {
    const int mm = (m - i0) < MR ? static_cast<int>(m - i0) : MR;
    const float* ap = a + i0 * rs;
    for (int64_t p0 = 0; p0 < k; p0 += 16) {
      const int kk = (k - p0) < 16 ? static_cast<int>(k - p0) : 16;
      const __mmask16 km = lowMask(kk);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = i < mm ? _mm512_maskz_loadu_ps(km, ap + i * rs + p0) : _mm512_setzero_ps();
      transpose16(r);
      for (int q = 0; q < kk; ++q) _mm512_mask_storeu_ps(dst + (p0 + q) * MR, 0x3FFF, r[q]);
    }
    dst += MR * k;
  }
}

// op(B) panels of 32 columns. Row-major B (cs == 1): two (masked) vector copies per k step. Transposed B
// (rs == 1): per 16-column half, 16 k steps at a time through a register transpose.
void packB(int64_t k, int64_t n, const float* b, int64_t rs, int64_t cs, float* dst) {
  if (cs == 1) {
    for (int64_t j0 = 0; j0 < n; j0 += NR) {
      const int nn = (n - j0) < NR ? static_cast<int>(n - j0) : NR;
      const __mmask16 m0 = lowMask(nn), m1 = lowMask(nn > 16 ? nn - 16 : 0);
      const float* bp = b + j0;
      for (int64_t p = 0; p < k; ++p) {
        const float* src = bp + p * rs;
        _mm512_store_ps(dst + p * NR, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(dst + p * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
      dst += NR * k;
    }
    return;
  }
  if (rs != 1) {
    packBGeneric<NR>(k, n, b, rs, cs, dst);
    return;
  }
  for (int64_t j0 = 0; j0 < n; j0 += NR) {
    const int nn = (n - j0) < NR ? static_cast<int>(n - j0) : NR;
    for (int h = 0; h < 2; ++h) {
      const int cols = nn - 16 * h;  // valid columns in this half (may be <= 0)
      const float* bp = b + (j0 + 16 * h) * cs;
      for (int64_t p0 = 0; p0 < k; p0 += 16) {
        const int kk = (k - p0) < 16 ? static_cast<int>(k - p0) : 16;
        const __mmask16 km = lowMask(kk);
        __m512 r[16];
        for (int c = 0; c < 16; ++c)
          r[c] = c < cols ? _mm512_maskz_loadu_ps(km, bp + c * cs + p0) : _mm512_setzero_ps();
        transpose16(r);
        for (int q = 0; q < kk; ++q) _mm512_store_ps(dst + (p0 + q) * NR + 16 * h, r[q]);
      }
    }
    dst += NR * k;
  }
}

const GemmKernel kKernel = {"avx512-14x32", MR, NR, 14 * 24, 256, 4096, packA, packB, micro14x32, gemvGeneric};

}  // namespace
}  // namespace kiln

#pragma GCC pop_options

namespace kiln {

// Compiled for the baseline ISA: callable anywhere, though the kernel it returns needs the CPU feature.
const GemmKernel& gemmKernelAvx512() { return kKernel; }

}  // namespace kiln
