// Runtime ISA dispatch. cpu.cpp is compiled without vector flags.
#pragma once
#include <string>

namespace fastdl {

enum class Isa { generic = 0, avx2 = 1 };

// True when the CPU (and OS) support the ISA: avx2 needs AVX2 + FMA and x86-64.
bool cpu_supports(Isa isa);
// The path kernels use now. Starts as the best the CPU supports, or FASTDL_ISA when set.
Isa active_isa();
// Selects a path; throws ArgumentError when the CPU lacks it or the name is unknown.
void set_isa(const std::string& name);
const char* isa_name(Isa isa);

inline bool use_avx2() { return active_isa() == Isa::avx2; }

}  // namespace fastdl
