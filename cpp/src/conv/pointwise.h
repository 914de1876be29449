// Internal to cpp/src/conv: the pointwise engine, for 1x1 convolutions with stride 1 and no
// padding (NiN's 1x1 layers, bottlenecks). On NCHW such a convolution is a GEMM per image with
// no im2col at all:
//   forward          y_n  (K x HW) = w (K x C) * x_n (C x HW)          (+ bias, + ReLU)
//   backward-data    dx_n (C x HW) = w^T (C x K) * dy_n (K x HW)
//   backward-weights dw   (K x C)  = sum over n, hw of dy_n(:, hw) x_n(:, hw)^T
// Small maps (6x6 = 36 columns, 2x2 = 4) would leave most of a 32-wide register tile empty per
// image, so every product runs over the columns of the whole batch at once: the GEMM's packers
// read the columns (n, hw) of all images straight from NCHW (no copy into a column buffer), the
// micro-kernel writes a column block's tile into a cache-resident buffer and the epilogue
// scatters it to NCHW with the bias and, when fused, the ReLU. Weights are packed once per call.
// Threads split column blocks (forward, backward-data) or row bands of dw (backward-weights);
// every output sums its depth in the same order on any thread count (bitwise equal results).
#pragma once
#include <cstdint>

#include "fastdl/conv.h"

namespace fastdl {

// True for groups 1, 1x1, stride 1, no padding, N > 0 (dilation is irrelevant for 1x1), unless
// FASTDL_CONV_ENGINE forces im2col or direct.
bool pointwise_apply(const Conv2dParams& p);

// As conv2d_forward; relu: y = max(conv + bias, 0) written in the same pass.
void pointwise_forward(float* y, const float* x, const float* w, const float* b, const Conv2dParams& p, bool relu);

// As conv2d_backward without the bias gradient (dx, dw overwritten; either may be null).
void pointwise_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                        const Conv2dParams& p);

}  // namespace fastdl
