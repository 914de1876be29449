// Fused cross-entropy: AVX2/FMA path. One row at a time (the row is in L1): max sweep,
// exp-sum sweep writing exp(z - m), scale sweep writing the softmax; the loss uses
// logp = (z - m) - log(s) without forming log(softmax). Rows shorter than 8 (C = 10 is one
// vector + a masked tail) use masked loads and stores.
#include <immintrin.h>

#include "../activation/simd_avx2.h"
#include "fastdl/loss.h"

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

// p = softmax(z); *m = max z, *ls = log(sum exp(z - m)); *zw = sum_c w_c (z_c - m) when zw
// (w_c = 1 without weight).
inline void row_softmax(const RowShape& rs, float* p, const float* z, const float* w, float* m_out, float* ls_out,
                        float* zw) {
  const int64_t C = rs.C, C8 = rs.C8;
  const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
  __m256 vm = ninf;
  for (int64_t c = 0; c < C8; c += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(z + c));
  if (C8 < C) vm = _mm256_max_ps(vm, _mm256_blendv_ps(ninf, _mm256_maskload_ps(z + C8, rs.tm), rs.fm));
  const float m = hmax(vm);
  const __m256 mv = _mm256_set1_ps(m);
  __m256 vs = _mm256_setzero_ps(), va = _mm256_setzero_ps();
  for (int64_t c = 0; c < C8; c += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(z + c), mv);
    const __m256 e = exp_ps(d);
    _mm256_storeu_ps(p + c, e);
    vs = _mm256_add_ps(vs, e);
    if (zw) va = w ? _mm256_fmadd_ps(_mm256_loadu_ps(w + c), d, va) : _mm256_add_ps(va, d);
  }
  __m256 et = _mm256_setzero_ps();
  if (C8 < C) {
    const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(z + C8, rs.tm), mv), rs.fm);
    et = _mm256_and_ps(exp_ps(d), rs.fm);
    vs = _mm256_add_ps(vs, et);
    if (zw) va = w ? _mm256_fmadd_ps(_mm256_maskload_ps(w + C8, rs.tm), d, va) : _mm256_add_ps(va, d);
  }
  const float s = hsum(vs);
  const __m256 inv = _mm256_set1_ps(1.0f / s);
  for (int64_t c = 0; c < C8; c += 8) _mm256_storeu_ps(p + c, _mm256_mul_ps(_mm256_loadu_ps(p + c), inv));
  if (C8 < C) _mm256_maskstore_ps(p + C8, rs.tm, _mm256_mul_ps(et, inv));
  *m_out = m;
  *ls_out = __builtin_logf(s);
  if (zw) *zw = hsum(va);
}

}  // namespace

void cross_entropy_rows(float* loss, float* prob, double* totals, const float* logits, const int64_t* target,
                        const float* weight, int64_t rows, int64_t C, int64_t ignore_index, float eps, float wsum) {
  const RowShape rs = row_shape(C);
  const float se = eps / static_cast<float>(C);
  double tl = 0.0, tw = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * C;
    float m, ls, zw = 0.0f;
    row_softmax(rs, prob + r * C, z, weight, &m, &ls, eps != 0.0f ? &zw : nullptr);
    const int64_t t = target[r];
    if (t == ignore_index) {
      if (loss) loss[r] = 0.0f;
      continue;
    }
    const float wt = weight ? weight[t] : 1.0f;
    float l = -(1.0f - eps) * wt * ((z[t] - m) - ls);
    if (eps != 0.0f) l -= se * (zw - wsum * ls);
    if (loss) loss[r] = l;
    tl += l;
    tw += wt;
  }
  totals[0] += tl;
  totals[1] += tw;
}

void cross_entropy_backward_rows(float* dlogits, const float* g, int64_t g_stride, float scale, const float* prob,
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

void cross_entropy_prob_rows(float* loss, float* prob, double* totals, const float* logits, const float* target,
                             const float* weight, int64_t rows, int64_t C, float eps) {
  const RowShape rs = row_shape(C);
  const int64_t C8 = rs.C8;
  const __m256 keep = _mm256_set1_ps(1.0f - eps), se = _mm256_set1_ps(eps / static_cast<float>(C));
  double tl = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * C;
    const float* q = target + r * C;
    float m, ls;
    row_softmax(rs, prob + r * C, z, nullptr, &m, &ls, nullptr);
    const __m256 off = _mm256_set1_ps(m), lsv = _mm256_set1_ps(ls);
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

void cross_entropy_prob_backward_rows(float* dlogits, const float* g, int64_t g_stride, float scale,
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

}  // namespace avx2
}  // namespace fastdl
