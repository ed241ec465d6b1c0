// Kiln GEMM kernel lab: times the library's GEMM (and blocking variants of it) outside Node, and checks each run
// against a naive triple loop. Only winners move into native/gemm-*.cc. Build and run with
//   node scripts/gemm-lab.mjs [args]     (compiles build/gemm-lab with the same flags as the addon)
// Args: peak=<seconds> micro=<reps> pack=1 shape=MxNxK batch=B sizes=256,512,1024 threads=1,2 isa=avx512|avx2|scalar mc=.. kc=.. nc=.. reps=5 ta=0 tb=0
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../cpu.h"
#include "../gemm.h"
#include "../peak.h"
#include "../thread-pool.h"

using namespace kiln;

static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of the whole process: on a shared, oversubscribed machine this tracks the kernel's own speed far better
// than wall time (for threads > 1 it also counts the workers, spinning included).
static double cpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static std::vector<int> parseList(const char* s) {
  std::vector<int> v;
  while (*s) {
    v.push_back(std::atoi(s));
    const char* c = std::strchr(s, ',');
    if (!c) break;
    s = c + 1;
  }
  return v;
}

int main(int argc, char** argv) {
  std::vector<int> sizes = {256, 512, 1024, 2048}, threads = {1, 2};
  int reps = 5, ta = 0, tb = 0;
  double peakSeconds = 0;
  int microReps = 0, packTest = 0, batch = 1;
  long macroLdc = 0;
  int cFixed = 0;  // macro mode: every tile updates the same C tile (C always in L1)
  std::string shape;
  long mc = 0, kc = 0, nc = 0;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (!std::strncmp(a, "sizes=", 6)) sizes = parseList(a + 6);
    else if (!std::strncmp(a, "threads=", 8)) threads = parseList(a + 8);
    else if (!std::strncmp(a, "peak=", 5)) peakSeconds = std::atof(a + 5);
    else if (!std::strncmp(a, "micro=", 6)) microReps = std::atoi(a + 6);
    else if (!std::strncmp(a, "shape=", 6)) shape = a + 6;
    else if (!std::strncmp(a, "batch=", 6)) batch = std::atoi(a + 6);
    else if (!std::strncmp(a, "cfixed=", 7)) cFixed = std::atoi(a + 7);
    else if (!std::strncmp(a, "macro=", 6)) macroLdc = std::atol(a + 6);
    else if (!std::strncmp(a, "pack=", 5)) packTest = std::atoi(a + 5);
    else if (!std::strncmp(a, "reps=", 5)) reps = std::atoi(a + 5);
    else if (!std::strncmp(a, "mc=", 3)) mc = std::atol(a + 3);
    else if (!std::strncmp(a, "kc=", 3)) kc = std::atol(a + 3);
    else if (!std::strncmp(a, "nc=", 3)) nc = std::atol(a + 3);
    else if (!std::strncmp(a, "ta=", 3)) ta = std::atoi(a + 3);
    else if (!std::strncmp(a, "tb=", 3)) tb = std::atoi(a + 3);
    else if (!std::strncmp(a, "isa=", 4)) {
      Isa isa;
      if (!parseIsa(a + 4, &isa) || !setActiveIsa(isa)) { std::fprintf(stderr, "bad isa %s\n", a + 4); return 1; }
    } else { std::fprintf(stderr, "unknown arg %s\n", a); return 1; }
  }
  if (peakSeconds > 0) {
    for (int t : threads) {
      setNumThreads(std::max(t, 1));
      double c0 = cpuNow(), t0 = now();
      double g = peakGflops(t, peakSeconds);
      double cpu = cpuNow() - c0, wall = now() - t0;
      std::printf("peak %s threads=%d  %7.1f GFLOP/s wall  (cpu/wall %.2f)\n", isaName(activeIsa()), t, g, cpu / wall);
    }
  }
  GemmKernel kr = gemmKernelActive();
  if (mc) kr.mc = mc;
  if (kc) kr.kc = kc;
  if (nc) kr.nc = nc;
  if (!shape.empty()) {
    // A batched shape (e.g. attention-like 64x64x64 x 64): GFLOP/s wall, best of reps.
    int M = 0, N = 0, K = 0;
    std::sscanf(shape.c_str(), "%dx%dx%d", &M, &N, &K);
    std::vector<float> A((size_t)batch * M * K, 0.5f), B((size_t)batch * K * N, 0.25f), C((size_t)batch * M * N);
    GemmArgs g{batch, ta != 0, tb != 0, M, N, K, 1.0f, A.data(), ta ? M : K, (int64_t)M * K, B.data(), tb ? K : N,
               (int64_t)K * N, 0.0f, C.data(), N, (int64_t)M * N};
    for (int t : threads) {
      setNumThreads(std::max(t, 1));
      double best = 1e30;
      for (int r = 0; r < reps; ++r) {
        double t0 = now();
        gemmWith(kr, g, t);
        best = std::fmin(best, now() - t0);
      }
      std::printf("%s x batch %d threads=%d: %.1f GFLOP/s (%.1f us)  C[0]=%g\n", shape.c_str(), batch, t,
                  2.0 * batch * M * N * (double)K / best / 1e9, best * 1e6, C[0]);
    }
    return 0;
  }
  if (macroLdc > 0) {
    // The macro-kernel alone (jr/ir loops over a packed mc x kc A block and kc x 1024 B panel), C with row stride
    // macroLdc: separates L2 streaming of A and C traffic from packing.
    const long k = kr.kc, m = kr.mc, n = 1024;
    float* pa = static_cast<float*>(std::aligned_alloc(64, 4 * m * k));
    float* pb = static_cast<float*>(std::aligned_alloc(64, 4 * n * k));
    std::vector<float> cc(m * macroLdc);
    for (long i = 0; i < m * k; ++i) pa[i] = 0.001f * (i % 7);
    for (long i = 0; i < n * k; ++i) pb[i] = 0.001f * (i % 5);
    for (int rep = 0; rep < 3; ++rep) {
      // peakGflops reports the best window, i.e. the rate while actually running: comparable to cpu-time rates.
      double peakCpu = peakGflops(1, 0.1);
      double c0 = cpuNow();
      const int reps2 = 20;
      for (int r = 0; r < reps2; ++r)
        for (long jr = 0; jr < n; jr += kr.nr)
          for (long ir = 0; ir < m; ir += kr.mr)
            kr.micro(k, pa + ir * k, pb + jr * k, cFixed ? cc.data() : cc.data() + ir * macroLdc + jr, macroLdc, kr.mr, kr.nr,
                     1.0f, 1.0f);
      double dt = cpuNow() - c0;
      double g = 2.0 * m * n * k * reps2 / dt / 1e9;
      std::printf("macro mc=%ld kc=%ld ldc=%ld: %.1f GFLOP/s per cpu-second = %.0f%% of peak %.1f\n", m, k, macroLdc, g,
                  100 * g / peakCpu, peakCpu);
    }
    return 0;
  }
  if (packTest) {
    // Packing cost for a 1024 x 1024 operand in the blocking the driver uses.
    const long n = 1024, k = kr.kc;
    std::vector<float> src(n * n, 1.0f);
    float* dst = static_cast<float*>(std::aligned_alloc(64, 4 * n * n));
    for (int tr = 0; tr < 2; ++tr) {
      double c0 = cpuNow();
      for (int rep = 0; rep < 5; ++rep)
        for (long pc = 0; pc < n; pc += k)
          for (long ic = 0; ic < n; ic += kr.mc) {
            long m = std::min<long>(kr.mc, n - ic);
            if (tr) kr.packA(m, k, src.data() + ic + pc * n, 1, n, dst);
            else kr.packA(m, k, src.data() + ic * n + pc, n, 1, dst);
          }
      double ta = (cpuNow() - c0) / 5;
      c0 = cpuNow();
      for (int rep = 0; rep < 5; ++rep)
        for (long pc = 0; pc < n; pc += k) {
          if (tr) kr.packB(k, n, src.data() + pc, 1, n, dst);
          else kr.packB(k, n, src.data() + pc * n, n, 1, dst);
        }
      double tb = (cpuNow() - c0) / 5;
      std::printf("pack 1024^2 trans=%d: A %.3f ms, B %.3f ms (gemm at 150 GFLOP/s: %.3f ms)\n", tr, ta * 1e3, tb * 1e3,
                  2.0 * n * n * n / 150e9 * 1e3);
    }
    return 0;
  }
  if (microReps > 0) {
    // The micro-kernel alone on hot packed panels: its ceiling, without packing or cache misses.
    const long k = kr.kc;
    float* pa = static_cast<float*>(std::aligned_alloc(64, 4 * ((kr.mr * k * 4 + 63) / 64) * 64));
    float* pb = static_cast<float*>(std::aligned_alloc(64, 4 * ((kr.nr * k * 4 + 63) / 64) * 64));
    std::vector<float> cc(kr.mr * 64);
    for (long i = 0; i < kr.mr * k; ++i) pa[i] = 0.001f * (i % 7);
    for (long i = 0; i < kr.nr * k; ++i) pb[i] = 0.001f * (i % 5);
    for (int rep = 0; rep < 3; ++rep) {
      // peakGflops reports the best window, i.e. the rate while actually running: comparable to cpu-time rates.
      double peakCpu = peakGflops(1, 0.1);
      double c0 = cpuNow();
      for (int r = 0; r < microReps; ++r) kr.micro(k, pa, pb, cc.data(), 64, kr.mr, kr.nr, 1.0f, 1.0f);
      double dt = cpuNow() - c0;
      double g = 2.0 * kr.mr * kr.nr * k * microReps / dt / 1e9;
      std::printf("micro %s k=%ld: %.1f GFLOP/s per cpu-second = %.0f%% of peak %.1f\n", kr.name, k, g, 100 * g / peakCpu, peakCpu);
    }
    return 0;
  }
  std::printf("kernel %s mc=%ld kc=%ld nc=%ld ta=%d tb=%d\n", kr.name, (long)kr.mc, (long)kr.kc, (long)kr.nc, ta, tb);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (int n : sizes) {
    std::vector<float> A((size_t)n * n), B((size_t)n * n), C((size_t)n * n);
    for (auto& x : A) x = dist(rng);
    for (auto& x : B) x = dist(rng);
    GemmArgs g{1, ta != 0, tb != 0, n, n, n, 1.0f, A.data(), n, 0, B.data(), n, 0, 0.0f, C.data(), n, 0};
    // Spot-checks 64 entries of C against the definition (after each thread count's runs).
    auto spotError = [&] {
      double maxErr = 0;
      for (int s = 0; s < 64; ++s) {
        int i = (s * 7919) % n, j = (s * 104729) % n;
        double ref = 0;
        for (int p = 0; p < n; ++p)
          ref += (double)(ta ? A[(size_t)p * n + i] : A[(size_t)i * n + p]) *
                 (tb ? B[(size_t)j * n + p] : B[(size_t)p * n + j]);
        maxErr = std::fmax(maxErr, std::fabs(ref - C[(size_t)i * n + j]) / std::sqrt((double)n));
      }
      return maxErr;
    };
    for (int t : threads) {
      setNumThreads(std::max(t, 1));
      // peakGflops reports the best window, i.e. the rate while actually running: comparable to cpu-time rates.
      double peakCpu = peakGflops(1, 0.1);
      double best = 1e30, bestCpu = 1e30;
      for (int r = 0; r < reps; ++r) {
        double t0 = now(), c0 = cpuNow();
        gemmWith(kr, g, t);
        best = std::fmin(best, now() - t0);
        bestCpu = std::fmin(bestCpu, cpuNow() - c0);
      }
      const double maxErr = spotError();
      const double flop = 2.0 * n * n * (double)n;
      std::printf("n=%5d threads=%d  %7.1f GFLOP/s wall  %7.1f GFLOP/s per cpu-second x threads  = %3.0f%% of peak %5.1f"
                  "  (best of %d, %.3f ms)  err/sqrtK=%.2e\n", n, t, flop / best / 1e9, flop / bestCpu * t / 1e9,
                  100 * flop / bestCpu * t / 1e9 / (peakCpu * t), peakCpu, reps, best * 1e3, maxErr);
    }
  }
  return 0;
}
