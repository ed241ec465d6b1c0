// Portable instantiation of the generic row kernels (one-lane traits; baseline x86-64), used when neither AVX2 nor
// AVX-512 is available or KILN_ISA=scalar. Also hosts the run-time dispatch kernelsActive().
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "cpu.h"
#include "kernels.h"

namespace kiln {
namespace kernels_scalar {
namespace {
constexpr const char* kIsaName = "scalar";
#define KILN_SIMD_SCALAR
#include "kernels-simd.h"
#undef KILN_SIMD_SCALAR
#include "kernels-generic.h"
}  // namespace
}  // namespace kernels_scalar

const KernelTable& kernelsScalar() { return kernels_scalar::kTable; }

const KernelTable& kernelsActive() {
  switch (activeIsa()) {
    case Isa::Avx512: return kernelsAvx512();
    case Isa::Avx2: return kernelsAvx2();
    default: return kernelsScalar();
  }
}

}  // namespace kiln
