// Internal: the per-ISA kernel table of the dropout family (see core/dispatch.h). Entries are
// serial on the chunk [i0, i0 + n) of the whole tensor (i0 feeds the counter-based RNG, so the
// mask depends only on (seed, i)); dropout.cpp splits the range over threads. No AVX-512
// variant: the avx512 level runs the AVX2 table.
#pragma once
#include <cstdint>

#include "fastdl/cpu.h"

namespace fastdl {

struct DropoutKernels {
  // k0, k1: 32-bit keys derived from the seed; thresh = round(p * 2^24); scale = 1 / (1 - p).
  void (*forward)(float* y, uint8_t* mask, const float* x, int64_t i0, int64_t n, uint32_t k0, uint32_t k1,
                  uint32_t thresh, float scale);
  void (*backward)(float* dx, const float* dy, const uint8_t* mask, int64_t n, float scale);
};

namespace generic {
const DropoutKernels& dropout_kernels();  // dropout_generic.cpp
}
namespace avx2 {
const DropoutKernels& dropout_kernels();  // dropout_avx2.cpp
}
const DropoutKernels& dropout_kernels(Isa isa);  // dropout.cpp

}  // namespace fastdl
