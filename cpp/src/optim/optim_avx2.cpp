// Fused optimizer updates, AVX2 + FMA path: 8 floats per step, the tail through masked
// loads and stores so every element takes the same (vector) operations as the generic path.
#include <immintrin.h>

#include "optim_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {

inline __m256i tail_mask(int64_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline __m256 neg(__m256 x) { return _mm256_xor_ps(x, _mm256_set1_ps(-0.0f)); }

// torch.maximum: NaN in either operand propagates.
inline __m256 nan_max(__m256 a, __m256 b) {
  const __m256 mx = _mm256_max_ps(a, b);
  const __m256 unordered = _mm256_cmp_ps(a, b, _CMP_UNORD_Q);
  return _mm256_blendv_ps(mx, _mm256_add_ps(a, b), unordered);
}

struct SgdVec {
  __m256 neg_lr, momentum, one_minus_damp, weight_decay;
};

inline __m256 sgd_one(__m256 p, __m256 g, __m256* b, const SgdVec& k, const SgdCoeffs& c) {
  if (c.maximize) g = neg(g);
  if (c.has_weight_decay) g = _mm256_fmadd_ps(p, k.weight_decay, g);
  if (c.has_momentum) {
    const __m256 nb = c.init_buffer ? g : _mm256_fmadd_ps(g, k.one_minus_damp, _mm256_mul_ps(*b, k.momentum));
    *b = nb;
    g = c.nesterov ? _mm256_fmadd_ps(nb, k.momentum, g) : nb;
  }
  return _mm256_fmadd_ps(g, k.neg_lr, p);
}

struct AdamVec {
  __m256 decay, weight_decay, lerp_w, lerp_w_minus_1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step;
  bool small_w;
};

// Updates p, m, v (and vmax) for one vector of elements.
inline void adam_one(__m256& p, __m256& m, __m256& v, __m256& vmax, __m256 g, const AdamVec& k,
                     const AdamCoeffs& c) {
  if (c.maximize) g = neg(g);
  if (c.decoupled) p = _mm256_mul_ps(p, k.decay);
  if (c.l2) g = _mm256_fmadd_ps(p, k.weight_decay, g);
  const __m256 diff = _mm256_sub_ps(g, m);
  m = k.small_w ? _mm256_fmadd_ps(k.lerp_w, diff, m) : _mm256_fmadd_ps(k.lerp_w_minus_1, diff, g);
  v = _mm256_fmadd_ps(_mm256_mul_ps(k.one_minus_beta2, g), g, _mm256_mul_ps(v, k.beta2));
  __m256 vv = v;
  if (c.amsgrad) {
    vmax = nan_max(vmax, v);
    vv = vmax;
  }
  const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vv), k.bc2_sqrt), k.eps);
  p = _mm256_add_ps(p, _mm256_div_ps(_mm256_mul_ps(k.neg_step, m), denom));
}

}  // namespace

static void sgd_update(float* p, float* buf, const float* grad, int64_t n, const SgdCoeffs& c) {
  SgdVec k;
  k.neg_lr = _mm256_set1_ps(c.neg_lr);
  k.momentum = _mm256_set1_ps(c.momentum);
  k.one_minus_damp = _mm256_set1_ps(c.one_minus_damp);
  k.weight_decay = _mm256_set1_ps(c.weight_decay);
  const bool read_buf = c.has_momentum && !c.init_buffer;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 b = read_buf ? _mm256_loadu_ps(buf + i) : _mm256_setzero_ps();
    const __m256 np = sgd_one(_mm256_loadu_ps(p + i), _mm256_loadu_ps(grad + i), &b, k, c);
    _mm256_storeu_ps(p + i, np);
    if (c.has_momentum) _mm256_storeu_ps(buf + i, b);
  }
  if (i < n) {
    const __m256i mask = tail_mask(n - i);
    __m256 b = read_buf ? _mm256_maskload_ps(buf + i, mask) : _mm256_setzero_ps();
    const __m256 np = sgd_one(_mm256_maskload_ps(p + i, mask), _mm256_maskload_ps(grad + i, mask), &b, k, c);
    _mm256_maskstore_ps(p + i, mask, np);
    if (c.has_momentum) _mm256_maskstore_ps(buf + i, mask, b);
  }
}

static void adam_update(float* p, float* m, float* v, float* vmax, const float* grad, int64_t n,
                 const AdamCoeffs& c) {
  AdamVec k;
  k.decay = _mm256_set1_ps(c.decay);
  k.weight_decay = _mm256_set1_ps(c.weight_decay);
  k.lerp_w = _mm256_set1_ps(c.lerp_w);
  k.lerp_w_minus_1 = _mm256_set1_ps(c.lerp_w - 1.0f);
  k.beta2 = _mm256_set1_ps(c.beta2);
  k.one_minus_beta2 = _mm256_set1_ps(c.one_minus_beta2);
  k.bc2_sqrt = _mm256_set1_ps(c.bc2_sqrt);
  k.eps = _mm256_set1_ps(c.eps);
  k.neg_step = _mm256_set1_ps(c.neg_step_size);
  k.small_w = (c.lerp_w < 0.5f && c.lerp_w > -0.5f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 pv = _mm256_loadu_ps(p + i), mv = _mm256_loadu_ps(m + i), vv = _mm256_loadu_ps(v + i);
    __m256 xv = c.amsgrad ? _mm256_loadu_ps(vmax + i) : _mm256_setzero_ps();
    adam_one(pv, mv, vv, xv, _mm256_loadu_ps(grad + i), k, c);
    _mm256_storeu_ps(p + i, pv);
    _mm256_storeu_ps(m + i, mv);
    _mm256_storeu_ps(v + i, vv);
    if (c.amsgrad) _mm256_storeu_ps(vmax + i, xv);
  }
  if (i < n) {
    const __m256i mask = tail_mask(n - i);
    __m256 pv = _mm256_maskload_ps(p + i, mask), mv = _mm256_maskload_ps(m + i, mask),
           vv = _mm256_maskload_ps(v + i, mask);
    __m256 xv = c.amsgrad ? _mm256_maskload_ps(vmax + i, mask) : _mm256_setzero_ps();
    adam_one(pv, mv, vv, xv, _mm256_maskload_ps(grad + i, mask), k, c);
    _mm256_maskstore_ps(p + i, mask, pv);
    _mm256_maskstore_ps(m + i, mask, mv);
    _mm256_maskstore_ps(v + i, mask, vv);
    if (c.amsgrad) _mm256_maskstore_ps(vmax + i, mask, xv);
  }
}

const OptimKernels& optim_kernels() {
  static const OptimKernels k{&sgd_update, &adam_update};
  return k;
}

}  // namespace avx2
}  // namespace fastdl
