// AVX2/FMA helpers shared by the *_avx2.cpp kernels (activation, softmax, loss, dropout, rnn).
// Include ONLY from *_avx2.cpp files. Everything lives in an anonymous namespace inside
// fastdl::avx2, so no AVX2-compiled inline function can be merged into a generic translation
// unit by the linker (the ODR trap, docs/kernels.md §3).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fastdl {
namespace avx2 {
namespace {

// Lanes [0, r) set, 0 <= r <= 8 (for masked loads and stores of a row's tail).
inline __m256i tail_mask(int64_t r) {
  alignas(32) static const int32_t tbl[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tbl + 8 - r));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// exp(x), 8 lanes. n = round(x log2 e); r = x - n ln2 with a two-constant Cody-Waite split
// (ln2 = 0.693359375 - 2.12194440e-4; n * 0.693359375 is exact); exp(r) on [-ln2/2, ln2/2]
// by the Cephes expf polynomial (degree 6 in r: 1 + r + r^2 P(r)); 2^n applied as
// 2^(n>>1) * 2^(n - (n>>1)) through the exponent field so n = 128 and n = -126 stay
// representable. Max error ~1-2 ulp on [ln FLT_MIN, ln FLT_MAX]; exact 0 below ln FLT_MIN
// (no denormals), +inf above, NaN propagates.
inline __m256 exp_ps(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.33654475f);          // ln FLT_MIN
  const __m256 hi = _mm256_set1_ps(88.72283172607421875f);  // largest x with finite expf
  // Lanes outside [-87.33, 87.33] or NaN take the (rare) fix-up branch below; the main path
  // is exact up to 88.72 and its result for the other lanes is replaced there.
  const __m256 out_of_range =
      _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(87.33654475f), _CMP_NLE_UQ);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  if (__builtin_expect(_mm256_movemask_ps(out_of_range) != 0, 0)) {
    y = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y);
    y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
  }
  return y;
}

// log(x) for positive, finite, normal x (Cephes logf: x = 2^e * m with m in [sqrt(1/2),
// sqrt(2)), log(m) by a degree-9 polynomial, e * ln2 added in two parts). ~1 ulp. Callers
// handle NaN / inf / 0 themselves (see log_ps_any).
inline __m256 log_ps_normal(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256i bits = _mm256_castps_si256(x);
  __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
  __m256 m = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F000000)));
  const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm256_sub_ps(e, _mm256_and_ps(one, small));
  m = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(m, small)), one);
  const __m256 z = _mm256_mul_ps(m, m);
  __m256 y = _mm256_set1_ps(7.0376836292e-2f);
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.1514610310e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.1676998740e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.2420140846e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.4249322787e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.6668057665e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(2.0000714765e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-2.4999993993e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(3.3333331174e-1f));
  y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), z, y);
  return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
}

// log(x) for any x: the vector path when every lane is positive, finite and normal,
// otherwise libm's logf lane by lane (NaN, inf, 0 and negatives get IEEE results).
inline __m256 log_ps_any(__m256 x) {
  const __m256 ok = _mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(1.17549435e-38f), _CMP_GE_OQ),
                                  _mm256_cmp_ps(x, _mm256_set1_ps(3.40282347e38f), _CMP_LE_OQ));
  if (__builtin_expect(_mm256_movemask_ps(ok) == 0xFF, 1)) return log_ps_normal(x);
  alignas(32) float v[8];
  _mm256_store_ps(v, x);
  for (int i = 0; i < 8; ++i) v[i] = __builtin_logf(v[i]);
  return _mm256_load_ps(v);
}

// sigmoid(x) = 1 / (1 + exp(-x)) from e = exp(-|x|) (never overflows): d = 1 / (1 + e) is the
// result for x >= 0 and e * d for x < 0 (blend on the sign bit of x).
inline __m256 sigmoid_ps(__m256 x) {
  const __m256 neg_abs = _mm256_or_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 e = exp_ps(neg_abs);
  const __m256 d = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  return _mm256_blendv_ps(d, _mm256_mul_ps(e, d), x);
}

// tanh(x): |x| < 0.625: odd polynomial x + x^3 P(x^2) (Cephes tanhf); otherwise
// sign(x) * (1 - 2 e / (1 + e)) with e = exp(-2|x|). Abs error ~1e-7.
inline __m256 tanh_ps(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(sign, x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const __m256 e = exp_ps(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
  const __m256 t = _mm256_sub_ps(_mm256_set1_ps(1.0f),
                                 _mm256_div_ps(_mm256_add_ps(e, e), _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
  const __m256 big = _mm256_or_ps(t, _mm256_and_ps(x, sign));
  return _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

}  // namespace
}  // namespace avx2
}  // namespace fastdl
