// Internal: the per-ISA kernel table of the activation family (see core/dispatch.h).
// Each entry is serial on one contiguous chunk; activation.cpp splits the range over threads.
// Semantics of act/param/saved: fastdl/activation.h. No AVX-512 variant: the avx512 level runs
// the AVX2 table.
#pragma once
#include <cstdint>

#include "fastdl/activation.h"
#include "fastdl/cpu.h"

namespace fastdl {

struct ActivationKernels {
  // y[0, n) = act(x[0, n)).
  void (*forward)(Activation act, float* y, const float* x, int64_t n, float param);
  // dx[0, n) from dy and the saved tensor (y or x, per fastdl/activation.h).
  void (*backward)(Activation act, float* dx, const float* dy, const float* saved, int64_t n, float param);
};

namespace generic {
const ActivationKernels& activation_kernels();  // activation_generic.cpp
}
namespace avx2 {
const ActivationKernels& activation_kernels();  // activation_avx2.cpp
}
// The table for `isa` (throws UnsupportedIsa when the CPU lacks it); activation.cpp.
const ActivationKernels& activation_kernels(Isa isa);

}  // namespace fastdl
