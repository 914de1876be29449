// Runtime ISA dispatch. cpu.cpp is compiled without vector flags.
#pragma once
#include <string>

namespace fastdl {

// Ordered: a higher level includes everything the lower ones use.
enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

// True when the CPU (and OS) support the ISA: avx2 needs AVX2 + FMA and x86-64; avx512 needs
// AVX-512F as well (and a build with the *_avx512.cpp kernels).
bool cpu_supports(Isa isa);
// The path kernels use now. Starts as the best the CPU supports; FASTDL_ISA is read by the
// Python package, which calls set_isa (cpu.cpp never reads the environment).
Isa active_isa();
// Parses a name ('generic', 'avx2', 'avx512'); throws ArgumentError for an unknown name.
Isa parse_isa(const std::string& name);
// Selects a path; throws ArgumentError when the CPU lacks it or the name is unknown.
void set_isa(const std::string& name);
const char* isa_name(Isa isa);

// Kernel families pick their code through a per-ISA table (cpp/src/core/dispatch.h): a family
// without an AVX-512 table runs its AVX2 table on the avx512 level.

}  // namespace fastdl
