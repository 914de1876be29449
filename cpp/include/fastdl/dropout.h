// Dropout; matches torch.nn.functional.dropout(x, p, training=True) in distribution (the mask
// comes from fastdl's own counter-based RNG, not torch's).
// x, y, dy, dx: n contiguous floats; mask: n bytes (1 = kept, 0 = dropped).
// Element i is kept when the 24-bit hash of (i, seed) is >= round(p * 2^24): the result
// depends only on (seed, i), not on threads or ISA. Kept values are scaled by 1 / (1 - p);
// p == 1 drops everything (y = 0). 0 <= p <= 1 is the caller's contract.
#pragma once
#include <cstdint>

namespace fastdl {

void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float p, uint64_t seed);
// dx = dy * mask * scale, scale = 1 / (1 - p) (0 when p == 1).
void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float p);

}  // namespace fastdl
