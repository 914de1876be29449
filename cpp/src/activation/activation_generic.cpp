// Activations: the portable generic path (scalar loops on one chunk) and its kernel table.
#include <cmath>

#include "activation_kernels.h"

namespace fastdl {
namespace generic {
namespace {

inline float sigmoid1(float x) {
  const float e = std::exp(-std::fabs(x));  // never overflows
  const float d = 1.0f / (1.0f + e);
  return std::signbit(x) ? e * d : d;
}

}  // namespace

static void activation_forward(Activation act, float* y, const float* x, int64_t n, float param) {
  switch (act) {
    case Activation::relu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];  // NaN stays NaN
      break;
    case Activation::leaky_relu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : x[i] * param;
      break;
    case Activation::elu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : param * std::expm1(x[i]);
      break;
    case Activation::sigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = sigmoid1(x[i]);
      break;
    case Activation::tanh:
      for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      break;
    case Activation::exp:
      for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
      break;
  }
}

static void activation_backward(Activation act, float* dx, const float* dy, const float* s, int64_t n, float param) {
  switch (act) {
    case Activation::relu:
      for (int64_t i = 0; i < n; ++i) dx[i] = s[i] <= 0.0f ? 0.0f : dy[i];
      break;
    case Activation::leaky_relu:
      for (int64_t i = 0; i < n; ++i) dx[i] = s[i] > 0.0f ? dy[i] : dy[i] * param;
      break;
    case Activation::elu:
      for (int64_t i = 0; i < n; ++i) dx[i] = s[i] > 0.0f ? dy[i] : dy[i] * (param * std::exp(s[i]));
      break;
    case Activation::sigmoid:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - s[i]) * s[i];
      break;
    case Activation::tanh:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - s[i] * s[i]);
      break;
    case Activation::exp:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * s[i];
      break;
  }
}

}  // namespace generic

namespace generic {
const ActivationKernels& activation_kernels() {
  static const ActivationKernels k{&activation_forward, &activation_backward};
  return k;
}
}  // namespace generic

}  // namespace fastdl
