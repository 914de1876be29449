// Internal to cpp/src/conv: the per-ISA kernel table of the conv family (see core/dispatch.h).
// conv.cpp (shape arithmetic, checks, threading, the im2col + SGEMM driver) reads the table
// once per public call and passes it down; the GEMM itself dispatches through gemm_kernels.
// The bodies are the one template im2col_impl.h, compiled once per ISA (conv_generic.cpp,
// conv_avx2.cpp).
#pragma once
#include <cstdint>

#include "../core/dispatch.h"
#include "fastdl/conv.h"

namespace fastdl {

struct ConvKernels {
  // col (Cg*R*S, P*Q; row stride ld) from x (Cg, H, W) of one image and one group.
  void (*im2col)(float* col, const float* x, const Conv2dParams& p, int64_t ld);
  // dx (Cg, H, W) overwritten with the scatter-add of col.
  void (*col2im)(float* dx, const float* col, const Conv2dParams& p, int64_t ld);
};

namespace generic {
const ConvKernels& conv_kernels();
}
#if defined(FASTDL_HAVE_AVX2)
namespace avx2 {
const ConvKernels& conv_kernels();
}
#endif

// The table for `isa` (throws UnsupportedIsa when the CPU lacks it).
const ConvKernels& conv_kernels(Isa isa);

}  // namespace fastdl
