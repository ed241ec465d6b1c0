// AVX2 instantiation of the generic row kernels (kernels-generic.h over the 8-lane AVX2 traits of kernels-simd.h),
// compiled for AVX2 + FMA by a target pragma; reached when cpu.cc reports AVX2 but not AVX-512 (or KILN_ISA=avx2).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#pragma GCC diagnostic ignored "-Wpsabi"

namespace kiln {
namespace kernels_avx2 {
namespace {
constexpr const char* kIsaName = "avx2";
#define KILN_SIMD_AVX2
#include "kernels-simd.h"
#undef KILN_SIMD_AVX2
#include "kernels-generic.h"
}  // namespace
}  // namespace kernels_avx2

const KernelTable& kernelsAvx2() { return kernels_avx2::kTable; }

}  // namespace kiln

#pragma GCC pop_options
