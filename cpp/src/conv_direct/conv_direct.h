// Direct convolution on the channel-blocked layout (the conv family's second engine; see
// conv_direct_kernels.h for the layouts and docs/kernels.md §1b for the design). The entry
// points take and return plain NCHW tensors and reorder at the boundary, one group of images at
// a time (the blocked copies of a group stay cache-sized). groups == 1 only.
#pragma once
#include <cstdint>

#include "conv_direct_kernels.h"
#include "fastdl/conv.h"

namespace fastdl {

// Whether this table's direct path is expected to beat im2col + SGEMM on the shape (forward,
// backward-data, backward-weights). Measured rules, see the comment in conv_direct.cpp.
struct DirectChoice {
  bool fwd = false, dx = false, dw = false;
};
DirectChoice conv_direct_choice(const Conv2dParams& p, Isa isa);

// Backward-data runs as a stride-1 forward convolution of dy with the flipped, transposed
// weights: possible when stride is 1 and dilation * (kernel - 1) >= padding on both axes.
bool conv_direct_dx_supported(const Conv2dParams& p);

// y (N, K, P, Q) = conv(x, w) + b (b may be null). groups == 1.
void conv_direct_forward(const ConvDirectKernels& kt, float* y, const float* x, const float* w, const float* b,
                         const Conv2dParams& p);

// dx (when non-null; needs conv_direct_dx_supported) and dw (when non-null) overwritten. dw is
// bitwise the same on any thread count: each block of dw is summed by one thread in image order.
void conv_direct_backward(const ConvDirectKernels& kt, float* dx, float* dw, const float* dy, const float* x,
                          const float* w, const Conv2dParams& p);

}  // namespace fastdl
