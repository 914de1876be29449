// Internal to cpp/src/conv: the per-ISA kernel table of the conv family (see core/dispatch.h).
// conv.cpp (shape arithmetic, checks, threading, the im2col + SGEMM driver) reads the table
// once per public call and passes it down; the GEMM itself dispatches through gemm_kernels.
// The bodies are the templates im2col_impl.h and dw_small_impl.h, compiled once per ISA
// (conv_generic.cpp, conv_avx2.cpp, conv_avx512.cpp).
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
  // dw (Kg, Cg*R*S) = beta * dw (beta 0 or 1) + the weight gradient of one image and group,
  // dy (Kg, P, Q) against x (Cg, H, W), for stride_w == 1, as dot products over the pixels
  // with no im2col (dw_small_impl.h); pad holds dw_small_pad_floats(p) floats.
  void (*dw_small)(float* dw, float beta, const float* dy, const float* x, const Conv2dParams& p, float* pad);
};

// The zero-padded input rows and columns dw_small reads (stride_w == 1).
inline int64_t dw_small_pad_rows(const Conv2dParams& p) { return (p.P - 1) * p.stride_h + (p.R - 1) * p.dil_h + 1; }
inline int64_t dw_small_pad_cols(const Conv2dParams& p) { return p.Q + (p.S - 1) * p.dil_w; }
inline int64_t dw_small_pad_floats(const Conv2dParams& p) { return p.Cg * dw_small_pad_rows(p) * dw_small_pad_cols(p); }

namespace generic {
const ConvKernels& conv_kernels();
}
#if defined(FASTDL_HAVE_AVX2)
namespace avx2 {
const ConvKernels& conv_kernels();
}
#endif
#if defined(FASTDL_HAVE_AVX512)
namespace avx512 {
const ConvKernels& conv_kernels();
}
#endif

// The table for `isa` (throws UnsupportedIsa when the CPU lacks it).
const ConvKernels& conv_kernels(Isa isa);

}  // namespace fastdl
