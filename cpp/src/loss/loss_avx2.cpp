// Fused cross-entropy: AVX2/FMA path. One row at a time (the row is in L1): max sweep,
// exp-sum sweep writing exp(z - m), scale sweep writing the softmax; the loss uses
// logp = (z - m) - log(s) without forming log(softmax). Rows shorter than 8 (C = 10 is one
// vector + a masked tail) use masked loads and stores.
#include <immintrin.h>

#include "../core/simd_avx2.h"
#include "loss_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {

struct RowShape {
  int64_t C, C8;
  __m256i tm;
  __m256 fm;
};

inline RowShape row_shape(int64_t C) {
  RowShape s;
  s.C = C;
  s.C8 = C & ~int64_t(7);
  s.tm = tail_mask(C - s.C8);
  s.fm = _mm256_castsi256_ps(s.tm);
  return s;
}

inline float row_max(const RowShape& rs, const float* z) {
  const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
  __m256 vm = ninf;
  for (int64_t c = 0; c < rs.C8; c += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(z + c));
  if (rs.C8 < rs.C) vm = _mm256_max_ps(vm, _mm256_blendv_ps(ninf, _mm256_maskload_ps(z + rs.C8, rs.tm), rs.fm));
  return hmax(vm);
}

// p = exp(z - m) (unnormalised) for the whole vectors, the masked tail into `tail` (8 floats,
// a plain store: a masked store read back by a masked load defeats store forwarding and cost
// ~20 cycles per row); returns s = sum exp(z - m); *zw = sum_c w_c (z_c - m) when zw
// (w_c = 1 without weight).
inline float row_exp(const RowShape& rs, float* p, float* tail, const float* z, const float* w, float m, float* zw) {
  const int64_t C = rs.C, C8 = rs.C8;
  const __m256 mv = _mm256_set1_ps(m);
  __m256 vs = _mm256_setzero_ps(), va = _mm256_setzero_ps();
  for (int64_t c = 0; c < C8; c += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(z + c), mv);
    const __m256 e = exp_ps(d);
    _mm256_storeu_ps(p + c, e);
    vs = _mm256_add_ps(vs, e);
    if (zw) va = w ? _mm256_fmadd_ps(_mm256_loadu_ps(w + c), d, va) : _mm256_add_ps(va, d);
  }
  if (C8 < C) {
    const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(z + C8, rs.tm), mv), rs.fm);
    const __m256 e = _mm256_and_ps(exp_ps(d), rs.fm);
    _mm256_store_ps(tail, e);
    vs = _mm256_add_ps(vs, e);
    if (zw) va = w ? _mm256_fmadd_ps(_mm256_maskload_ps(w + C8, rs.tm), d, va) : _mm256_add_ps(va, d);
  }
  if (zw) *zw = hsum(va);
  return hsum(vs);
}

inline void row_scale(const RowShape& rs, float* p, const float* tail, float inv) {
  const __m256 iv = _mm256_set1_ps(inv);
  for (int64_t c = 0; c < rs.C8; c += 8) _mm256_storeu_ps(p + c, _mm256_mul_ps(_mm256_loadu_ps(p + c), iv));
  for (int64_t c = rs.C8; c < rs.C; ++c) p[c] = tail[c - rs.C8] * inv;
}

// Softmax of up to 8 rows in phases (all maxima, then all exp sweeps, then 1/s and log(s) of
// the 8 rows in one vector each, then the scaling), so the rows' independent dependency
// chains overlap in the out-of-order window. Fills m[k], ls[k] (= log s) and zw[k] (when
// want_zw) for k < nb.
inline void block_softmax(const RowShape& rs, float* prob, const float* logits, const float* w, int64_t nb,
                          bool want_zw, float* m, float* ls, float* zw) {
  alignas(32) float s[8] = {1, 1, 1, 1, 1, 1, 1, 1}, inv[8], tails[8][8];
  for (int64_t k = 0; k < nb; ++k) m[k] = row_max(rs, logits + k * rs.C);
  for (int64_t k = 0; k < nb; ++k)
    s[k] = row_exp(rs, prob + k * rs.C, tails[k], logits + k * rs.C, w, m[k], want_zw ? zw + k : nullptr);
  const __m256 sv = _mm256_load_ps(s);
  _mm256_store_ps(inv, _mm256_div_ps(_mm256_set1_ps(1.0f), sv));
  _mm256_storeu_ps(ls, log_ps_any(sv));
  for (int64_t k = 0; k < nb; ++k) row_scale(rs, prob + k * rs.C, tails[k], inv[k]);
}

}  // namespace

static void cross_entropy_rows(float* loss, float* prob, double* totals, const float* logits, const int64_t* target,
                        const float* weight, int64_t rows, int64_t C, int64_t ignore_index, float eps, float wsum) {
  const RowShape rs = row_shape(C);
  const float se = eps / static_cast<float>(C);
  double tl = 0.0, tw = 0.0;
  alignas(32) float mb[8], lsb[8], zwb[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t r0 = 0; r0 < rows; r0 += 8) {
    const int64_t nb = rows - r0 < 8 ? rows - r0 : 8;
    block_softmax(rs, prob + r0 * C, logits + r0 * C, weight, nb, eps != 0.0f, mb, lsb, zwb);
    for (int64_t k = 0; k < nb; ++k) {
      const int64_t r = r0 + k;
      const int64_t t = target[r];
      if (t == ignore_index) {
        if (loss) loss[r] = 0.0f;
        continue;
      }
      const float wt = weight ? weight[t] : 1.0f;
      float l = -(1.0f - eps) * wt * ((logits[r * C + t] - mb[k]) - lsb[k]);
      if (eps != 0.0f) l -= se * (zwb[k] - wsum * lsb[k]);
      if (loss) loss[r] = l;
      tl += l;
      tw += wt;
    }
  }
  totals[0] += tl;
  totals[1] += tw;
}

static void cross_entropy_backward_rows(float* dlogits, const float* g, int64_t g_stride, float scale, const float* prob,
                                 const int64_t* target, const float* weight, int64_t rows, int64_t C,
                                 int64_t ignore_index, float eps, float wsum) {
  const RowShape rs = row_shape(C);
  const int64_t C8 = rs.C8;
  const float se = eps / static_cast<float>(C);
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dlogits + r * C;
    const float* p = prob + r * C;
    const int64_t t = target[r];
    if (t == ignore_index) {
      for (int64_t c = 0; c < C8; c += 8) _mm256_storeu_ps(d + c, _mm256_setzero_ps());
      if (C8 < C) _mm256_maskstore_ps(d + C8, rs.tm, _mm256_setzero_ps());
      continue;
    }
    const float gi = g[r * g_stride] * scale;
    const float wt = weight ? weight[t] : 1.0f;
    const __m256 gA = _mm256_set1_ps(gi * ((1.0f - eps) * wt + se * wsum));
    const __m256 gs = _mm256_set1_ps(gi * se);
    for (int64_t c = 0; c < C8; c += 8) {
      const __m256 wv = weight ? _mm256_loadu_ps(weight + c) : one;
      _mm256_storeu_ps(d + c, _mm256_fmsub_ps(_mm256_loadu_ps(p + c), gA, _mm256_mul_ps(gs, wv)));
    }
    if (C8 < C) {
      const __m256 wv = weight ? _mm256_maskload_ps(weight + C8, rs.tm) : one;
      _mm256_maskstore_ps(d + C8, rs.tm, _mm256_fmsub_ps(_mm256_maskload_ps(p + C8, rs.tm), gA, _mm256_mul_ps(gs, wv)));
    }
    d[t] -= gi * (1.0f - eps) * wt;
  }
}

static void cross_entropy_prob_rows(float* loss, float* prob, double* totals, const float* logits, const float* target,
                             const float* weight, int64_t rows, int64_t C, float eps) {
  const RowShape rs = row_shape(C);
  const int64_t C8 = rs.C8;
  const __m256 keep = _mm256_set1_ps(1.0f - eps), se = _mm256_set1_ps(eps / static_cast<float>(C));
  double tl = 0.0;
  alignas(32) float mb[8], lsb[8];
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * C;
    const float* q = target + r * C;
    if (r % 8 == 0) block_softmax(rs, prob + r * C, z, nullptr, rows - r < 8 ? rows - r : 8, false, mb, lsb, nullptr);
    const __m256 off = _mm256_set1_ps(mb[r % 8]), lsv = _mm256_set1_ps(lsb[r % 8]);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t c = 0; c < C8; c += 8) {
      __m256 qv = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), keep, se);
      if (weight) qv = _mm256_mul_ps(qv, _mm256_loadu_ps(weight + c));
      acc = _mm256_fmadd_ps(qv, _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(z + c), off), lsv), acc);
    }
    if (C8 < C) {
      __m256 qv = _mm256_fmadd_ps(_mm256_maskload_ps(q + C8, rs.tm), keep, se);
      if (weight) qv = _mm256_mul_ps(qv, _mm256_maskload_ps(weight + C8, rs.tm));
      const __m256 lp = _mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(z + C8, rs.tm), off), lsv);
      acc = _mm256_add_ps(acc, _mm256_and_ps(_mm256_mul_ps(qv, lp), rs.fm));
    }
    const float l = -hsum(acc);
    if (loss) loss[r] = l;
    tl += l;
  }
  totals[0] += tl;
}

static void cross_entropy_prob_backward_rows(float* dlogits, const float* g, int64_t g_stride, float scale,
                                      const float* prob, const float* target, const float* weight, int64_t rows,
                                      int64_t C, float eps) {
  const RowShape rs = row_shape(C);
  const int64_t C8 = rs.C8;
  const __m256 keep = _mm256_set1_ps(1.0f - eps), se = _mm256_set1_ps(eps / static_cast<float>(C));
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dlogits + r * C;
    const float* p = prob + r * C;
    const float* q = target + r * C;
    const float gi = g[r * g_stride] * scale;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t c = 0; c < C8; c += 8) {
      __m256 qv = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), keep, se);
      if (weight) qv = _mm256_mul_ps(qv, _mm256_loadu_ps(weight + c));
      acc = _mm256_add_ps(acc, qv);
    }
    if (C8 < C) {
      __m256 qv = _mm256_fmadd_ps(_mm256_maskload_ps(q + C8, rs.tm), keep, se);
      if (weight) qv = _mm256_mul_ps(qv, _mm256_maskload_ps(weight + C8, rs.tm));
      acc = _mm256_add_ps(acc, _mm256_and_ps(qv, rs.fm));
    }
    const __m256 Q = _mm256_set1_ps(hsum(acc)), gv = _mm256_set1_ps(gi);
    for (int64_t c = 0; c < C8; c += 8) {
      __m256 qv = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), keep, se);
      if (weight) qv = _mm256_mul_ps(qv, _mm256_loadu_ps(weight + c));
      _mm256_storeu_ps(d + c, _mm256_mul_ps(gv, _mm256_fmsub_ps(_mm256_loadu_ps(p + c), Q, qv)));
    }
    if (C8 < C) {
      __m256 qv = _mm256_fmadd_ps(_mm256_maskload_ps(q + C8, rs.tm), keep, se);
      if (weight) qv = _mm256_mul_ps(qv, _mm256_maskload_ps(weight + C8, rs.tm));
      _mm256_maskstore_ps(d + C8, rs.tm, _mm256_mul_ps(gv, _mm256_fmsub_ps(_mm256_maskload_ps(p + C8, rs.tm), Q, qv)));
    }
  }
}

// ---- binary_cross_entropy_with_logits ---------------------------------------------------------
namespace {

// log1p(e) for e in [0, 1] (or NaN): log(u) * e / (u - 1) with u = 1 + e recovers the bits
// lost when rounding 1 + e (Goldberg's trick); e itself when u == 1.
inline __m256 log1p_unit(__m256 e) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 u = _mm256_add_ps(one, e);
  const __m256 um1 = _mm256_sub_ps(u, one);
  const __m256 r = _mm256_mul_ps(log_ps_any(u), _mm256_div_ps(e, um1));
  return _mm256_blendv_ps(r, e, _mm256_cmp_ps(um1, _mm256_setzero_ps(), _CMP_EQ_OQ));
}

struct BceTerms {
  __m256 e, sp;  // e = exp(-|x|), sp = softplus(-x) = log1p(e) + max(-x, 0)
};

inline BceTerms bce_terms(__m256 x) {
  BceTerms t;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  t.e = exp_ps(_mm256_or_ps(x, sign));
  t.sp = _mm256_add_ps(log1p_unit(t.e), _mm256_max_ps(_mm256_xor_ps(x, sign), _mm256_setzero_ps()));
  return t;
}

inline __m256 load_or(const float* p, int64_t i, const __m256i* m, __m256 dflt) {
  if (!p) return dflt;
  return m ? _mm256_maskload_ps(p + i, *m) : _mm256_loadu_ps(p + i);
}

}  // namespace

static void bce_with_logits_chunk(float* loss, double* totals, const float* x, const float* y, const float* w,
                           const float* pw, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  double total = 0.0;
  for (int64_t b = 0; b < n; b += 256) {  // float partial sums over 256 values, then double
    const int64_t e = n - b < 256 ? n - b : 256;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = b; i < b + e; i += 8) {
      const int64_t r = b + e - i;
      const __m256i tm = tail_mask(r < 8 ? r : 8);
      const __m256i* m = r < 8 ? &tm : nullptr;
      const __m256 xv = load_or(x, i, m, one), yv = load_or(y, i, m, one);
      const BceTerms t = bce_terms(xv);
      const __m256 lw = pw ? _mm256_fmadd_ps(_mm256_sub_ps(load_or(pw, i, m, one), one), yv, one) : one;
      __m256 l = _mm256_fmadd_ps(_mm256_sub_ps(one, yv), xv, _mm256_mul_ps(lw, t.sp));
      if (w) l = _mm256_mul_ps(l, load_or(w, i, m, one));
      if (m) {
        l = _mm256_and_ps(l, _mm256_castsi256_ps(tm));
        if (loss) _mm256_maskstore_ps(loss + i, tm, l);
      } else if (loss) {
        _mm256_storeu_ps(loss + i, l);
      }
      acc = _mm256_add_ps(acc, l);
    }
    total += hsum(acc);
  }
  totals[0] += total;
}

static void bce_with_logits_backward_chunk(float* dinput, float* dtarget, const float* dloss, int64_t stride, float scale,
                                    const float* x, const float* y, const float* w, const float* pw, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps(), sv = _mm256_set1_ps(scale);
  const __m256 g0 = stride == 0 ? _mm256_set1_ps(dloss[0]) : zero;
  for (int64_t i = 0; i < n; i += 8) {
    const int64_t r = n - i;
    const __m256i tm = tail_mask(r < 8 ? r : 8);
    const __m256i* m = r < 8 ? &tm : nullptr;
    const __m256 xv = load_or(x, i, m, one), yv = load_or(y, i, m, one);
    __m256 g = _mm256_mul_ps(stride == 0 ? g0 : load_or(dloss, i, m, zero), sv);
    if (w) g = _mm256_mul_ps(g, load_or(w, i, m, one));
    const __m256 pwm1 = pw ? _mm256_sub_ps(load_or(pw, i, m, one), one) : zero;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 e = exp_ps(_mm256_or_ps(xv, sign));
    const __m256 d = _mm256_div_ps(one, _mm256_add_ps(one, e));
    const __m256 sig_neg = _mm256_blendv_ps(d, _mm256_mul_ps(e, d), _mm256_cmp_ps(xv, zero, _CMP_GE_OQ));
    if (dinput) {
      const __m256 lw = _mm256_fmadd_ps(pwm1, yv, one);
      const __m256 v = _mm256_mul_ps(g, _mm256_fnmadd_ps(lw, sig_neg, _mm256_sub_ps(one, yv)));
      if (m) _mm256_maskstore_ps(dinput + i, tm, v); else _mm256_storeu_ps(dinput + i, v);
    }
    if (dtarget) {
      const __m256 sp = _mm256_add_ps(log1p_unit(e), _mm256_max_ps(_mm256_xor_ps(xv, sign), zero));
      const __m256 v = _mm256_mul_ps(g, _mm256_fmadd_ps(pwm1, sp, _mm256_xor_ps(xv, sign)));
      if (m) _mm256_maskstore_ps(dtarget + i, tm, v); else _mm256_storeu_ps(dtarget + i, v);
    }
  }
}

const LossKernels& loss_kernels() {
  static const LossKernels k{&cross_entropy_rows, &cross_entropy_backward_rows, &cross_entropy_prob_rows,
                             &cross_entropy_prob_backward_rows, &bce_with_logits_chunk, &bce_with_logits_backward_chunk};
  return k;
}

}  // namespace avx2
}  // namespace fastdl
