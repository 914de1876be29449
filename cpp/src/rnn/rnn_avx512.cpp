// Recurrent fused cells, AVX-512F path (16 floats per step, masked loads and stores for a
// row's tail). Same equations and argument conventions as rnn_avx2.cpp (rnn_kernels.h); the
// math differs in two places, both measured on the LSTM / GRU LM (Zen 4, where a 512-bit op
// costs two 256-bit ones, so the gain is fewer instructions and no divider stalls):
//   exp: the same Cephes polynomial, 2^n applied by vscalefps (no exponent-field arithmetic
//        and no out-of-range branch: the argument is clamped to [-104, 89], NaN kept);
//   1 / d for d in [1, 2] (sigmoid, tanh): vrcp14ps and one Newton step (~1 ulp) instead of
//        a division (the AVX2 cells issue 5 divisions per element in the LSTM forward).
#include <immintrin.h>

#include "rnn_kernels.h"

// GCC 12 flags the _mm512_undefined_ps() pass-through inside its own unmasked intrinsics
// (roundscale, scalef, rcp14, ...) as maybe-uninitialized: a false positive (gemm_avx512.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace fastdl {
namespace avx512 {
namespace {

// Lanes [j, end) of a 16-float step, as a load / store mask.
struct Lane {
  __mmask16 m;
  inline __m512 load(const float* p) const { return _mm512_maskz_loadu_ps(m, p); }
  inline __m512 load_or_zero(const float* p) const { return p ? load(p) : _mm512_setzero_ps(); }
  inline void store(float* p, __m512 v) const { _mm512_mask_storeu_ps(p, m, v); }
};

inline Lane lane(int64_t j, int64_t end) {
  const int64_t r = end - j;
  return Lane{r >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << r) - 1u)};
}

inline __m512 set1(float v) { return _mm512_set1_ps(v); }

// exp(x): n = round(x log2 e), r = x - n ln2 (two-constant split), exp(r) by the Cephes
// polynomial, times 2^n by scalef (exact; overflow to inf, gradual underflow to 0).
inline __m512 exp512(__m512 x) {
  x = _mm512_min_ps(set1(89.0f), _mm512_max_ps(set1(-104.0f), x));  // NaN (second operand) passes
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, set1(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, set1(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, set1(-2.12194440e-4f), r);
  __m512 p = set1(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, set1(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, set1(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, set1(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, set1(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, set1(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  return _mm512_scalef_ps(_mm512_add_ps(p, set1(1.0f)), n);
}

// 1 / d for d in [1, 2] (or NaN): 14-bit estimate and one Newton step.
inline __m512 recip12(__m512 d) {
  const __m512 r = _mm512_rcp14_ps(d);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, set1(2.0f)));
}

// sigmoid(x) from e = exp(-|x|): d = 1 / (1 + e) for x >= 0, e * d for x < 0.
inline __m512 sigmoid512(__m512 x) {
  const __m512 e = exp512(_mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN))));
  const __m512 d = recip12(_mm512_add_ps(set1(1.0f), e));
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_mul_ps(d, neg, e, d);
}

// tanh(x): |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf); otherwise sign(x) (1 - 2e / (1 + e))
// with e = exp(-2|x|).
inline __m512 tanh512(__m512 x) {
  const __m512i sign = _mm512_set1_epi32(INT32_MIN);
  const __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
  const __m512 z = _mm512_mul_ps(x, x);
  __m512 p = set1(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, set1(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, set1(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, set1(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, set1(-3.33332819422e-1f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
  const __m512 e = exp512(_mm512_mul_ps(ax, set1(-2.0f)));
  const __m512 t = _mm512_fnmadd_ps(_mm512_add_ps(e, e), recip12(_mm512_add_ps(set1(1.0f), e)), set1(1.0f));
  const __m512 big = _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_castps_si512(t), _mm512_and_si512(_mm512_castps_si512(x), sign)));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, set1(0.625f), _CMP_LT_OQ), big, small);
}

inline __m512 one_minus_sq(__m512 v) { return _mm512_fnmadd_ps(v, v, set1(1.0f)); }           // 1 - v^2
inline __m512 dsig(__m512 v) { return _mm512_mul_ps(v, _mm512_sub_ps(set1(1.0f), v)); }       // v (1 - v)

}  // namespace

static void rnn_cell_forward(bool relu, float* h, const float* pre, int64_t n0, int64_t n1, int64_t H) {
  const int64_t a = n0 * H, b = n1 * H;
  for (int64_t i = a; i < b; i += 16) {
    const Lane L = lane(i, b);
    const __m512 p = L.load(pre + i);
    L.store(h + i, relu ? _mm512_max_ps(p, _mm512_setzero_ps()) : tanh512(p));
  }
}

static void rnn_cell_backward(bool relu, float* dpre, const float* dy, const float* dhc, const float* h, int64_t n0,
                              int64_t n1, int64_t H) {
  const int64_t a = n0 * H, b = n1 * H;
  for (int64_t i = a; i < b; i += 16) {
    const Lane L = lane(i, b);
    const __m512 dh = _mm512_add_ps(L.load(dy + i), L.load(dhc + i));
    const __m512 hv = L.load(h + i);
    const __m512 r = relu ? _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(hv, _mm512_setzero_ps(), _CMP_GT_OQ), dh)
                          : _mm512_mul_ps(dh, one_minus_sq(hv));
    L.store(dpre + i, r);
  }
}

static void lstm_cell_forward(float* h, float* c, float* gates, const float* c_prev, int64_t n0, int64_t n1,
                              int64_t j0, int64_t j1, int64_t H) {
  for (int64_t n = n0; n < n1; ++n) {
    float* g = gates + n * 4 * H;
    for (int64_t j = j0; j < j1; j += 16) {
      const Lane L = lane(j, j1);
      const int64_t k = n * H + j;
      const __m512 i = sigmoid512(L.load(g + j));
      const __m512 f = sigmoid512(L.load(g + H + j));
      const __m512 gg = tanh512(L.load(g + 2 * H + j));
      const __m512 o = sigmoid512(L.load(g + 3 * H + j));
      const __m512 cp = L.load_or_zero(c_prev ? c_prev + k : nullptr);
      const __m512 cn = _mm512_fmadd_ps(f, cp, _mm512_mul_ps(i, gg));
      L.store(g + j, i);
      L.store(g + H + j, f);
      L.store(g + 2 * H + j, gg);
      L.store(g + 3 * H + j, o);
      L.store(c + k, cn);
      L.store(h + k, _mm512_mul_ps(o, tanh512(cn)));
    }
  }
}

static void lstm_cell_backward(float* dgates, float* dc, const float* dy, const float* dhc, const float* gates,
                               const float* c, const float* c_prev, int64_t n0, int64_t n1, int64_t H) {
  for (int64_t n = n0; n < n1; ++n) {
    const float* g = gates + n * 4 * H;
    float* dg = dgates + n * 4 * H;
    for (int64_t j = 0; j < H; j += 16) {
      const Lane L = lane(j, H);
      const int64_t k = n * H + j;
      const __m512 i = L.load(g + j), f = L.load(g + H + j), gg = L.load(g + 2 * H + j), o = L.load(g + 3 * H + j);
      const __m512 tc = tanh512(L.load(c + k));
      const __m512 dh = _mm512_add_ps(L.load(dy + k), L.load(dhc + k));
      const __m512 dct = _mm512_fmadd_ps(_mm512_mul_ps(dh, o), one_minus_sq(tc), L.load(dc + k));
      const __m512 cp = L.load_or_zero(c_prev ? c_prev + k : nullptr);
      L.store(dg + j, _mm512_mul_ps(_mm512_mul_ps(dct, gg), dsig(i)));
      L.store(dg + H + j, _mm512_mul_ps(_mm512_mul_ps(dct, cp), dsig(f)));
      L.store(dg + 2 * H + j, _mm512_mul_ps(_mm512_mul_ps(dct, i), one_minus_sq(gg)));
      L.store(dg + 3 * H + j, _mm512_mul_ps(_mm512_mul_ps(dh, tc), dsig(o)));
      L.store(dc + k, _mm512_mul_ps(dct, f));
    }
  }
}

static void gru_cell_forward(float* h, float* gates, float* hn, const float* gh, const float* b_hh,
                             const float* h_prev, int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H) {
  for (int64_t n = n0; n < n1; ++n) {
    float* g = gates + n * 3 * H;
    const float* q = gh + n * 3 * H;
    for (int64_t j = j0; j < j1; j += 16) {
      const Lane L = lane(j, j1);
      const int64_t k = n * H + j;
      const __m512 br = L.load_or_zero(b_hh ? b_hh + j : nullptr);
      const __m512 bz = L.load_or_zero(b_hh ? b_hh + H + j : nullptr);
      const __m512 bn = L.load_or_zero(b_hh ? b_hh + 2 * H + j : nullptr);
      const __m512 r = sigmoid512(_mm512_add_ps(_mm512_add_ps(L.load(g + j), L.load(q + j)), br));
      const __m512 z = sigmoid512(_mm512_add_ps(_mm512_add_ps(L.load(g + H + j), L.load(q + H + j)), bz));
      const __m512 hl = _mm512_add_ps(L.load(q + 2 * H + j), bn);
      const __m512 nn = tanh512(_mm512_fmadd_ps(r, hl, L.load(g + 2 * H + j)));
      const __m512 hp = L.load_or_zero(h_prev ? h_prev + k : nullptr);
      L.store(g + j, r);
      L.store(g + H + j, z);
      L.store(g + 2 * H + j, nn);
      L.store(hn + k, hl);
      L.store(h + k, _mm512_fmadd_ps(_mm512_sub_ps(set1(1.0f), z), nn, _mm512_mul_ps(z, hp)));
    }
  }
}

static void gru_cell_backward(float* dgx, float* dgh, float* dh_prev, const float* dy, const float* dhc,
                              const float* gates, const float* hn, const float* h_prev, int64_t n0, int64_t n1,
                              int64_t H) {
  for (int64_t n = n0; n < n1; ++n) {
    const float* g = gates + n * 3 * H;
    float* dx = dgx + n * 3 * H;
    float* dq = dgh + n * 3 * H;
    for (int64_t j = 0; j < H; j += 16) {
      const Lane L = lane(j, H);
      const int64_t k = n * H + j;
      const __m512 r = L.load(g + j), z = L.load(g + H + j), nn = L.load(g + 2 * H + j);
      const __m512 hp = L.load_or_zero(h_prev ? h_prev + k : nullptr);
      const __m512 dh = _mm512_add_ps(L.load(dy + k), L.load(dhc + k));
      const __m512 dnp = _mm512_mul_ps(_mm512_mul_ps(dh, _mm512_sub_ps(set1(1.0f), z)), one_minus_sq(nn));
      const __m512 drp = _mm512_mul_ps(_mm512_mul_ps(dnp, L.load(hn + k)), dsig(r));
      const __m512 dzp = _mm512_mul_ps(_mm512_mul_ps(dh, _mm512_sub_ps(hp, nn)), dsig(z));
      L.store(dx + j, drp);
      L.store(dx + H + j, dzp);
      L.store(dx + 2 * H + j, dnp);
      L.store(dq + j, drp);
      L.store(dq + H + j, dzp);
      L.store(dq + 2 * H + j, _mm512_mul_ps(dnp, r));
      L.store(dh_prev + k, _mm512_mul_ps(dh, z));
    }
  }
}

const RnnKernels& rnn_kernels() {
  static const RnnKernels k{&rnn_cell_forward, &rnn_cell_backward, &lstm_cell_forward, &lstm_cell_backward,
                            &gru_cell_forward, &gru_cell_backward};
  return k;
}

}  // namespace avx512
}  // namespace fastdl
