// fp32 GEMM: batched, strided, any transposes; BLIS/GotoBLAS-style blocked driver over per-ISA micro-kernels.
//
// For each b < batch: C_b = alpha * op(A_b) @ op(B_b) + beta * C_b, all row-major, with op(A) M x K and op(B) K x N.
// Element (i, p) of op(A_b) lives at A[b*strideA + i*lda + p] (transA = false) or A[b*strideA + p*lda + i]
// (transA = true); likewise B with ldb/strideB, and C_b(i, j) at C[b*strideC + i*ldc + j]. Pointers are already
// offset; strides are in elements and strideA/strideB may be 0 (broadcast). beta == 0 means C's old contents are
// never read (NaN-safe); alpha == 0 or K == 0 leave C = beta * C. The caller validates bounds (addon.cc).
// C must not overlap A or B, and distinct batch entries of C must not overlap.
#pragma once

#include <cstdint>

namespace kiln {

struct GemmArgs {
  int64_t batch;
  bool transA, transB;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda, strideA;
  const float* B;
  int64_t ldb, strideB;
  float beta;
  float* C;
  int64_t ldc, strideC;
};

// Runs on up to `threads` threads of the pool (0 = all).
void gemm(const GemmArgs& g, int threads);

// One ISA's building blocks. op(A)(i, p) is a[i*rs + p*cs]; op(B)(p, j) is b[p*rs + j*cs].
struct GemmKernel {
  const char* name;
  int mr, nr;               // micro-tile rows and columns
  int64_t mc, kc, nc;       // cache blocks: mc % mr == 0, nc % nr == 0
  // Packs op(A)[0..m) x [0..k) into ceil(m/mr) panels, each k steps of mr values (rows >= m zero-filled).
  void (*packA)(int64_t m, int64_t k, const float* a, int64_t rs, int64_t cs, float* dst);
  // Packs op(B)[0..k) x [0..n) into ceil(n/nr) panels, each k steps of nr values (columns >= n zero-filled).
  void (*packB)(int64_t k, int64_t n, const float* b, int64_t rs, int64_t cs, float* dst);
  // c(i, j) = alpha * sum_p a[p*mr + i] * b[p*nr + j] + beta * c(i, j) for i < m, j < n; beta == 0: c not read.
  void (*micro)(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int m, int n, float alpha,
                float beta);
  // y[j*incy] = alpha * sum_p x[p*incx] * op(B)(p, j) + beta * y[j*incy] for j < n (an M = 1 GEMM);
  // beta == 0: y not read.
  void (*gemv)(int64_t k, int64_t n, float alpha, const float* x, int64_t incx, const float* b, int64_t rs,
               int64_t cs, float beta, float* y, int64_t incy);
};

const GemmKernel& gemmKernelAvx512();
const GemmKernel& gemmKernelAvx2();
const GemmKernel& gemmKernelScalar();
const GemmKernel& gemmKernelActive();  // chosen by activeIsa()

// gemm() with an explicit kernel (the kernel lab uses it to time variants and blockings).
void gemmWith(const GemmKernel& kernel, const GemmArgs& g, int threads);

}  // namespace kiln
