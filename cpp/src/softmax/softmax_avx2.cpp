// Softmax / log-softmax: AVX2/FMA path. Rows: three sweeps over a row (max, exp-sum, scale),
// masked tail for C % 8. Column blocks (inner > 1): the same sweeps vectorised across the
// contiguous inner positions.
#include <immintrin.h>


#include "../core/simd_avx2.h"
#include "softmax_kernels.h"

namespace fastdl {
namespace avx2 {

static void softmax_rows(bool log, float* y, const float* x, int64_t rows, int64_t C) {
  const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
  const int64_t C8 = C & ~int64_t(7);
  const __m256i tm = tail_mask(C - C8);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    __m256 vm = ninf;
    for (int64_t c = 0; c < C8; c += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(xr + c));
    if (C8 < C)
      vm = _mm256_max_ps(vm, _mm256_blendv_ps(ninf, _mm256_maskload_ps(xr + C8, tm), _mm256_castsi256_ps(tm)));
    const __m256 m = _mm256_set1_ps(hmax(vm));
    __m256 vs = _mm256_setzero_ps();
    if (log) {
      for (int64_t c = 0; c < C8; c += 8) vs = _mm256_add_ps(vs, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + c), m)));
      if (C8 < C)
        vs = _mm256_add_ps(vs, _mm256_and_ps(exp_ps(_mm256_sub_ps(_mm256_maskload_ps(xr + C8, tm), m)),
                                             _mm256_castsi256_ps(tm)));
      const __m256 ls = _mm256_set1_ps(__builtin_logf(hsum(vs)));
      for (int64_t c = 0; c < C8; c += 8)
        _mm256_storeu_ps(yr + c, _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + c), m), ls));
      if (C8 < C)
        _mm256_maskstore_ps(yr + C8, tm, _mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(xr + C8, tm), m), ls));
    } else {
      for (int64_t c = 0; c < C8; c += 8) {
        const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + c), m));
        _mm256_storeu_ps(yr + c, e);
        vs = _mm256_add_ps(vs, e);
      }
      __m256 et = _mm256_setzero_ps();
      if (C8 < C) {
        et = _mm256_and_ps(exp_ps(_mm256_sub_ps(_mm256_maskload_ps(xr + C8, tm), m)), _mm256_castsi256_ps(tm));
        vs = _mm256_add_ps(vs, et);
      }
      const __m256 inv = _mm256_set1_ps(1.0f / hsum(vs));
      for (int64_t c = 0; c < C8; c += 8) _mm256_storeu_ps(yr + c, _mm256_mul_ps(_mm256_loadu_ps(yr + c), inv));
      if (C8 < C) _mm256_maskstore_ps(yr + C8, tm, _mm256_mul_ps(et, inv));
    }
  }
}

static void softmax_cols(bool log, float* y, const float* x, int64_t C, int64_t nc, int64_t ld) {
  alignas(32) float mb[kSoftmaxColBlock], sb[kSoftmaxColBlock];
  const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
  for (int64_t j = 0; j < nc; j += 8) {
    const int64_t w = nc - j < 8 ? nc - j : 8;
    const __m256i tm = tail_mask(w);
    const __m256 fm = _mm256_castsi256_ps(tm);
    __m256 vm = ninf;
    for (int64_t c = 0; c < C; ++c) vm = _mm256_max_ps(vm, _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + c * ld + j, tm), fm));
    __m256 vs = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; ++c) {
      const __m256 e = _mm256_and_ps(exp_ps(_mm256_sub_ps(_mm256_maskload_ps(x + c * ld + j, tm), vm)), fm);
      if (!log) _mm256_maskstore_ps(y + c * ld + j, tm, e);
      vs = _mm256_add_ps(vs, e);
    }
    _mm256_store_ps(mb + j, vm);
    _mm256_store_ps(sb + j, vs);
  }
  if (log) {
    for (int64_t j = 0; j < nc; ++j) sb[j] = __builtin_logf(sb[j]);
  } else {
    for (int64_t j = 0; j < nc; ++j) sb[j] = 1.0f / sb[j];
  }
  for (int64_t j = 0; j < nc; j += 8) {
    const int64_t w = nc - j < 8 ? nc - j : 8;
    const __m256i tm = tail_mask(w);
    const __m256 vm = _mm256_load_ps(mb + j), vs = _mm256_load_ps(sb + j);
    for (int64_t c = 0; c < C; ++c) {
      float* yp = y + c * ld + j;
      if (log)
        _mm256_maskstore_ps(yp, tm, _mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(x + c * ld + j, tm), vm), vs));
      else
        _mm256_maskstore_ps(yp, tm, _mm256_mul_ps(_mm256_maskload_ps(yp, tm), vs));
    }
  }
}

static void softmax_backward_rows(bool log, float* dx, const float* dy, const float* y, int64_t rows, int64_t C) {
  const int64_t C8 = C & ~int64_t(7);
  const __m256i tm = tail_mask(C - C8);
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dy + r * C;
    const float* yr = y + r * C;
    float* d = dx + r * C;
    __m256 vs = _mm256_setzero_ps();
    if (log) {
      for (int64_t c = 0; c < C8; c += 8) vs = _mm256_add_ps(vs, _mm256_loadu_ps(g + c));
      if (C8 < C) vs = _mm256_add_ps(vs, _mm256_maskload_ps(g + C8, tm));
      const __m256 s = _mm256_set1_ps(hsum(vs));
      for (int64_t c = 0; c < C8; c += 8)
        _mm256_storeu_ps(d + c, _mm256_fnmadd_ps(exp_ps(_mm256_loadu_ps(yr + c)), s, _mm256_loadu_ps(g + c)));
      if (C8 < C)
        _mm256_maskstore_ps(d + C8, tm,
                            _mm256_fnmadd_ps(exp_ps(_mm256_maskload_ps(yr + C8, tm)), s, _mm256_maskload_ps(g + C8, tm)));
    } else {
      for (int64_t c = 0; c < C8; c += 8) vs = _mm256_fmadd_ps(_mm256_loadu_ps(g + c), _mm256_loadu_ps(yr + c), vs);
      if (C8 < C) vs = _mm256_fmadd_ps(_mm256_maskload_ps(g + C8, tm), _mm256_maskload_ps(yr + C8, tm), vs);
      const __m256 s = _mm256_set1_ps(hsum(vs));
      for (int64_t c = 0; c < C8; c += 8)
        _mm256_storeu_ps(d + c, _mm256_mul_ps(_mm256_loadu_ps(yr + c), _mm256_sub_ps(_mm256_loadu_ps(g + c), s)));
      if (C8 < C)
        _mm256_maskstore_ps(d + C8, tm,
                            _mm256_mul_ps(_mm256_maskload_ps(yr + C8, tm), _mm256_sub_ps(_mm256_maskload_ps(g + C8, tm), s)));
    }
  }
}

static void softmax_backward_cols(bool log, float* dx, const float* dy, const float* y, int64_t C, int64_t nc, int64_t ld) {
  for (int64_t j = 0; j < nc; j += 8) {
    const int64_t w = nc - j < 8 ? nc - j : 8;
    const __m256i tm = tail_mask(w);
    __m256 vs = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; ++c) {
      const __m256 g = _mm256_maskload_ps(dy + c * ld + j, tm);
      vs = log ? _mm256_add_ps(vs, g) : _mm256_fmadd_ps(g, _mm256_maskload_ps(y + c * ld + j, tm), vs);
    }
    for (int64_t c = 0; c < C; ++c) {
      const int64_t k = c * ld + j;
      const __m256 g = _mm256_maskload_ps(dy + k, tm), yv = _mm256_maskload_ps(y + k, tm);
      _mm256_maskstore_ps(dx + k, tm, log ? _mm256_fnmadd_ps(exp_ps(yv), vs, g) : _mm256_mul_ps(yv, _mm256_sub_ps(g, vs)));
    }
  }
}

const SoftmaxKernels& softmax_kernels() {
  static const SoftmaxKernels k{&softmax_rows, &softmax_cols, &softmax_backward_rows, &softmax_backward_cols};
  return k;
}

}  // namespace avx2
}  // namespace fastdl
