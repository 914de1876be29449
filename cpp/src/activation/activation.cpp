// Activations: dispatch (threads + ISA) and the portable generic path.
#include "fastdl/activation.h"

#include <cmath>

#include "fastdl/common.h"
#include "fastdl/cpu.h"
#include "fastdl/parallel.h"

namespace fastdl {
namespace generic {
namespace {

inline float sigmoid1(float x) {
  const float e = std::exp(-std::fabs(x));  // never overflows
  const float d = 1.0f / (1.0f + e);
  return std::signbit(x) ? e * d : d;
}

}  // namespace

void activation_forward(Activation act, float* y, const float* x, int64_t n, float param) {
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

void activation_backward(Activation act, float* dx, const float* dy, const float* s, int64_t n, float param) {
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

// Work per element is ~1 ns for relu-like ops and ~2-4 ns for exp-based ones (scalar); the
// grain keeps a chunk above ~20 us before a second thread is used.
static int64_t grain_for(Activation act) {
  return (act == Activation::relu || act == Activation::leaky_relu) ? (1 << 16) : (1 << 14);
}

void activation_forward(Activation act, float* y, const float* x, int64_t n, float param) {
  [[maybe_unused]] const bool v = use_avx2();
  parallel_for(0, n, grain_for(act), [&](int64_t lo, int64_t hi) {
#ifdef FASTDL_HAVE_AVX2
    if (v) return avx2::activation_forward(act, y + lo, x + lo, hi - lo, param);
#endif
    generic::activation_forward(act, y + lo, x + lo, hi - lo, param);
  });
}

void activation_backward(Activation act, float* dx, const float* dy, const float* saved, int64_t n, float param) {
  [[maybe_unused]] const bool v = use_avx2();
  parallel_for(0, n, grain_for(act) * 2, [&](int64_t lo, int64_t hi) {
#ifdef FASTDL_HAVE_AVX2
    if (v) return avx2::activation_backward(act, dx + lo, dy + lo, saved + lo, hi - lo, param);
#endif
    generic::activation_backward(act, dx + lo, dy + lo, saved + lo, hi - lo, param);
  });
}

}  // namespace fastdl
