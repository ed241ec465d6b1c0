// Portable GEMM building blocks (packing, GEMV, a plain micro-kernel), written so the compiler vectorises them for
// whichever ISA the including file targets. Include ONLY inside an anonymous namespace after the file's
// `#pragma GCC target`: each ISA file then gets its own internal-linkage copy, so no AVX-512 instance can be
// merged by the linker into a path that runs on a CPU without it. Needs <cstdint> included before.
//
// Conventions are those of GemmKernel in gemm.h.

template <int MR>
void packAGeneric(int64_t m, int64_t k, const float* a, int64_t rs, int64_t cs, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += MR) {
    const int mm = (m - i0) < MR ? static_cast<int>(m - i0) : MR;
    const float* ap = a + i0 * rs;
    if (rs == 1) {  // op(A) columns contiguous: each k step is a short contiguous copy
      for (int64_t p = 0; p < k; ++p) {
        const float* src = ap + p * cs;
        float* d = dst + p * MR;
        for (int r = 0; r < mm; ++r) d[r] = src[r];
        for (int r = mm; r < MR; ++r) d[r] = 0.0f;
      }
    } else {  // rows contiguous (cs == 1) or general: walk each row, scatter with stride MR
      for (int r = 0; r < mm; ++r) {
        const float* src = ap + r * rs;
        float* d = dst + r;
        if (cs == 1) {
          for (int64_t p = 0; p < k; ++p) d[p * MR] = src[p];
        } else {
          for (int64_t p = 0; p < k; ++p) d[p * MR] = src[p * cs];
        }
      }
      for (int r = mm; r < MR; ++r)
        for (int64_t p = 0; p < k; ++p) dst[p * MR + r] = 0.0f;
    }
    dst += MR * k;
  }
}

template <int NR>
void packBGeneric(int64_t k, int64_t n, const float* b, int64_t rs, int64_t cs, float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += NR) {
    const int nn = (n - j0) < NR ? static_cast<int>(n - j0) : NR;
    const float* bp = b + j0 * cs;
    if (cs == 1) {  // op(B) rows contiguous: each k step copies nr contiguous values
      for (int64_t p = 0; p < k; ++p) {
        const float* src = bp + p * rs;
        float* d = dst + p * NR;
        if (nn == NR) {
          for (int c = 0; c < NR; ++c) d[c] = src[c];
        } else {
          for (int c = 0; c < nn; ++c) d[c] = src[c];
          for (int c = nn; c < NR; ++c) d[c] = 0.0f;
        }
      }
    } else {  // columns contiguous (transposed B) or general: walk each column, scatter with stride NR
      for (int c = 0; c < nn; ++c) {
        const float* src = bp + c * cs;
        float* d = dst + c;
        if (rs == 1) {
          for (int64_t p = 0; p < k; ++p) d[p * NR] = src[p];
        } else {
          for (int64_t p = 0; p < k; ++p) d[p * NR] = src[p * rs];
        }
      }
      for (int c = nn; c < NR; ++c)
        for (int64_t p = 0; p < k; ++p) dst[p * NR + c] = 0.0f;
    }
    dst += NR * k;
  }
}

// Writes acc (m x n valid part of an MR x NR tile, row stride NR) into c: c = alpha*acc + beta*c.
template <int MR, int NR>
inline void storeTileGeneric(const float* acc, float* c, int64_t ldc, int m, int n, float alpha, float beta) {
  for (int i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    const float* ai = acc + i * NR;
    if (beta == 0.0f) {
      for (int j = 0; j < n; ++j) ci[j] = alpha * ai[j];
    } else {
      for (int j = 0; j < n; ++j) ci[j] = alpha * ai[j] + beta * ci[j];
    }
  }
}

template <int MR, int NR>
void microGeneric(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int m, int n, float alpha,
                  float beta) {
  float acc[MR * NR];
  for (int t = 0; t < MR * NR; ++t) acc[t] = 0.0f;
  for (int64_t p = 0; p < k; ++p) {
    const float* ap = a + p * MR;
    const float* bp = b + p * NR;
    for (int i = 0; i < MR; ++i) {
      const float av = ap[i];
      for (int j = 0; j < NR; ++j) acc[i * NR + j] += av * bp[j];
    }
  }
  storeTileGeneric<MR, NR>(acc, c, ldc, m, n, alpha, beta);
}

// y = alpha * x^T op(B) + beta * y, op(B) k x n. Blocked over n so the partial sums stay in L1.
void gemvGeneric(int64_t k, int64_t n, float alpha, const float* x, int64_t incx, const float* b, int64_t rs,
                 int64_t cs, float beta, float* y, int64_t incy) {
  constexpr int64_t kChunk = 512;
  float acc[kChunk];
  if (rs == 1 && cs != 1) {  // each output is a dot product over a contiguous column
    constexpr int L = 16;
    for (int64_t j = 0; j < n; ++j) {
      const float* col = b + j * cs;
      float part[L];
      for (int l = 0; l < L; ++l) part[l] = 0.0f;
      int64_t p = 0;
      if (incx == 1) {
        for (; p + L <= k; p += L)
          for (int l = 0; l < L; ++l) part[l] += x[p + l] * col[p + l];
      }
      float s = 0.0f;
      for (; p < k; ++p) s += x[p * incx] * col[p];
      for (int l = 0; l < L; ++l) s += part[l];
      y[j * incy] = beta == 0.0f ? alpha * s : alpha * s + beta * y[j * incy];
    }
    return;
  }
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t nn = (n - j0) < kChunk ? (n - j0) : kChunk;
    for (int64_t j = 0; j < nn; ++j) acc[j] = 0.0f;
    for (int64_t p = 0; p < k; ++p) {
      const float xv = x[p * incx];
      const float* row = b + p * rs + j0 * cs;
      if (cs == 1) {
        for (int64_t j = 0; j < nn; ++j) acc[j] += xv * row[j];
      } else {
        for (int64_t j = 0; j < nn; ++j) acc[j] += xv * row[j * cs];
      }
    }
    float* yj = y + j0 * incy;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < nn; ++j) yj[j * incy] = alpha * acc[j];
    } else {
      for (int64_t j = 0; j < nn; ++j) yj[j * incy] = alpha * acc[j] + beta * yj[j * incy];
    }
  }
}
