// CPU feature detection (see cpu.h). __builtin_cpu_supports checks both CPUID and the OS-enabled register state.
#include "cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace kiln {

namespace {

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

std::atomic<int> g_active{-1};

}  // namespace

Isa bestIsa() {
  static const Isa best = detect();
  return best;
}

bool parseIsa(const char* name, Isa* out) {
  if (std::strcmp(name, "avx512") == 0) *out = Isa::Avx512;
  else if (std::strcmp(name, "avx2") == 0) *out = Isa::Avx2;
  else if (std::strcmp(name, "scalar") == 0) *out = Isa::Scalar;
  else return false;
  return true;
}

Isa activeIsa() {
  int v = g_active.load(std::memory_order_relaxed);
  if (v >= 0) return static_cast<Isa>(v);
  Isa isa = bestIsa();
  const char* env = std::getenv("KILN_ISA");
  Isa wanted;
  if (env != nullptr && *env != '\0' && parseIsa(env, &wanted) && wanted < isa) isa = wanted;
  int expected = -1;
  g_active.compare_exchange_strong(expected, static_cast<int>(isa));
  return static_cast<Isa>(g_active.load());
}

bool setActiveIsa(Isa isa) {
  if (isa > bestIsa()) return false;
  g_active.store(static_cast<int>(isa));
  return true;
}

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace kiln
