// AVX2/FMA batchnorm primitives (see batchnorm_kernels.h). Only this file is built with
// -mavx2 -mfma; helpers live in an anonymous namespace (no ODR sharing with generic code).
// Tails use masked loads/stores, so every element goes through the same vector arithmetic
// (the ReLU mask of backward is bit-identical to the forward's).
#include <immintrin.h>

#include "batchnorm_kernels.h"

namespace fastdl {
namespace avx2 {

namespace {

inline __m256i tail_mask(int64_t r) {  // first r lanes set, 0 <= r < 8
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(r)), idx);
}

// Adds the 8 floats of v into two float64 accumulators (sum) and two (sum of squares).
inline void acc_stats(__m256 v, __m256d& s0, __m256d& s1, __m256d& q0, __m256d& q1) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  s0 = _mm256_add_pd(s0, lo);
  s1 = _mm256_add_pd(s1, hi);
  q0 = _mm256_fmadd_pd(lo, lo, q0);
  q1 = _mm256_fmadd_pd(hi, hi, q1);
}

inline double hsum(__m256d v) {
  const __m128d a = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(a, _mm_unpackhi_pd(a, a)));
}

// Converts 8 floats to float64 and accumulates them into acc[0..7] in memory (col path).
inline void acc_col(double* acc, __m256 v) {
  _mm256_storeu_pd(acc, _mm256_add_pd(_mm256_loadu_pd(acc), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
  _mm256_storeu_pd(acc + 4, _mm256_add_pd(_mm256_loadu_pd(acc + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

// y = (x - m)*a + b (one FMA), optionally max(y, 0) with NaN propagating (max(0, y) returns
// y when y is NaN).
inline __m256 affine8(__m256 x, __m256 m, __m256 a, __m256 b) { return _mm256_fmadd_ps(_mm256_sub_ps(x, m), a, b); }
inline __m256 relu8(__m256 y) { return _mm256_max_ps(_mm256_setzero_ps(), y); }
inline __m256 mask8(__m256 dy, __m256 y) { return _mm256_and_ps(dy, _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ)); }


void row_stats(const float* x, int64_t n, double* s, double* ss) {
  __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0, q0 = s0, q1 = s0, q2 = s0, q3 = s0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc_stats(_mm256_loadu_ps(x + i), s0, s1, q0, q1);
    acc_stats(_mm256_loadu_ps(x + i + 8), s2, s3, q2, q3);
  }
  for (; i + 8 <= n; i += 8) acc_stats(_mm256_loadu_ps(x + i), s0, s1, q0, q1);
  if (i < n) acc_stats(_mm256_maskload_ps(x + i, tail_mask(n - i)), s2, s3, q2, q3);  // masked lanes are 0
  *s += hsum(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
  *ss += hsum(_mm256_add_pd(_mm256_add_pd(q0, q1), _mm256_add_pd(q2, q3)));
}

void col_stats(const float* x, int64_t n, double* s, double* ss) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    _mm256_storeu_pd(s + j, _mm256_add_pd(_mm256_loadu_pd(s + j), lo));
    _mm256_storeu_pd(s + j + 4, _mm256_add_pd(_mm256_loadu_pd(s + j + 4), hi));
    _mm256_storeu_pd(ss + j, _mm256_fmadd_pd(lo, lo, _mm256_loadu_pd(ss + j)));
    _mm256_storeu_pd(ss + j + 4, _mm256_fmadd_pd(hi, hi, _mm256_loadu_pd(ss + j + 4)));
  }
  for (; j < n; ++j) {
    const double v = x[j];
    s[j] += v;
    ss[j] += v * v;
  }
}

void row_affine(float* y, const float* x, int64_t n, float m, float a, float b, bool relu) {
  const __m256 vm = _mm256_set1_ps(m), va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  int64_t i = 0;
  if (relu) {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, relu8(affine8(_mm256_loadu_ps(x + i), vm, va, vb)));
  } else {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, affine8(_mm256_loadu_ps(x + i), vm, va, vb));
  }
  if (i < n) {
    const __m256i k = tail_mask(n - i);
    __m256 v = affine8(_mm256_maskload_ps(x + i, k), vm, va, vb);
    if (relu) v = relu8(v);
    _mm256_maskstore_ps(y + i, k, v);
  }
}

void col_affine(float* y, const float* x, int64_t n, const float* m, const float* a, const float* b,
                bool relu) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 v = affine8(_mm256_loadu_ps(x + j), _mm256_loadu_ps(m + j), _mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j));
    _mm256_storeu_ps(y + j, relu ? relu8(v) : v);
  }
  if (j < n) {
    const __m256i k = tail_mask(n - j);
    __m256 v = affine8(_mm256_maskload_ps(x + j, k), _mm256_maskload_ps(m + j, k), _mm256_maskload_ps(a + j, k),
                       _mm256_maskload_ps(b + j, k));
    _mm256_maskstore_ps(y + j, k, relu ? relu8(v) : v);
  }
}

void row_bwd_stats(const float* dy, const float* x, int64_t n, float m, float a, float b, bool relu,
                   double* sdy, double* sdx) {
  const __m256 vm = _mm256_set1_ps(m), va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  __m256d s0 = _mm256_setzero_pd(), s1 = s0, t0 = s0, t1 = s0;
  int64_t i = 0;
  auto step = [&](__m256 vx, __m256 vdy) {
    __m256 e = relu ? mask8(vdy, affine8(vx, vm, va, vb)) : vdy;
    const __m256 xm = _mm256_sub_ps(vx, vm);
    const __m256d e0 = _mm256_cvtps_pd(_mm256_castps256_ps128(e)), e1 = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
    const __m256d x0 = _mm256_cvtps_pd(_mm256_castps256_ps128(xm)), x1 = _mm256_cvtps_pd(_mm256_extractf128_ps(xm, 1));
    s0 = _mm256_add_pd(s0, e0);
    s1 = _mm256_add_pd(s1, e1);
    t0 = _mm256_fmadd_pd(e0, x0, t0);
    t1 = _mm256_fmadd_pd(e1, x1, t1);
  };
  for (; i + 8 <= n; i += 8) step(_mm256_loadu_ps(x + i), _mm256_loadu_ps(dy + i));
  if (i < n) {
    const __m256i k = tail_mask(n - i);
    // masked lanes: dy = 0 so e = 0 and they add nothing
    step(_mm256_maskload_ps(x + i, k), _mm256_maskload_ps(dy + i, k));
  }
  *sdy += hsum(_mm256_add_pd(s0, s1));
  *sdx += hsum(_mm256_add_pd(t0, t1));
}

void col_bwd_stats(const float* dy, const float* x, int64_t n, const float* m, const float* a,
                   const float* b, bool relu, double* sdy, double* sdx) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 vx = _mm256_loadu_ps(x + j), vm = _mm256_loadu_ps(m + j);
    const __m256 vdy = _mm256_loadu_ps(dy + j);
    const __m256 e = relu ? mask8(vdy, affine8(vx, vm, _mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j))) : vdy;
    const __m256 xm = _mm256_sub_ps(vx, vm);
    acc_col(sdy + j, e);
    const __m256d p0 = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(e)), _mm256_cvtps_pd(_mm256_castps256_ps128(xm)));
    const __m256d p1 = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(xm, 1)));
    _mm256_storeu_pd(sdx + j, _mm256_add_pd(_mm256_loadu_pd(sdx + j), p0));
    _mm256_storeu_pd(sdx + j + 4, _mm256_add_pd(_mm256_loadu_pd(sdx + j + 4), p1));
  }
  for (; j < n; ++j) {
    // scalar tail with the same single-rounding FMA as the vector forward
    const float y = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(x[j] - m[j]), _mm_set_ss(a[j]), _mm_set_ss(b[j])));
    const float e = (!relu || y > 0.0f) ? dy[j] : 0.0f;
    sdy[j] += e;
    sdx[j] += static_cast<double>(e) * static_cast<double>(x[j] - m[j]);
  }
}

void row_bwd_dx(float* dx, const float* dy, const float* x, int64_t n, float m, float a, float b,
                bool relu, float k1, float k2, float k3) {
  const __m256 vm = _mm256_set1_ps(m), va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  const __m256 c1 = _mm256_set1_ps(k1), c2 = _mm256_set1_ps(k2), c3 = _mm256_set1_ps(k3);
  auto calc = [&](__m256 vx, __m256 vdy) {
    const __m256 e = relu ? mask8(vdy, affine8(vx, vm, va, vb)) : vdy;
    return _mm256_fmadd_ps(c1, e, _mm256_fmadd_ps(c2, _mm256_sub_ps(vx, vm), c3));
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dx + i, calc(_mm256_loadu_ps(x + i), _mm256_loadu_ps(dy + i)));
  if (i < n) {
    const __m256i k = tail_mask(n - i);
    _mm256_maskstore_ps(dx + i, k, calc(_mm256_maskload_ps(x + i, k), _mm256_maskload_ps(dy + i, k)));
  }
}

void col_bwd_dx(float* dx, const float* dy, const float* x, int64_t n, const float* m, const float* a,
                const float* b, bool relu, const float* k1, const float* k2, const float* k3) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 vx = _mm256_loadu_ps(x + j), vm = _mm256_loadu_ps(m + j), vdy = _mm256_loadu_ps(dy + j);
    const __m256 e = relu ? mask8(vdy, affine8(vx, vm, _mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j))) : vdy;
    _mm256_storeu_ps(dx + j, _mm256_fmadd_ps(_mm256_loadu_ps(k1 + j), e,
                                             _mm256_fmadd_ps(_mm256_loadu_ps(k2 + j), _mm256_sub_ps(vx, vm), _mm256_loadu_ps(k3 + j))));
  }
  for (; j < n; ++j) {
    const float y = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(x[j] - m[j]), _mm_set_ss(a[j]), _mm_set_ss(b[j])));
    const float e = (!relu || y > 0.0f) ? dy[j] : 0.0f;
    const float r = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(k2[j]), _mm_set_ss(x[j] - m[j]), _mm_set_ss(k3[j])));
    dx[j] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(k1[j]), _mm_set_ss(e), _mm_set_ss(r)));
  }
}

// relu(v) and its mask byte (NOT v <= 0: NaN sets the bit, as relu_backward passes dy there).
inline __m256 add_relu8(__m256 v, uint8_t* byte, int keep) {
  *byte = static_cast<uint8_t>(_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NLE_UQ)) & keep);
  return relu8(v);
}

void row_affine_add_relu(float* out, uint8_t* bits, const float* x, const float* r, int64_t n, float m, float a,
                         float b) {
  const __m256 vm = _mm256_set1_ps(m), va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_add_ps(affine8(_mm256_loadu_ps(x + i), vm, va, vb), _mm256_loadu_ps(r + i));
    _mm256_storeu_ps(out + i, add_relu8(v, bits + i / 8, 0xFF));
  }
  if (i < n) {
    const __m256i k = tail_mask(n - i);
    const __m256 v = _mm256_add_ps(affine8(_mm256_maskload_ps(x + i, k), vm, va, vb), _mm256_maskload_ps(r + i, k));
    _mm256_maskstore_ps(out + i, k, add_relu8(v, bits + i / 8, (1 << (n - i)) - 1));
  }
}

void col_affine_add_relu(float* out, uint8_t* bits, const float* x, const float* r, int64_t n, const float* m,
                         const float* a, const float* b) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 y = affine8(_mm256_loadu_ps(x + j), _mm256_loadu_ps(m + j), _mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j));
    _mm256_storeu_ps(out + j, add_relu8(_mm256_add_ps(y, _mm256_loadu_ps(r + j)), bits + j / 8, 0xFF));
  }
  if (j < n) {
    const __m256i k = tail_mask(n - j);
    const __m256 y = affine8(_mm256_maskload_ps(x + j, k), _mm256_maskload_ps(m + j, k), _mm256_maskload_ps(a + j, k),
                             _mm256_maskload_ps(b + j, k));
    _mm256_maskstore_ps(out + j, k, add_relu8(_mm256_add_ps(y, _mm256_maskload_ps(r + j, k)), bits + j / 8,
                                              (1 << (n - j)) - 1));
  }
}

// The 8 lanes of one mask byte as a float lane mask.
inline __m256 bits8(uint8_t byte) {
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(byte), sel), sel));
}

void mask_grad(float* e, const float* dy, const uint8_t* bits, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(e + i, _mm256_and_ps(_mm256_loadu_ps(dy + i), bits8(bits[i / 8])));
  if (i < n) {
    const __m256i k = tail_mask(n - i);
    _mm256_maskstore_ps(e + i, k, _mm256_and_ps(_mm256_maskload_ps(dy + i, k), bits8(bits[i / 8])));
  }
}

}  // namespace

const BatchnormKernels& batchnorm_kernels() {
  static const BatchnormKernels k{&row_stats,     &col_stats,     &row_affine,          &col_affine,
                                  &row_bwd_stats, &col_bwd_stats, &row_bwd_dx,          &col_bwd_dx,
                                  &row_affine_add_relu, &col_affine_add_relu, &mask_grad};
  return k;
}

}  // namespace avx2
}  // namespace fastdl
