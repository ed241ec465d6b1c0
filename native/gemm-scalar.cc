// Portable GEMM kernel (baseline x86-64 / any CPU): a 4 x 8 micro-kernel in plain C++ that the compiler vectorises
// with SSE2 at most. The reference fallback when neither AVX2 nor AVX-512 is available (or KILN_ISA=scalar).
#include <cstdint>

#include "gemm.h"

namespace kiln {
namespace {

#include "gemm-generic.h"

constexpr int MR = 4;
constexpr int NR = 8;

void packA(int64_t m, int64_t k, const float* a, int64_t rs, int64_t cs, float* dst) {
  packAGeneric<MR>(m, k, a, rs, cs, dst);
}
void packB(int64_t k, int64_t n, const float* b, int64_t rs, int64_t cs, float* dst) {
  packBGeneric<NR>(k, n, b, rs, cs, dst);
}

const GemmKernel kKernel = {"scalar-4x8", MR, NR, 4 * 32, 256, 2048, packA, packB, microGeneric<MR, NR>, gemvGeneric};

}  // namespace

const GemmKernel& gemmKernelScalar() { return kKernel; }

}  // namespace kiln
