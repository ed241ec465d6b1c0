// AVX2 instantiation of the generic row kernels: the one-lane traits of kernels-simd.h compiled for AVX2 + FMA, so
// the compiler may vectorise the simple loops (explicit 8-lane AVX2 traits are future work).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace kiln {
namespace kernels_avx2 {
namespace {
constexpr const char* kIsaName = "avx2";
#define KILN_SIMD_SCALAR
#include "kernels-simd.h"
#undef KILN_SIMD_SCALAR
#include "kernels-generic.h"
}  // namespace
}  // namespace kernels_avx2

const KernelTable& kernelsAvx2() { return kernels_avx2::kTable; }

}  // namespace kiln

#pragma GCC pop_options
