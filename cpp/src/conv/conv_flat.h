// conv2d's flat engine (flat_impl.h): stride-1 convolutions with few channels on zero-padded
// planes of one image, no column buffer, groups == 1 (LeNet's layers, where a 16-channel block
// of the direct engine would be mostly padding and im2col's short rows cost more than the
// product). Forward: up to 8 output channels vectorised over output positions of "wide" planes
// (1 -> 6), 9-16 output channels over the channels (6 -> 16). Backward-data: a scatter of the
// real taps over wide planes (16 -> 6; no multiplies of the output gradient's zero padding).
// Backward-weights: vectorised over 9-16 output channels.
#pragma once
#include <cstdint>

#include "conv_kernels.h"
#include "fastdl/conv.h"

namespace fastdl {

struct FlatChoice {
  bool fwd = false, dx = false, dw = false;
};
// Which passes the flat engine takes (measured rule in conv_flat.cpp); its forward is chosen
// before the direct engine's, its backward passes after (the direct engine's choice wins there).
// FASTDL_CONV_ENGINE=im2col or direct turns it off.
FlatChoice conv_flat_choice(const Conv2dParams& p);

// y (N, K, P, Q) = conv(x, w) + b (b may be null); needs conv_flat_choice(p).fwd.
void conv_flat_forward(const ConvKernels& kt, float* y, const float* x, const float* w, const float* b,
                       const Conv2dParams& p);

// Backward-data as the forward of dy needs stride 1 and padding <= dilation * (kernel - 1) (the
// padded dy must not be cropped).
bool conv_flat_dx_supported(const Conv2dParams& p);

// dx (N, C, H, W) overwritten with the input gradient (the forward of dy, padded by
// dil*(kernel-1) - pad, with the flipped, transposed weights); needs conv_flat_dx_supported(p).
void conv_flat_backward_data(const ConvKernels& kt, float* dx, const float* dy, const float* w,
                             const Conv2dParams& p);

// dw (K, C, R, S) overwritten with the weight gradient; needs conv_flat_choice(p).dw.
void conv_flat_backward_weights(const ConvKernels& kt, float* dw, const float* dy, const float* x,
                                const Conv2dParams& p);

}  // namespace fastdl
