// Recurrent fused cells, AVX2 + FMA path (8 floats per step, scalar tail through the same
// vector code on a padded copy). exp is Cephes' expf (about 1 ulp), tanh is Cephes' tanhf
// (polynomial for |x| < 0.625, 1 - 2 / (exp(2|x|) + 1) above), sigmoid is 1 / (1 + exp(-x)).
#include <immintrin.h>

#include <cstring>

#include "fastdl/rnn.h"

namespace fastdl {
namespace avx2 {
namespace {

inline __m256 exp256(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-88.3762626647949f);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i n = _mm256_cvttps_epi32(fx);
  n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}

inline __m256 sigmoid256(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

inline __m256 tanh256(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(sign, x);
  // large: 1 - 2 / (exp(2|x|) + 1), with the sign of x
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = exp256(_mm256_add_ps(ax, ax));
  __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
  // small: x + x^3 P(x^2)
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745E-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954E-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531E-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036E-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422E-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const __m256 is_small = _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm256_blendv_ps(big, small, is_small);
}

// Loads/stores of 8 lanes, or of the `rem` < 8 remaining lanes through a zero-padded copy.
struct Lane {
  int64_t rem;  // 8 for full vectors
  inline __m256 load(const float* p) const {
    if (rem == 8) return _mm256_loadu_ps(p);
    alignas(32) float b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(b, p, sizeof(float) * rem);
    return _mm256_load_ps(b);
  }
  inline __m256 load_or_zero(const float* p) const { return p ? load(p) : _mm256_setzero_ps(); }
  inline void store(float* p, __m256 v) const {
    if (rem == 8) {
      _mm256_storeu_ps(p, v);
      return;
    }
    alignas(32) float b[8];
    _mm256_store_ps(b, v);
    std::memcpy(p, b, sizeof(float) * rem);
  }
};

inline Lane lane(int64_t j, int64_t H) { return Lane{H - j >= 8 ? 8 : H - j}; }

}  // namespace

void rnn_cell_forward(bool relu, float* h, const float* pre, int64_t n0, int64_t n1, int64_t H) {
  const int64_t a = n0 * H, b = n1 * H;
  for (int64_t i = a; i < b; i += 8) {
    const Lane L = lane(i, b);
    const __m256 p = L.load(pre + i);
    L.store(h + i, relu ? _mm256_max_ps(p, _mm256_setzero_ps()) : tanh256(p));
  }
}

void rnn_cell_backward(bool relu, float* dpre, const float* dy, const float* dhc, const float* h,
                       int64_t n0, int64_t n1, int64_t H) {
  const int64_t a = n0 * H, b = n1 * H;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = a; i < b; i += 8) {
    const Lane L = lane(i, b);
    const __m256 dh = _mm256_add_ps(L.load(dy + i), L.load(dhc + i));
    const __m256 hv = L.load(h + i);
    __m256 r;
    if (relu)
      r = _mm256_and_ps(dh, _mm256_cmp_ps(hv, _mm256_setzero_ps(), _CMP_GT_OQ));
    else
      r = _mm256_mul_ps(dh, _mm256_fnmadd_ps(hv, hv, one));
    L.store(dpre + i, r);
  }
}

void lstm_cell_forward(float* h, float* c, float* gates, const float* c_prev, int64_t n0, int64_t n1,
                       int64_t H) {
  for (int64_t n = n0; n < n1; ++n) {
    float* g = gates + n * 4 * H;
    for (int64_t j = 0; j < H; j += 8) {
      const Lane L = lane(j, H);
      const int64_t k = n * H + j;
      const __m256 i = sigmoid256(L.load(g + j));
      const __m256 f = sigmoid256(L.load(g + H + j));
      const __m256 gg = tanh256(L.load(g + 2 * H + j));
      const __m256 o = sigmoid256(L.load(g + 3 * H + j));
      const __m256 cp = L.load_or_zero(c_prev ? c_prev + k : nullptr);
      const __m256 cn = _mm256_fmadd_ps(f, cp, _mm256_mul_ps(i, gg));
      L.store(g + j, i);
      L.store(g + H + j, f);
      L.store(g + 2 * H + j, gg);
      L.store(g + 3 * H + j, o);
      L.store(c + k, cn);
      L.store(h + k, _mm256_mul_ps(o, tanh256(cn)));
    }
  }
}

void lstm_cell_backward(float* dgates, float* dc, const float* dy, const float* dhc, const float* gates,
                        const float* c, const float* c_prev, int64_t n0, int64_t n1, int64_t H) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t n = n0; n < n1; ++n) {
    const float* g = gates + n * 4 * H;
    float* dg = dgates + n * 4 * H;
    for (int64_t j = 0; j < H; j += 8) {
      const Lane L = lane(j, H);
      const int64_t k = n * H + j;
      const __m256 i = L.load(g + j), f = L.load(g + H + j), gg = L.load(g + 2 * H + j),
                   o = L.load(g + 3 * H + j);
      const __m256 tc = tanh256(L.load(c + k));
      const __m256 dh = _mm256_add_ps(L.load(dy + k), L.load(dhc + k));
      const __m256 dct = _mm256_fmadd_ps(_mm256_mul_ps(dh, o), _mm256_fnmadd_ps(tc, tc, one), L.load(dc + k));
      const __m256 cp = L.load_or_zero(c_prev ? c_prev + k : nullptr);
      L.store(dg + j, _mm256_mul_ps(_mm256_mul_ps(dct, gg), _mm256_mul_ps(i, _mm256_sub_ps(one, i))));
      L.store(dg + H + j, _mm256_mul_ps(_mm256_mul_ps(dct, cp), _mm256_mul_ps(f, _mm256_sub_ps(one, f))));
      L.store(dg + 2 * H + j, _mm256_mul_ps(_mm256_mul_ps(dct, i), _mm256_fnmadd_ps(gg, gg, one)));
      L.store(dg + 3 * H + j, _mm256_mul_ps(_mm256_mul_ps(dh, tc), _mm256_mul_ps(o, _mm256_sub_ps(one, o))));
      L.store(dc + k, _mm256_mul_ps(dct, f));
    }
  }
}

void gru_cell_forward(float* h, float* gates, float* hn, const float* gh, const float* b_hh,
                      const float* h_prev, int64_t n0, int64_t n1, int64_t H) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t n = n0; n < n1; ++n) {
    float* g = gates + n * 3 * H;
    const float* q = gh + n * 3 * H;
    for (int64_t j = 0; j < H; j += 8) {
      const Lane L = lane(j, H);
      const int64_t k = n * H + j;
      const __m256 br = L.load_or_zero(b_hh ? b_hh + j : nullptr);
      const __m256 bz = L.load_or_zero(b_hh ? b_hh + H + j : nullptr);
      const __m256 bn = L.load_or_zero(b_hh ? b_hh + 2 * H + j : nullptr);
      const __m256 r = sigmoid256(_mm256_add_ps(_mm256_add_ps(L.load(g + j), L.load(q + j)), br));
      const __m256 z = sigmoid256(_mm256_add_ps(_mm256_add_ps(L.load(g + H + j), L.load(q + H + j)), bz));
      const __m256 hl = _mm256_add_ps(L.load(q + 2 * H + j), bn);
      const __m256 nn = tanh256(_mm256_fmadd_ps(r, hl, L.load(g + 2 * H + j)));
      const __m256 hp = L.load_or_zero(h_prev ? h_prev + k : nullptr);
      L.store(g + j, r);
      L.store(g + H + j, z);
      L.store(g + 2 * H + j, nn);
      L.store(hn + k, hl);
      L.store(h + k, _mm256_fmadd_ps(_mm256_sub_ps(one, z), nn, _mm256_mul_ps(z, hp)));
    }
  }
}

void gru_cell_backward(float* dgx, float* dgh, float* dh_prev, const float* dy, const float* dhc,
                       const float* gates, const float* hn, const float* h_prev, int64_t n0, int64_t n1,
                       int64_t H) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t n = n0; n < n1; ++n) {
    const float* g = gates + n * 3 * H;
    float* dx = dgx + n * 3 * H;
    float* dq = dgh + n * 3 * H;
    for (int64_t j = 0; j < H; j += 8) {
      const Lane L = lane(j, H);
      const int64_t k = n * H + j;
      const __m256 r = L.load(g + j), z = L.load(g + H + j), nn = L.load(g + 2 * H + j);
      const __m256 hp = L.load_or_zero(h_prev ? h_prev + k : nullptr);
      const __m256 dh = _mm256_add_ps(L.load(dy + k), L.load(dhc + k));
      const __m256 dnp = _mm256_mul_ps(_mm256_mul_ps(dh, _mm256_sub_ps(one, z)), _mm256_fnmadd_ps(nn, nn, one));
      const __m256 drp = _mm256_mul_ps(_mm256_mul_ps(dnp, L.load(hn + k)), _mm256_mul_ps(r, _mm256_sub_ps(one, r)));
      const __m256 dzp = _mm256_mul_ps(_mm256_mul_ps(dh, _mm256_sub_ps(hp, nn)), _mm256_mul_ps(z, _mm256_sub_ps(one, z)));
      L.store(dx + j, drp);
      L.store(dx + H + j, dzp);
      L.store(dx + 2 * H + j, dnp);
      L.store(dq + j, drp);
      L.store(dq + H + j, dzp);
      L.store(dq + 2 * H + j, _mm256_mul_ps(dnp, r));
      L.store(dh_prev + k, _mm256_mul_ps(dh, z));
    }
  }
}

}  // namespace avx2
}  // namespace fastdl
