// Kiln GEMM kernel lab: times the library's GEMM (and blocking variants of it) outside Node, and checks each run
// against a naive triple loop. Only winners move into native/gemm-*.cc. Build and run with
//   node scripts/gemm-lab.mjs [args]     (compiles build/gemm-lab with the same flags as the addon)
// Args: peak=<seconds> sizes=256,512,1024 threads=1,2 isa=avx512|avx2|scalar mc=.. kc=.. nc=.. reps=5 ta=0 tb=0
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
  long mc = 0, kc = 0, nc = 0;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (!std::strncmp(a, "sizes=", 6)) sizes = parseList(a + 6);
    else if (!std::strncmp(a, "threads=", 8)) threads = parseList(a + 8);
    else if (!std::strncmp(a, "peak=", 5)) peakSeconds = std::atof(a + 5);
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
  std::printf("kernel %s mc=%ld kc=%ld nc=%ld ta=%d tb=%d\n", kr.name, (long)kr.mc, (long)kr.kc, (long)kr.nc, ta, tb);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (int n : sizes) {
    std::vector<float> A((size_t)n * n), B((size_t)n * n), C((size_t)n * n);
    for (auto& x : A) x = dist(rng);
    for (auto& x : B) x = dist(rng);
    GemmArgs g{1, ta != 0, tb != 0, n, n, n, 1.0f, A.data(), n, 0, B.data(), n, 0, 0.0f, C.data(), n, 0};
    // spot-check 64 entries against the definition
    gemmWith(kr, g, 1);
    double maxErr = 0;
    for (int s = 0; s < 64; ++s) {
      int i = (s * 7919) % n, j = (s * 104729) % n;
      double ref = 0;
      for (int p = 0; p < n; ++p)
        ref += (double)(ta ? A[(size_t)p * n + i] : A[(size_t)i * n + p]) * (tb ? B[(size_t)j * n + p] : B[(size_t)p * n + j]);
      maxErr = std::fmax(maxErr, std::fabs(ref - C[(size_t)i * n + j]) / std::sqrt((double)n));
    }
    for (int t : threads) {
      setNumThreads(std::max(t, 1));
      double best = 1e30, bestCpu = 1e30;
      for (int r = 0; r < reps; ++r) {
        double t0 = now(), c0 = cpuNow();
        gemmWith(kr, g, t);
        best = std::fmin(best, now() - t0);
        bestCpu = std::fmin(bestCpu, cpuNow() - c0);
      }
      const double flop = 2.0 * n * n * (double)n;
      std::printf("n=%5d threads=%d  %7.1f GFLOP/s wall  %7.1f GFLOP/s per cpu-second x threads  (best of %d, %.3f ms)"
                  "  err/sqrtK=%.2e\n", n, t, flop / best / 1e9, flop / bestCpu * t / 1e9, reps, best * 1e3, maxErr);
    }
  }
  return 0;
}
