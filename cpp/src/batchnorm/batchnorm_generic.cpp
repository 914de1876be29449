// Portable batchnorm primitives (see batchnorm_kernels.h). Plain loops over contiguous rows;
// float64 accumulation of the statistics.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "batchnorm_kernels.h"

namespace fastdl {
namespace generic {

namespace {
inline float affine1(float x, float m, float a, float b) { return (x - m) * a + b; }
inline float relu1(float y) { return y < 0.0f ? 0.0f : y; }  // NaN propagates, as torch.relu
// dy where y > 0, else +0 -- branch-free (a data-dependent branch mispredicts half the time).
inline float mask1(float dy, float y) {
  uint32_t d;
  std::memcpy(&d, &dy, 4);
  d &= 0u - static_cast<uint32_t>(y > 0.0f);
  std::memcpy(&dy, &d, 4);
  return dy;
}

void row_stats(const float* x, int64_t n, double* s, double* ss) {
  double s0 = 0, s1 = 0, q0 = 0, q1 = 0;
  int64_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const double a = x[i], b = x[i + 1];
    s0 += a;
    s1 += b;
    q0 += a * a;
    q1 += b * b;
  }
  for (; i < n; ++i) {
    const double a = x[i];
    s0 += a;
    q0 += a * a;
  }
  *s += s0 + s1;
  *ss += q0 + q1;
}

void col_stats(const float* x, int64_t n, double* s, double* ss) {
  for (int64_t j = 0; j < n; ++j) {
    const double v = x[j];
    s[j] += v;
    ss[j] += v * v;
  }
}

void row_affine(float* y, const float* x, int64_t n, float m, float a, float b, bool relu) {
  if (relu) {
    for (int64_t i = 0; i < n; ++i) y[i] = relu1(affine1(x[i], m, a, b));
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = affine1(x[i], m, a, b);
  }
}

void col_affine(float* y, const float* x, int64_t n, const float* m, const float* a, const float* b,
                bool relu) {
  if (relu) {
    for (int64_t j = 0; j < n; ++j) y[j] = relu1(affine1(x[j], m[j], a[j], b[j]));
  } else {
    for (int64_t j = 0; j < n; ++j) y[j] = affine1(x[j], m[j], a[j], b[j]);
  }
}

void row_bwd_stats(const float* dy, const float* x, int64_t n, float m, float a, float b, bool relu,
                   double* sdy, double* sdx) {
  double s = 0, t = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = relu ? mask1(dy[i], affine1(x[i], m, a, b)) : dy[i];
    s += e;
    t += static_cast<double>(e) * static_cast<double>(x[i] - m);
  }
  *sdy += s;
  *sdx += t;
}

void col_bwd_stats(const float* dy, const float* x, int64_t n, const float* m, const float* a,
                   const float* b, bool relu, double* sdy, double* sdx) {
  for (int64_t j = 0; j < n; ++j) {
    const float e = relu ? mask1(dy[j], affine1(x[j], m[j], a[j], b[j])) : dy[j];
    sdy[j] += e;
    sdx[j] += static_cast<double>(e) * static_cast<double>(x[j] - m[j]);
  }
}

void row_bwd_dx(float* dx, const float* dy, const float* x, int64_t n, float m, float a, float b,
                bool relu, float k1, float k2, float k3) {
  for (int64_t i = 0; i < n; ++i) {
    const float e = relu ? mask1(dy[i], affine1(x[i], m, a, b)) : dy[i];
    dx[i] = k1 * e + (k2 * (x[i] - m) + k3);
  }
}

void col_bwd_dx(float* dx, const float* dy, const float* x, int64_t n, const float* m, const float* a,
                const float* b, bool relu, const float* k1, const float* k2, const float* k3) {
  for (int64_t j = 0; j < n; ++j) {
    const float e = relu ? mask1(dy[j], affine1(x[j], m[j], a[j], b[j])) : dy[j];
    dx[j] = k1[j] * e + (k2[j] * (x[j] - m[j]) + k3[j]);
  }
}

// The bitmask of out = relu(v): bit set where NOT (v <= 0), which is NOT (out <= 0) (v > 0 keeps
// v; v <= 0 gives +-0; NaN stays NaN). Run after the (vectorisable) value loop.
void pack_mask(uint8_t* bits, const float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    unsigned byte = 0;
    const int64_t cnt = std::min<int64_t>(8, n - i);
    for (int64_t k = 0; k < cnt; ++k) byte |= static_cast<unsigned>(!(out[i + k] <= 0.0f)) << k;
    bits[i / 8] = static_cast<uint8_t>(byte);
  }
}

void row_affine_add_relu(float* out, uint8_t* bits, const float* x, const float* r, int64_t n, float m, float a,
                         float b) {
  for (int64_t i = 0; i < n; ++i) out[i] = relu1(affine1(x[i], m, a, b) + r[i]);
  pack_mask(bits, out, n);
}

void col_affine_add_relu(float* out, uint8_t* bits, const float* x, const float* r, int64_t n, const float* m,
                         const float* a, const float* b) {
  for (int64_t j = 0; j < n; ++j) out[j] = relu1(affine1(x[j], m[j], a[j], b[j]) + r[j]);
  pack_mask(bits, out, n);
}

void mask_grad(float* e, const float* dy, const uint8_t* bits, int64_t n) {
  for (int64_t i = 0; i < n; ++i) e[i] = (bits[i / 8] >> (i % 8)) & 1u ? dy[i] : 0.0f;
}

}  // namespace

const BatchnormKernels& batchnorm_kernels() {
  static const BatchnormKernels k{&row_stats,     &col_stats,     &row_affine,          &col_affine,
                                  &row_bwd_stats, &col_bwd_stats, &row_bwd_dx,          &col_bwd_dx,
                                  &row_affine_add_relu, &col_affine_add_relu, &mask_grad};
  return k;
}

}  // namespace generic
}  // namespace fastdl
