// AVX2+FMA GEMM kernel: the classic 6 x 16 micro-kernel (12 ymm accumulators, two B vectors, A broadcast), masked
// edges via a stack tile, and generic packing compiled for AVX2. Reached when the CPU lacks AVX-512 or KILN_ISA=avx2.
#include <immintrin.h>

#include <cstdint>

#include "gemm.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace kiln {
namespace {

#include "gemm-generic.h"

constexpr int MR = 6;
constexpr int NR = 16;

void micro6x16(int64_t k, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc, int m, int n,
               float alpha, float beta) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 av;
    av = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
    a += MR;
    b += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (n == NR) {
    for (int i = 0; i < m; ++i) {
      float* ci = c + i * ldc;
      __m256 r0 = _mm256_mul_ps(va, acc[i][0]), r1 = _mm256_mul_ps(va, acc[i][1]);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);
      }
      _mm256_storeu_ps(ci, r0);
      _mm256_storeu_ps(ci + 8, r1);
    }
    return;
  }
  alignas(32) float tile[MR * NR];
  for (int i = 0; i < MR; ++i) {
    _mm256_store_ps(tile + i * NR, acc[i][0]);
    _mm256_store_ps(tile + i * NR + 8, acc[i][1]);
  }
  storeTileGeneric<MR, NR>(tile, c, ldc, m, n, alpha, beta);
}

void packA(int64_t m, int64_t k, const float* a, int64_t rs, int64_t cs, float* dst) {
  packAGeneric<MR>(m, k, a, rs, cs, dst);
}
void packB(int64_t k, int64_t n, const float* b, int64_t rs, int64_t cs, float* dst) {
  packBGeneric<NR>(k, n, b, rs, cs, dst);
}

const GemmKernel kKernel = {"avx2-6x16", MR, NR, 6 * 32, 256, 4096, packA, packB, micro6x16, gemvGeneric};

}  // namespace
}  // namespace kiln

#pragma GCC pop_options

namespace kiln {

// Compiled for the baseline ISA: callable anywhere, though the kernel it returns needs the CPU feature.
const GemmKernel& gemmKernelAvx2() { return kKernel; }

}  // namespace kiln
