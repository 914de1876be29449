// Losses: the portable generic fused cross-entropy (row blocks) and bce-with-logits (chunks),
// and their kernel table.
#include <algorithm>
#include <cmath>
#include <limits>

#include "loss_kernels.h"

namespace fastdl {
namespace generic {
namespace {

// Row softmax into p; returns m (row max) and log(sum exp(z - m)); *zw = sum_c w_c (z_c - m)
// when zw is non-null (w_c = 1 without weight).
inline void row_softmax(float* p, const float* z, int64_t C, const float* w, float* m_out, float* ls_out, float* zw) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < C; ++c) m = z[c] > m ? z[c] : m;
  double s = 0.0, a = 0.0;  // double: the scalar path sums C terms in one chain
  for (int64_t c = 0; c < C; ++c) {
    const float d = z[c] - m;
    const float e = std::exp(d);
    p[c] = e;
    s += e;
    a += w ? w[c] * d : d;
  }
  const float inv = static_cast<float>(1.0 / s);
  for (int64_t c = 0; c < C; ++c) p[c] *= inv;
  *m_out = m;
  *ls_out = static_cast<float>(std::log(s));
  if (zw) *zw = static_cast<float>(a);
}

}  // namespace

static void cross_entropy_rows(float* loss, float* prob, double* totals, const float* logits, const int64_t* target,
                        const float* weight, int64_t rows, int64_t C, int64_t ignore_index, float eps, float wsum) {
  const float se = eps / static_cast<float>(C);
  double tl = 0.0, tw = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * C;
    float m, ls, zw = 0.0f;
    row_softmax(prob + r * C, z, C, weight, &m, &ls, &zw);
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

static void cross_entropy_backward_rows(float* dlogits, const float* g, int64_t g_stride, float scale, const float* prob,
                                 const int64_t* target, const float* weight, int64_t rows, int64_t C,
                                 int64_t ignore_index, float eps, float wsum) {
  const float se = eps / static_cast<float>(C);
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dlogits + r * C;
    const float* p = prob + r * C;
    const int64_t t = target[r];
    if (t == ignore_index) {
      for (int64_t c = 0; c < C; ++c) d[c] = 0.0f;
      continue;
    }
    const float gi = g[r * g_stride] * scale;
    const float wt = weight ? weight[t] : 1.0f;
    const float gA = gi * ((1.0f - eps) * wt + se * wsum);
    const float gs = gi * se;
    if (weight)
      for (int64_t c = 0; c < C; ++c) d[c] = p[c] * gA - gs * weight[c];
    else
      for (int64_t c = 0; c < C; ++c) d[c] = p[c] * gA - gs;
    d[t] -= gi * (1.0f - eps) * wt;
  }
}

static void cross_entropy_prob_rows(float* loss, float* prob, double* totals, const float* logits, const float* target,
                             const float* weight, int64_t rows, int64_t C, float eps) {
  const float se = eps / static_cast<float>(C);
  double tl = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * C;
    const float* q = target + r * C;
    float m, ls;
    row_softmax(prob + r * C, z, C, nullptr, &m, &ls, nullptr);
    float l = 0.0f;
    for (int64_t c = 0; c < C; ++c) {
      const float qc = q[c] * (1.0f - eps) + se;
      l -= (weight ? weight[c] * qc : qc) * ((z[c] - m) - ls);
    }
    if (loss) loss[r] = l;
    tl += l;
  }
  totals[0] += tl;
}

static void cross_entropy_prob_backward_rows(float* dlogits, const float* g, int64_t g_stride, float scale,
                                      const float* prob, const float* target, const float* weight, int64_t rows,
                                      int64_t C, float eps) {
  const float se = eps / static_cast<float>(C);
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dlogits + r * C;
    const float* p = prob + r * C;
    const float* q = target + r * C;
    const float gi = g[r * g_stride] * scale;
    float Q = 0.0f;
    for (int64_t c = 0; c < C; ++c) Q += (weight ? weight[c] : 1.0f) * (q[c] * (1.0f - eps) + se);
    for (int64_t c = 0; c < C; ++c) d[c] = gi * (p[c] * Q - (weight ? weight[c] : 1.0f) * (q[c] * (1.0f - eps) + se));
  }
}

}  // namespace generic

namespace generic {

static void bce_with_logits_chunk(float* loss, double* totals, const float* x, const float* y, const float* w,
                           const float* pw, int64_t n) {
  totals[0] += blocked_sum(0, n, loss, [&](int64_t i) {
    const float xi = x[i], yi = y[i];
    const float sp = std::log1p(std::exp(-std::fabs(xi))) + std::max(-xi, 0.0f);  // softplus(-x)
    const float lw = pw ? 1.0f + (pw[i] - 1.0f) * yi : 1.0f;
    const float l = (1.0f - yi) * xi + lw * sp;
    return w ? w[i] * l : l;
  });
}

static void bce_with_logits_backward_chunk(float* dinput, float* dtarget, const float* dloss, int64_t stride, float scale,
                                    const float* x, const float* y, const float* w, const float* pw, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float xi = x[i], yi = y[i];
    const float g = dloss[i * stride] * scale * (w ? w[i] : 1.0f);
    const float e = std::exp(-std::fabs(xi));
    const float d = 1.0f / (1.0f + e);
    const float sig_neg = xi >= 0.0f ? e * d : d;  // sigmoid(-x)
    const float lw = pw ? 1.0f + (pw[i] - 1.0f) * yi : 1.0f;
    if (dinput) dinput[i] = g * ((1.0f - yi) - lw * sig_neg);
    if (dtarget) {
      const float sp = std::log1p(e) + std::max(-xi, 0.0f);
      dtarget[i] = g * (-xi + (pw ? (pw[i] - 1.0f) * sp : 0.0f));
    }
  }
}

}  // namespace generic

namespace generic {
const LossKernels& loss_kernels() {
  static const LossKernels k{&cross_entropy_rows, &cross_entropy_backward_rows, &cross_entropy_prob_rows,
                             &cross_entropy_prob_backward_rows, &bce_with_logits_chunk, &bce_with_logits_backward_chunk};
  return k;
}
}  // namespace generic

}  // namespace fastdl
