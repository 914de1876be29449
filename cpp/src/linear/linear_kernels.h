// Internal to cpp/src/linear: the per-ISA kernel table of the linear family (see
// core/dispatch.h). The forward is an SGEMM (gemm_kernels); this table holds the column sum
// used for the bias gradient. linear.cpp reads it once per public call and threads over columns.
#pragma once
#include <cstdint>

#include "../core/dispatch.h"
#include "fastdl/linear.h"

namespace fastdl {

struct LinearKernels {
  // out[j] = sum_i x[i * ld + j] for j in [j0, j1): float chunks of kSumRowsChunk rows, the
  // chunk sums added in float64 (same order for every ISA and thread count).
  void (*sum_rows)(float* out, const float* x, int64_t M, int64_t ld, int64_t j0, int64_t j1);
};

namespace generic {
const LinearKernels& linear_kernels();  // linear_generic.cpp
}
#if defined(FASTDL_HAVE_AVX2)
namespace avx2 {
const LinearKernels& linear_kernels();  // linear_avx2.cpp
}
#endif

// The table for `isa` (linear.cpp; throws UnsupportedIsa when the CPU lacks it).
const LinearKernels& linear_kernels(Isa isa);

}  // namespace fastdl
