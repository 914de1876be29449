// Softmax and log-softmax over one dimension; match torch.softmax / torch.log_softmax(x, dim).
// Layout: x, y, dy, dx are contiguous (outer, C, inner) with outer = prod(shape[:dim]),
// C = shape[dim], inner = prod(shape[dim+1:]) (inner == 1 is the fast last-dim path).
// Per slice: m = max_c x (starting from -inf), s = sum_c exp(x - m),
//   softmax y = exp(x - m) / s,  log_softmax y = x - m - log(s).
// A slice of all -inf, or holding +inf or NaN, gives NaN (as torch); [1000, 1001] is finite.
// Backward (from the saved output y):
//   softmax:     dx = y * (dy - sum_c dy * y)
//   log_softmax: dx = dy - exp(y) * sum_c dy
#pragma once
#include <cstdint>

namespace fastdl {

void softmax_forward(float* y, const float* x, int64_t outer, int64_t C, int64_t inner);
void log_softmax_forward(float* y, const float* x, int64_t outer, int64_t C, int64_t inner);
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t C, int64_t inner);
void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t C, int64_t inner);

}  // namespace fastdl
