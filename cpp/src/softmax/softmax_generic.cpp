// Softmax / log-softmax: the portable generic path and its kernel table.
#include <cmath>
#include <limits>

#include "softmax_kernels.h"

namespace fastdl {
namespace generic {

static void softmax_rows(bool log, float* y, const float* x, int64_t rows, int64_t C) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < C; ++c) m = xr[c] > m ? xr[c] : m;
    double s = 0.0;  // double: the scalar path sums C terms in one chain
    if (log) {
      for (int64_t c = 0; c < C; ++c) s += std::exp(xr[c] - m);
      const float ls = static_cast<float>(std::log(s));
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) - ls;
    } else {
      for (int64_t c = 0; c < C; ++c) {
        const float e = std::exp(xr[c] - m);
        yr[c] = e;
        s += e;
      }
      const float inv = static_cast<float>(1.0 / s);
      for (int64_t c = 0; c < C; ++c) yr[c] *= inv;
    }
  }
}

static void softmax_cols(bool log, float* y, const float* x, int64_t C, int64_t nc, int64_t ld) {
  float m[kSoftmaxColBlock];
  double s[kSoftmaxColBlock];
  for (int64_t j = 0; j < nc; ++j) {
    m[j] = -std::numeric_limits<float>::infinity();
    s[j] = 0.0;
  }
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < nc; ++j) m[j] = x[c * ld + j] > m[j] ? x[c * ld + j] : m[j];
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < nc; ++j) {
      const float e = std::exp(x[c * ld + j] - m[j]);
      if (!log) y[c * ld + j] = e;
      s[j] += e;
    }
  float f[kSoftmaxColBlock];
  if (log) {
    for (int64_t j = 0; j < nc; ++j) f[j] = static_cast<float>(std::log(s[j]));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < nc; ++j) y[c * ld + j] = (x[c * ld + j] - m[j]) - f[j];
  } else {
    for (int64_t j = 0; j < nc; ++j) f[j] = static_cast<float>(1.0 / s[j]);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < nc; ++j) y[c * ld + j] *= f[j];
  }
}

static void softmax_backward_rows(bool log, float* dx, const float* dy, const float* y, int64_t rows, int64_t C) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dy + r * C;
    const float* yr = y + r * C;
    float* d = dx + r * C;
    double acc = 0.0;
    if (log) {
      for (int64_t c = 0; c < C; ++c) acc += g[c];
      const float s = static_cast<float>(acc);
      for (int64_t c = 0; c < C; ++c) d[c] = g[c] - std::exp(yr[c]) * s;
    } else {
      for (int64_t c = 0; c < C; ++c) acc += static_cast<double>(g[c]) * yr[c];
      const float s = static_cast<float>(acc);
      for (int64_t c = 0; c < C; ++c) d[c] = yr[c] * (g[c] - s);
    }
  }
}

static void softmax_backward_cols(bool log, float* dx, const float* dy, const float* y, int64_t C, int64_t nc, int64_t ld) {
  float s[kSoftmaxColBlock];
  for (int64_t j = 0; j < nc; ++j) s[j] = 0.0f;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < nc; ++j) s[j] += log ? dy[c * ld + j] : dy[c * ld + j] * y[c * ld + j];
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < nc; ++j) {
      const int64_t k = c * ld + j;
      dx[k] = log ? dy[k] - std::exp(y[k]) * s[j] : y[k] * (dy[k] - s[j]);
    }
}

}  // namespace generic

namespace generic {
const SoftmaxKernels& softmax_kernels() {
  static const SoftmaxKernels k{&softmax_rows, &softmax_cols, &softmax_backward_rows, &softmax_backward_cols};
  return k;
}
}  // namespace generic

}  // namespace fastdl
