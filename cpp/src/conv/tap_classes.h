// Internal to cpp/src/conv: convolutions on small output maps by classes of output positions.
//
// On a small map most taps of a 3x3 kernel fall in the zero padding for some outputs (ResNet-18
// at 28x28 runs 3x3 convolutions on 2x2 maps: 16 of the 36 tap-positions are real), and neither
// im2col (which multiplies the zeros) nor trimming whole kernel rows (every tap is real for some
// output) avoids that work. Here the outputs are split into classes that see the same live taps
// (per dimension: runs of outputs with the same in-input tap range; a class is a row run x a
// column run), and each class is one GEMM over the whole batch on its own weight slice:
//   forward          y_c (K x N*|c|)  = w_c (K x C*taps_c) * col_c (C*taps_c x N*|c|)
//   backward-data    dcol_c           = w_c^T * dy_c, added into dx
//   backward-weights dw_c             = dy_c * col_c^T, added into dw's taps
// so only real taps are multiplied. Classes run in a fixed order and the images in chunks fixed
// by the shape; the GEMM splits rows / columns between threads, never the reduction: results are
// bitwise the same on any thread count. Dilation 1 and groups 1 only.
#pragma once
#include <cstdint>

#include "fastdl/conv.h"

namespace fastdl {

// The engine takes output maps of at most this many positions (2x2 and smaller: measured in
// bench/RESULTS.md; on 4x4 maps the direct engine keeps the lead).
constexpr int64_t kTapClassesMaxPositions = 4;

// True when p qualifies: groups 1, dilation 1, P*Q <= kTapClassesMaxPositions, N > 0, and some
// tap of some output lies in the padding; false when FASTDL_CONV_ENGINE forces im2col or direct.
bool tap_classes_apply(const Conv2dParams& p);

// As conv2d_forward / conv2d_backward (y, dx, dw overwritten; dx, dw may be null).
void tap_classes_forward(float* y, const float* x, const float* w, const float* b, const Conv2dParams& p);
void tap_classes_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                          const Conv2dParams& p);

}  // namespace fastdl
