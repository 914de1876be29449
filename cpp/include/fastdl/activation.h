// Elementwise activations, forward and backward (float32, any shape viewed as n contiguous
// values). In-place use (y == x, dx == dy) is allowed. Match torch.nn.functional:
//   relu(x)                 y = max(x, 0) (NaN propagates)
//   leaky_relu(x, slope)    y = x > 0 ? x : x * slope
//   elu(x, alpha)           y = x > 0 ? x : alpha * (exp(x) - 1)
//   sigmoid(x)              y = 1 / (1 + exp(-x)), computed from e = exp(-|x|) (never overflows)
//   tanh(x)
//   exp(x)                  AVX2 path: <= 4 ulp on [ln FLT_MIN, ln FLT_MAX], 0 below (no
//                           denormals), +inf above, NaN propagates.
// Backward follows PyTorch's saved values:
//   relu_backward(dx, dy, y)          dx = y > 0 ? dy : 0   (threshold_backward on the result)
//   leaky_relu_backward(dx, dy, x)    dx = x > 0 ? dy : dy * slope
//   elu_backward(dx, dy, x)           dx = x > 0 ? dy : dy * alpha * exp(x)
//   sigmoid_backward(dx, dy, y)       dx = dy * y * (1 - y)
//   tanh_backward(dx, dy, y)          dx = dy * (1 - y * y)
#pragma once
#include <cstdint>

namespace fastdl {

enum class Activation : int { relu = 0, leaky_relu = 1, elu = 2, sigmoid = 3, tanh = 4, exp = 5 };

// y (n) = act(x (n)); `param` is negative_slope (leaky_relu) or alpha (elu), ignored otherwise.
void activation_forward(Activation act, float* y, const float* x, int64_t n, float param);
// dx (n) from dy (n) and `saved` (n): the output y for relu/sigmoid/tanh, the input x for
// leaky_relu/elu (see above). exp has no backward kernel here (dx = dy * y).
void activation_backward(Activation act, float* dx, const float* dy, const float* saved, int64_t n,
                         float param);

// Convenience wrappers (the same kernels).
inline void relu_forward(float* y, const float* x, int64_t n) { activation_forward(Activation::relu, y, x, n, 0.f); }
inline void relu_backward(float* dx, const float* dy, const float* y, int64_t n) {
  activation_backward(Activation::relu, dx, dy, y, n, 0.f);
}
inline void sigmoid_forward(float* y, const float* x, int64_t n) { activation_forward(Activation::sigmoid, y, x, n, 0.f); }
inline void sigmoid_backward(float* dx, const float* dy, const float* y, int64_t n) {
  activation_backward(Activation::sigmoid, dx, dy, y, n, 0.f);
}
inline void tanh_forward(float* y, const float* x, int64_t n) { activation_forward(Activation::tanh, y, x, n, 0.f); }
inline void tanh_backward(float* dx, const float* dy, const float* y, int64_t n) {
  activation_backward(Activation::tanh, dx, dy, y, n, 0.f);
}
inline void exp_forward(float* y, const float* x, int64_t n) { activation_forward(Activation::exp, y, x, n, 0.f); }

}  // namespace fastdl
