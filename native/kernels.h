// The per-ISA table of Kiln's elementwise, reduction and NN row kernels (everything but GEMM, attention and conv).
//
// Each entry works on contiguous data for a range of rows on the calling thread; the drivers in
// kernels-elementwise.cc, kernels-reduce.cc and kernels-nn.cc validate arguments, split work over the thread pool
// and call the table of the active ISA (kernelsActive(), following cpu.h's activeIsa()). The semantics mirror the
// TypeScript reference (src/backend/ts/{elementwise,reduce,nn}.ts) exactly; numerical notes:
// - unary exp, tanh, sigmoid and silu run in f32 on 16 lanes: exp is the Cephes polynomial (≤ 2 ulp), tanh Cephes
//   tanhf (odd polynomial below 0.625, 1 − 2/(e^2x + 1) above), sigmoid 1/(1 + e^−x), silu x/(1 + e^−x); measured
//   against the f64 reference: ≤ 1.2e-7 (exp, tanh), 1.6e-7 (sigmoid), 2.6e-7 (silu) relative, except that results
//   below ~3e-37 in magnitude (where e^−x overflows f32, x < −88.7) come out as ±0 instead of tiny numbers.
// - the other transcendental ops (log, rsqrt, gelu, geluTanh, erf) are evaluated in double with the reference's
//   formulas (exp: Cody-Waite reduction + degree-11 Taylor, relative error < 1e-14; log: 2·atanh series, < 1e-15;
//   tanh in fdlibm's form) and rounded to f32 once, so they match the f64 reference to f32 rounding (measured:
//   identical on 200K mixed inputs, erf within 1 ulp); sin, cos and pow call the C library in double.
// - binary ops on two f32 operands compute in f32 (identical to the f64 reference rounded, for + − × ÷); binaryScalar
//   computes in double when the scalar is not exactly an f32.
// - softmax and cross-entropy use a vectorised f32 exp (Cephes polynomial, ≤ 2 ulp for arguments in [-87, 88]; the
//   result of exp(x − max) so carries relative error ≲ 1.2e-7·(1 + |x − max|)); row sums accumulate in double.
// - norms compute their row statistics and elementwise formulas in double; dw/db accumulate per thread in double.
#pragma once

#include <cstdint>

namespace kiln {

// Same order as src/backend/native/elementwise.ts (UNARY_CODES / BINARY_CODES).
enum UnaryCode : int {
  kNeg, kExp, kLog, kSqrt, kRsqrt, kAbs, kSin, kCos, kTanh, kSigmoid, kSilu, kGelu, kGeluTanh, kRelu, kSign,
  kSquare, kReciprocal, kErf, kSiluGrad, kGeluGrad, kGeluTanhGrad, kUnaryCount
};
enum BinaryCode : int { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kEq, kNe, kLt, kLe, kGt, kGe, kBinaryCount };
enum ReduceCode : int { kSum, kRedMax, kRedMin, kReduceCount };

struct KernelTable {
  const char* name;
  // out[i] = op(x[i]), i < n.
  void (*unary)(int op, const float* x, float* out, int64_t n);
  // out[i] = op(a[i*sa], b[i*sb]) for i < n, with sa, sb in {0, 1}.
  void (*binary)(int op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n);
  // out[i] = op(a[i], s) (or op(s, a[i]) when scalarFirst), s a double as in the reference.
  void (*binaryScalar)(int op, const float* a, double s, bool scalarFirst, float* out, int64_t n);
  // out[i] = c[i*sc] != 0 ? a[i*sa] : b[i*sb], strides in {0, 1}.
  void (*where)(const float* c, int64_t sc, const float* a, int64_t sa, const float* b, int64_t sb, float* out,
                int64_t n);
  // Row reductions of [rows, r] (inner = 1): out[k] = reduce(x[k*r .. k*r + r)), k in [k0, k1).
  void (*reduceRows)(int op, const float* x, int64_t r, float* out, int64_t k0, int64_t k1);
  // Column reductions of one [r, inner] slice over columns [i0, i1): out[i] = reduce_j x[j*inner + i].
  void (*reduceCols)(int op, const float* x, int64_t r, int64_t inner, float* out, int64_t i0, int64_t i1);
  void (*argRows)(int op, const float* x, int64_t r, int32_t* out, int64_t k0, int64_t k1);
  void (*argCols)(int op, const float* x, int64_t r, int64_t inner, int32_t* out, int64_t i0, int64_t i1);
  // NN kernels on contiguous [rows, cols], rows [r0, r1).
  void (*softmax)(const float* x, int64_t cols, float* out, bool log, int64_t r0, int64_t r1);
  void (*softmaxBackward)(const float* y, const float* dy, int64_t cols, float* dx, bool log, int64_t r0, int64_t r1);
  void (*crossEntropy)(const float* logits, int64_t cols, const int32_t* targets, int64_t ignoreIndex,
                       double smoothing, float* loss, float* dlogits, int64_t r0, int64_t r1);
  void (*rmsNorm)(const float* x, const float* w, int64_t cols, double eps, float* y, float* rstd, int64_t r0,
                  int64_t r1);
  // dwAcc (may be null): double[cols] this thread's partial sum of dy * xhat over its rows (added to, not reset).
  void (*rmsNormBackward)(const float* x, const float* w, const float* rstd, const float* dy, int64_t cols,
                          float* dx, double* dwAcc, int64_t r0, int64_t r1);
  void (*layerNorm)(const float* x, const float* w, const float* b, int64_t cols, double eps, float* y, float* mean,
                    float* rstd, int64_t r0, int64_t r1);
  void (*layerNormBackward)(const float* x, const float* w, const float* mean, const float* rstd, const float* dy,
                            int64_t cols, float* dx, double* dwAcc, double* dbAcc, int64_t r0, int64_t r1);
};

const KernelTable& kernelsAvx512();
const KernelTable& kernelsAvx2();
const KernelTable& kernelsScalar();
const KernelTable& kernelsActive();

}  // namespace kiln
