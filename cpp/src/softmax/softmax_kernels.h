// Internal: the per-ISA kernel table of the softmax family (see core/dispatch.h). Entries are
// serial; softmax.cpp splits rows or (outer, column-block) tasks over threads. `log` selects
// log_softmax. No AVX-512 variant: the avx512 level runs the AVX2 table.
#pragma once
#include <cstdint>

#include "fastdl/cpu.h"

namespace fastdl {

// Columns per *_cols task (the generic path keeps per-column max/sum on the stack).
constexpr int64_t kSoftmaxColBlock = 256;

struct SoftmaxKernels {
  // `rows` contiguous rows of C (inner == 1).
  void (*rows)(bool log, float* y, const float* x, int64_t rows, int64_t C);
  // One (C, ncols) block with row stride ld, ncols <= kSoftmaxColBlock.
  void (*cols)(bool log, float* y, const float* x, int64_t C, int64_t ncols, int64_t ld);
  void (*backward_rows)(bool log, float* dx, const float* dy, const float* y, int64_t rows, int64_t C);
  void (*backward_cols)(bool log, float* dx, const float* dy, const float* y, int64_t C, int64_t ncols, int64_t ld);
};

namespace generic {
const SoftmaxKernels& softmax_kernels();  // softmax_generic.cpp
}
namespace avx2 {
const SoftmaxKernels& softmax_kernels();  // softmax_avx2.cpp
}
const SoftmaxKernels& softmax_kernels(Isa isa);  // softmax.cpp

}  // namespace fastdl
