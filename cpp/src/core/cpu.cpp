// ISA detection and selection. Built without vector flags.
#include "fastdl/cpu.h"

#include <atomic>
#include <cstdlib>

#include "fastdl/common.h"

namespace fastdl {

bool cpu_supports(Isa isa) {
  if (isa == Isa::generic) return true;
#if defined(FASTDL_HAVE_AVX2) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == Isa::avx2) return avx2;
#if defined(FASTDL_HAVE_AVX512)
  if (isa == Isa::avx512) return avx2 && __builtin_cpu_supports("avx512f");
#endif
  return false;
#else
  return false;
#endif
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

Isa parse_isa(const std::string& name) {
  if (name == "generic") return Isa::generic;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw ArgumentError("unknown ISA '" + name + "': expected 'generic', 'avx2' or 'avx512'");
}

static Isa initial_isa() {
  // FASTDL_ISA is applied by the Python package (it raises a clear error there); here we
  // only pick the best path the CPU supports.
  if (cpu_supports(Isa::avx512)) return Isa::avx512;
  return cpu_supports(Isa::avx2) ? Isa::avx2 : Isa::generic;
}

static std::atomic<int> g_isa{static_cast<int>(initial_isa())};

Isa active_isa() { return static_cast<Isa>(g_isa.load(std::memory_order_relaxed)); }

void set_isa(const std::string& name) {
  Isa isa = parse_isa(name);
  if (!cpu_supports(isa)) {
    const char* why = " (needs AVX2 and FMA)";
#if !defined(FASTDL_HAVE_AVX2)
    why = " (this build has no x86 SIMD kernels)";
#elif !defined(FASTDL_HAVE_AVX512)
    if (isa == Isa::avx512) why = " (this build has no AVX-512 kernels)";
#else
    if (isa == Isa::avx512) why = " (needs AVX-512F, AVX2 and FMA)";
#endif
    throw ArgumentError(std::string("ISA '") + name + "' is not supported by this CPU" + why);
  }
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace fastdl
