// Recurrent fused cells, AVX2 + FMA path (8 floats per step, scalar tail through the same
// vector code on a padded copy). exp, sigmoid and tanh are the shared AVX2 helpers of the
// activation family (core/simd_avx2.h).
#include <immintrin.h>

#include <cstring>

#include "../core/simd_avx2.h"  // exp_ps, sigmoid_ps, tanh_ps
#include "rnn_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {

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

static void rnn_cell_forward(bool relu, float* h, const float* pre, int64_t n0, int64_t n1, int64_t H) {
  const int64_t a = n0 * H, b = n1 * H;
  for (int64_t i = a; i < b; i += 8) {
    const Lane L = lane(i, b);
    const __m256 p = L.load(pre + i);
    L.store(h + i, relu ? _mm256_max_ps(p, _mm256_setzero_ps()) : tanh_ps(p));
  }
}

static void rnn_cell_backward(bool relu, float* dpre, const float* dy, const float* dhc, const float* h,
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

static void lstm_cell_forward(float* h, float* c, float* gates, const float* c_prev, int64_t n0, int64_t n1,
                              int64_t j0, int64_t j1, int64_t H) {
  for (int64_t n = n0; n < n1; ++n) {
    float* g = gates + n * 4 * H;
    for (int64_t j = j0; j < j1; j += 8) {
      const Lane L = lane(j, j1);
      const int64_t k = n * H + j;
      const __m256 i = sigmoid_ps(L.load(g + j));
      const __m256 f = sigmoid_ps(L.load(g + H + j));
      const __m256 gg = tanh_ps(L.load(g + 2 * H + j));
      const __m256 o = sigmoid_ps(L.load(g + 3 * H + j));
      const __m256 cp = L.load_or_zero(c_prev ? c_prev + k : nullptr);
      const __m256 cn = _mm256_fmadd_ps(f, cp, _mm256_mul_ps(i, gg));
      L.store(g + j, i);
      L.store(g + H + j, f);
      L.store(g + 2 * H + j, gg);
      L.store(g + 3 * H + j, o);
      L.store(c + k, cn);
      L.store(h + k, _mm256_mul_ps(o, tanh_ps(cn)));
    }
  }
}

static void lstm_cell_backward(float* dgates, float* dc, const float* dy, const float* dhc, const float* gates,
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
      const __m256 tc = tanh_ps(L.load(c + k));
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

static void gru_cell_forward(float* h, float* gates, float* hn, const float* gh, const float* b_hh,
                             const float* h_prev, int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t n = n0; n < n1; ++n) {
    float* g = gates + n * 3 * H;
    const float* q = gh + n * 3 * H;
    for (int64_t j = j0; j < j1; j += 8) {
      const Lane L = lane(j, j1);
      const int64_t k = n * H + j;
      const __m256 br = L.load_or_zero(b_hh ? b_hh + j : nullptr);
      const __m256 bz = L.load_or_zero(b_hh ? b_hh + H + j : nullptr);
      const __m256 bn = L.load_or_zero(b_hh ? b_hh + 2 * H + j : nullptr);
      const __m256 r = sigmoid_ps(_mm256_add_ps(_mm256_add_ps(L.load(g + j), L.load(q + j)), br));
      const __m256 z = sigmoid_ps(_mm256_add_ps(_mm256_add_ps(L.load(g + H + j), L.load(q + H + j)), bz));
      const __m256 hl = _mm256_add_ps(L.load(q + 2 * H + j), bn);
      const __m256 nn = tanh_ps(_mm256_fmadd_ps(r, hl, L.load(g + 2 * H + j)));
      const __m256 hp = L.load_or_zero(h_prev ? h_prev + k : nullptr);
      L.store(g + j, r);
      L.store(g + H + j, z);
      L.store(g + 2 * H + j, nn);
      L.store(hn + k, hl);
      L.store(h + k, _mm256_fmadd_ps(_mm256_sub_ps(one, z), nn, _mm256_mul_ps(z, hp)));
    }
  }
}

static void gru_cell_backward(float* dgx, float* dgh, float* dh_prev, const float* dy, const float* dhc,
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

const RnnKernels& rnn_kernels() {
  static const RnnKernels k{&rnn_cell_forward, &rnn_cell_backward, &lstm_cell_forward, &lstm_cell_backward, &gru_cell_forward,
                          &gru_cell_backward};
  return k;
}

}  // namespace avx2
}  // namespace fastdl
