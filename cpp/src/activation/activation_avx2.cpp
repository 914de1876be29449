// Activations: AVX2/FMA path (8 lanes, masked tail; exp/sigmoid/tanh from simd_avx2.h).
#include <immintrin.h>

#include "activation_kernels.h"
#include "../core/simd_avx2.h"

namespace fastdl {
namespace avx2 {
namespace {

// y[i] = f(x[i]) over n values, whole vectors then one masked tail.
template <class F>
inline void map1(float* y, const float* x, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(y + i, m, f(_mm256_maskload_ps(x + i, m)));
  }
}

// dx[i] = f(dy[i], s[i]).
template <class F>
inline void map2(float* dx, const float* dy, const float* s, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dx + i, f(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(s + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(dx + i, m, f(_mm256_maskload_ps(dy + i, m), _mm256_maskload_ps(s + i, m)));
  }
}

void activation_forward(Activation act, float* y, const float* x, int64_t n, float param) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 pv = _mm256_set1_ps(param);
  switch (act) {
    case Activation::relu:  // max(0, x): returns x when x is NaN
      map1(y, x, n, [&](__m256 v) { return _mm256_max_ps(zero, v); });
      break;
    case Activation::leaky_relu:
      map1(y, x, n, [&](__m256 v) {
        return _mm256_blendv_ps(_mm256_mul_ps(v, pv), v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
      });
      break;
    case Activation::elu:
      map1(y, x, n, [&](__m256 v) {
        const __m256 neg = _mm256_mul_ps(pv, _mm256_sub_ps(exp_ps(v), one));
        return _mm256_blendv_ps(neg, v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
      });
      break;
    case Activation::sigmoid:
      map1(y, x, n, [&](__m256 v) { return sigmoid_ps(v); });
      break;
    case Activation::tanh:
      map1(y, x, n, [&](__m256 v) { return tanh_ps(v); });
      break;
    case Activation::exp:
      map1(y, x, n, [&](__m256 v) { return exp_ps(v); });
      break;
  }
}

void activation_backward(Activation act, float* dx, const float* dy, const float* s, int64_t n, float param) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 pv = _mm256_set1_ps(param);
  switch (act) {
    case Activation::relu:  // y <= 0 -> 0, else dy (NaN y passes dy, as torch)
      map2(dx, dy, s, n, [&](__m256 g, __m256 y) { return _mm256_andnot_ps(_mm256_cmp_ps(y, zero, _CMP_LE_OQ), g); });
      break;
    case Activation::leaky_relu:
      map2(dx, dy, s, n, [&](__m256 g, __m256 x) {
        return _mm256_blendv_ps(_mm256_mul_ps(g, pv), g, _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
      });
      break;
    case Activation::elu:
      map2(dx, dy, s, n, [&](__m256 g, __m256 x) {
        const __m256 neg = _mm256_mul_ps(g, _mm256_mul_ps(pv, exp_ps(x)));
        return _mm256_blendv_ps(neg, g, _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
      });
      break;
    case Activation::sigmoid:
      map2(dx, dy, s, n, [&](__m256 g, __m256 y) { return _mm256_mul_ps(_mm256_mul_ps(g, _mm256_sub_ps(one, y)), y); });
      break;
    case Activation::tanh:
      map2(dx, dy, s, n, [&](__m256 g, __m256 y) { return _mm256_mul_ps(g, _mm256_fnmadd_ps(y, y, one)); });
      break;
    case Activation::exp:
      map2(dx, dy, s, n, [&](__m256 g, __m256 y) { return _mm256_mul_ps(g, y); });
      break;
  }
}

}  // namespace

const ActivationKernels& activation_kernels() {
  static const ActivationKernels k{&activation_forward, &activation_backward};
  return k;
}

}  // namespace avx2
}  // namespace fastdl
