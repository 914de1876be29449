// Internal to cpp/src/conv: the passes around a convolution's output shared by every engine:
// the bias gradient and a fused ReLU (forward in place on y; backward masks dy by y > 0 and sums
// the bias gradient in the same pass). Results equal conv2d followed by relu (and relu's
// backward followed by conv2d's backward) bit for bit.
#pragma once
#include <cstdint>

#include "fastdl/conv.h"

namespace fastdl {

// db[k] = sum of dy[n, k, p, q] over n, p, q; per channel in a fixed order (16 interleaved
// partial sums per plane, the planes added in image order in double).
void conv_bias_gradient(float* db, const float* dy, const Conv2dParams& p);

// y = max(y, 0) over the N*K*P*Q outputs (NaN stays NaN, as relu).
void conv_relu_inplace(float* y, const Conv2dParams& p);

// dym = 0 where y <= 0, else dy (relu's backward from its output; a NaN y passes dy), and, when
// db is not null, db = conv_bias_gradient of dym (bit for bit), in one pass over dy and y.
// sums: N*K floats of workspace (the per-plane sums).
void conv_relu_mask(float* dym, float* db, float* sums, const float* dy, const float* y, const Conv2dParams& p);

}  // namespace fastdl
