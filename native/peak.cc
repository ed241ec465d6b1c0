// FMA peak probe. Each ISA's kernel keeps many accumulators in flight (more than FMA latency x FMA ports: 4 cycles x
// 2 ports = 8 on recent Intel cores), each a chain acc = acc * x + y, written in inline assembly so the compiler
// can neither fold identical chains nor spill. AVX-512: 24 zmm chains; AVX2: 12 ymm chains; scalar: 12 SSE
// mul+add pairs (SSE2 has no FMA; counted as 2 flops per lane).
#include "peak.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "cpu.h"
#include "thread-pool.h"

namespace kiln {

namespace {

const float kX = 0.999999f;  // chains converge to y / (1 - x): no overflow, no denormals
const float kY = 1e-7f;

#define KILN_Z(r) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #r "\n\t"
__attribute__((target("avx512f"))) double chainsAvx512(int64_t iters) {
  __asm__ volatile(
      "vbroadcastss %[x], %%zmm30\n\t"
      "vbroadcastss %[y], %%zmm31\n\t"
      "vxorps %%xmm0, %%xmm0, %%xmm0\n\t"
      "1:\n\t"
      KILN_Z(0) KILN_Z(1) KILN_Z(2) KILN_Z(3) KILN_Z(4) KILN_Z(5) KILN_Z(6) KILN_Z(7) KILN_Z(8) KILN_Z(9)
      KILN_Z(10) KILN_Z(11) KILN_Z(12) KILN_Z(13) KILN_Z(14) KILN_Z(15) KILN_Z(16) KILN_Z(17) KILN_Z(18)
      KILN_Z(19) KILN_Z(20) KILN_Z(21) KILN_Z(22) KILN_Z(23)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [n] "+r"(iters)
      : [x] "m"(kX), [y] "m"(kY)
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
        "xmm30", "xmm31");
  return 24.0 * 16 * 2;
}
#undef KILN_Z

#define KILN_Y(r) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #r "\n\t"
__attribute__((target("avx2,fma"))) double chainsAvx2(int64_t iters) {
  __asm__ volatile(
      "vbroadcastss %[x], %%ymm14\n\t"
      "vbroadcastss %[y], %%ymm15\n\t"
      "1:\n\t"
      KILN_Y(0) KILN_Y(1) KILN_Y(2) KILN_Y(3) KILN_Y(4) KILN_Y(5) KILN_Y(6) KILN_Y(7) KILN_Y(8) KILN_Y(9)
      KILN_Y(10) KILN_Y(11)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [n] "+r"(iters)
      : [x] "m"(kX), [y] "m"(kY)
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm14", "xmm15");
  return 12.0 * 8 * 2;
}
#undef KILN_Y

#define KILN_S(r) "mulps %%xmm14, %%xmm" #r "\n\t addps %%xmm15, %%xmm" #r "\n\t"
double chainsSse(int64_t iters) {
  __asm__ volatile(
      "movss %[x], %%xmm14\n\t shufps $0, %%xmm14, %%xmm14\n\t"
      "movss %[y], %%xmm15\n\t shufps $0, %%xmm15, %%xmm15\n\t"
      "1:\n\t"
      KILN_S(0) KILN_S(1) KILN_S(2) KILN_S(3) KILN_S(4) KILN_S(5) KILN_S(6) KILN_S(7) KILN_S(8) KILN_S(9)
      KILN_S(10) KILN_S(11)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [n] "+r"(iters)
      : [x] "m"(kX), [y] "m"(kY)
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm14", "xmm15");
  return 12.0 * 4 * 2;
}
#undef KILN_S

// Runs `iters` loop iterations of the active ISA's chains; returns the flops done.
double runChains(Isa isa, int64_t iters) {
  switch (isa) {
    case Isa::Avx512: return chainsAvx512(iters) * static_cast<double>(iters);
    case Isa::Avx2: return chainsAvx2(iters) * static_cast<double>(iters);
    default: return chainsSse(iters) * static_cast<double>(iters);
  }
}

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

double peakGflops(int threads, double seconds) {
  const Isa isa = activeIsa();
  seconds = std::min(std::max(seconds, 0.001), 60.0);
  // Calibrate on the caller: iterations per ~1 ms slice.
  int64_t slice = 1000;
  for (;;) {
    double t0 = nowSeconds();
    runChains(isa, slice);
    double dt = nowSeconds() - t0;
    if (dt > 2e-4 || slice > (int64_t{1} << 40)) {
      slice = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(slice) * 1e-3 / std::max(dt, 1e-9)));
      break;
    }
    slice *= 4;
  }
  // Each thread times windows of ~4 slices (~4 ms) and keeps its best window's rate; the result sums the threads'
  // best rates. On a shared machine this measures what the cores can do, not how much of them we were given.
  std::atomic<double> total{0.0};
  runTeam(std::max(threads, 1), [&](const Team& team) {
    team.sync();
    const double t0 = nowSeconds();
    double best = 0.0;
    do {
      const double w0 = nowSeconds();
      double flops = 0.0;
      for (int i = 0; i < 4; ++i) flops += runChains(isa, slice);
      const double dt = nowSeconds() - w0;
      if (dt > 0) best = std::max(best, flops / dt);
    } while (nowSeconds() - t0 < seconds);
    double cur = total.load();
    while (!total.compare_exchange_weak(cur, cur + best)) {
    }
  });
  return total.load() / 1e9;
}

}  // namespace kiln
