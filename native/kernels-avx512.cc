// AVX-512 instantiation of the generic row kernels (kernels-generic.h over the AVX-512 traits of kernels-simd.h):
// 16 f32 / 8 f64 lanes with masked tails. Compiled for AVX-512 by a target pragma; only reached when cpu.cc says
// AVX-512 is usable.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi2")
#pragma GCC diagnostic ignored "-Wpsabi"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // the intrinsics' own _mm256_undefined_ps

namespace kiln {
namespace kernels_avx512 {
namespace {
constexpr const char* kIsaName = "avx512";
#define KILN_SIMD_AVX512
#include "kernels-simd.h"
#undef KILN_SIMD_AVX512
#include "kernels-generic.h"
}  // namespace
}  // namespace kernels_avx512

const KernelTable& kernelsAvx512() { return kernels_avx512::kTable; }

}  // namespace kiln

#pragma GCC pop_options
