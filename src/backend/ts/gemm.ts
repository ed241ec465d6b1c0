/** Reference GEMM: row-major, batched, strided, any transposes. Accumulates each dot product in f64. */
import type { Backend } from '../backend.js';

export const gemmKernels: Pick<Backend, 'gemm'> = {
  gemm(batch, transA, transB, M, N, K, alpha, A, aOff, lda, strideA, B, bOff, ldb, strideB, beta, C, cOff, ldc, strideC) {
    // element (i, k) of op(A) and (k, j) of op(B)
    const ai = transA ? 1 : lda;
    const ak = transA ? lda : 1;
    const bk = transB ? 1 : ldb;
    const bj = transB ? ldb : 1;
    const row = new Float64Array(N);
    for (let b = 0; b < batch; b++) {
      const a0 = aOff + b * strideA;
      const b0 = bOff + b * strideB;
      const c0 = cOff + b * strideC;
      for (let i = 0; i < M; i++) {
        row.fill(0);
        for (let k = 0; k < K; k++) {
          const av = A[a0 + i * ai + k * ak];
          const bb = b0 + k * bk;
          for (let j = 0; j < N; j++) row[j] += av * B[bb + j * bj];
        }
        const cr = c0 + i * ldc;
        if (beta === 0) for (let j = 0; j < N; j++) C[cr + j] = alpha * row[j];
        else for (let j = 0; j < N; j++) C[cr + j] = alpha * row[j] + beta * C[cr + j];
      }
    }
  },
};
