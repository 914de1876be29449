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
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

const char* isa_name(Isa isa) { return isa == Isa::avx2 ? "avx2" : "generic"; }

static Isa parse_isa(const std::string& name) {
  if (name == "generic") return Isa::generic;
  if (name == "avx2") return Isa::avx2;
  throw ArgumentError("unknown ISA '" + name + "': expected 'generic' or 'avx2'");
}

static Isa initial_isa() {
  // FASTDL_ISA is applied by the Python package (it raises a clear error there); here we
  // only pick the best path the CPU supports.
  return cpu_supports(Isa::avx2) ? Isa::avx2 : Isa::generic;
}

static std::atomic<int> g_isa{static_cast<int>(initial_isa())};

Isa active_isa() { return static_cast<Isa>(g_isa.load(std::memory_order_relaxed)); }

void set_isa(const std::string& name) {
  Isa isa = parse_isa(name);
  if (!cpu_supports(isa))
    throw ArgumentError(std::string("ISA '") + name + "' is not supported by this CPU" +
#if defined(FASTDL_HAVE_AVX2)
                        " (needs AVX2 and FMA)"
#else
                        " (this build has no AVX2 kernels)"
#endif
    );
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace fastdl
