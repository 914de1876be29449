// Internal to cpp/src/conv: the per-ISA kernel table of the conv family (see core/dispatch.h).
// conv.cpp (shape arithmetic, checks, threading, the im2col + SGEMM driver) reads the table
// once per public call and passes it down; the GEMM itself dispatches through gemm_kernels.
// The bodies are the templates im2col_impl.h and dot_nt_impl.h, compiled once per ISA
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
  // c (M, N; ldc) = beta * c + a (M, L; lda) * b (N, L; ldb)^T, beta 0 or 1: the weight
  // gradient of a convolution with few weights, as dot products over a long L (dot_nt_impl.h).
  void (*dot_nt)(float* c, int64_t ldc, float beta, const float* a, int64_t lda, const float* b, int64_t ldb,
                 int64_t M, int64_t N, int64_t L);
};

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
