// Losses: dispatch (threads + ISA), the generic fused cross-entropy and bce-with-logits, and
// the portable (memory-bound, compiler-vectorised) nll / mse / l1 kernels.
#include "fastdl/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "fastdl/cpu.h"
#include "fastdl/parallel.h"

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

void cross_entropy_rows(float* loss, float* prob, double* totals, const float* logits, const int64_t* target,
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

void cross_entropy_backward_rows(float* dlogits, const float* g, int64_t g_stride, float scale, const float* prob,
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

void cross_entropy_prob_rows(float* loss, float* prob, double* totals, const float* logits, const float* target,
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

void cross_entropy_prob_backward_rows(float* dlogits, const float* g, int64_t g_stride, float scale,
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

namespace {

// Deterministic parallel reduction: the range [0, n) is cut into a fixed number of chunks
// (from the thread count), each chunk accumulates its own `ntot` partial totals, and the
// partials are added in chunk order.
template <class F>
void reduce_range(int64_t n, int64_t grain, double* totals, int ntot, F f) {
  for (int k = 0; k < ntot; ++k) totals[k] = 0.0;
  if (n <= 0) return;
  const int64_t nc = parallel_plan(0, n, grain).chunks;
  if (nc <= 1) {
    f(0, n, totals);
    return;
  }
  std::vector<double> part(static_cast<size_t>(nc * ntot), 0.0);
  parallel_for(0, nc, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) f(n * c / nc, n * (c + 1) / nc, part.data() + c * ntot);
  });
  for (int64_t c = 0; c < nc; ++c)
    for (int k = 0; k < ntot; ++k) totals[k] += part[c * ntot + k];
}

float weight_sum(const float* weight, int64_t C) {
  if (!weight) return static_cast<float>(C);
  float s = 0.0f;
  for (int64_t c = 0; c < C; ++c) s += weight[c];
  return s;
}

inline int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)); }

}  // namespace

void cross_entropy_forward(float* loss, float* prob, double* totals, const float* logits, const int64_t* target,
                           const float* weight, int64_t N, int64_t C, int64_t ignore_index, float label_smoothing) {
  const float wsum = weight_sum(weight, C);
  [[maybe_unused]] const bool v = use_avx2();
  reduce_range(N, row_grain(C), totals, 2, [&](int64_t lo, int64_t hi, double* tot) {
    float* l = loss ? loss + lo : nullptr;
#ifdef FASTDL_HAVE_AVX2
    if (v)
      return avx2::cross_entropy_rows(l, prob + lo * C, tot, logits + lo * C, target + lo, weight, hi - lo, C,
                                      ignore_index, label_smoothing, wsum);
#endif
    generic::cross_entropy_rows(l, prob + lo * C, tot, logits + lo * C, target + lo, weight, hi - lo, C,
                                ignore_index, label_smoothing, wsum);
  });
}

void cross_entropy_backward(float* dlogits, const float* dloss, int64_t dloss_stride, float scale, const float* prob,
                            const int64_t* target, const float* weight, int64_t N, int64_t C, int64_t ignore_index,
                            float label_smoothing) {
  const float wsum = weight_sum(weight, C);
  [[maybe_unused]] const bool v = use_avx2();
  parallel_for(0, N, row_grain(C) * 2, [&](int64_t lo, int64_t hi) {
#ifdef FASTDL_HAVE_AVX2
    if (v)
      return avx2::cross_entropy_backward_rows(dlogits + lo * C, dloss + lo * dloss_stride, dloss_stride, scale,
                                               prob + lo * C, target + lo, weight, hi - lo, C, ignore_index,
                                               label_smoothing, wsum);
#endif
    generic::cross_entropy_backward_rows(dlogits + lo * C, dloss + lo * dloss_stride, dloss_stride, scale,
                                         prob + lo * C, target + lo, weight, hi - lo, C, ignore_index,
                                         label_smoothing, wsum);
  });
}

void cross_entropy_prob_forward(float* loss, float* prob, double* totals, const float* logits, const float* target,
                                const float* weight, int64_t N, int64_t C, float label_smoothing) {
  [[maybe_unused]] const bool v = use_avx2();
  reduce_range(N, row_grain(C), totals, 1, [&](int64_t lo, int64_t hi, double* tot) {
    float* l = loss ? loss + lo : nullptr;
#ifdef FASTDL_HAVE_AVX2
    if (v)
      return avx2::cross_entropy_prob_rows(l, prob + lo * C, tot, logits + lo * C, target + lo * C, weight, hi - lo,
                                           C, label_smoothing);
#endif
    generic::cross_entropy_prob_rows(l, prob + lo * C, tot, logits + lo * C, target + lo * C, weight, hi - lo, C,
                                     label_smoothing);
  });
}

void cross_entropy_prob_backward(float* dlogits, const float* dloss, int64_t dloss_stride, float scale,
                                 const float* prob, const float* target, const float* weight, int64_t N, int64_t C,
                                 float label_smoothing) {
  [[maybe_unused]] const bool v = use_avx2();
  parallel_for(0, N, row_grain(C) * 2, [&](int64_t lo, int64_t hi) {
#ifdef FASTDL_HAVE_AVX2
    if (v)
      return avx2::cross_entropy_prob_backward_rows(dlogits + lo * C, dloss + lo * dloss_stride, dloss_stride, scale,
                                                    prob + lo * C, target + lo * C, weight, hi - lo, C,
                                                    label_smoothing);
#endif
    generic::cross_entropy_prob_backward_rows(dlogits + lo * C, dloss + lo * dloss_stride, dloss_stride, scale,
                                              prob + lo * C, target + lo * C, weight, hi - lo, C, label_smoothing);
  });
}

// ---- nll_loss ------------------------------------------------------------------------------

void nll_loss_forward(float* loss, double* totals, const float* logp, const int64_t* target, const float* weight,
                      int64_t N, int64_t C, int64_t ignore_index) {
  reduce_range(N, 1 << 15, totals, 2, [&](int64_t lo, int64_t hi, double* tot) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t t = target[i];
      if (t == ignore_index) {
        if (loss) loss[i] = 0.0f;
        continue;
      }
      const float wt = weight ? weight[t] : 1.0f;
      const float l = -wt * logp[i * C + t];
      if (loss) loss[i] = l;
      tot[0] += l;
      tot[1] += wt;
    }
  });
}

void nll_loss_backward(float* dlogp, const float* dloss, int64_t dloss_stride, float scale, const int64_t* target,
                       const float* weight, int64_t N, int64_t C, int64_t ignore_index) {
  parallel_for(0, N, std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)), [&](int64_t lo, int64_t hi) {
    std::fill(dlogp + lo * C, dlogp + hi * C, 0.0f);
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t t = target[i];
      if (t == ignore_index) continue;
      dlogp[i * C + t] = -(weight ? weight[t] : 1.0f) * dloss[i * dloss_stride] * scale;
    }
  });
}

// ---- elementwise losses --------------------------------------------------------------------

namespace {

constexpr int64_t kElemGrain = 1 << 15;

// Sum of f(i) over [lo, hi) in double, blocked so the inner float loop vectorises.
template <class F>
double blocked_sum(int64_t lo, int64_t hi, float* loss, F f) {
  double total = 0.0;
  for (int64_t b = lo; b < hi; b += 256) {
    const int64_t e = std::min(hi, b + 256);
    float s = 0.0f;
    for (int64_t i = b; i < e; ++i) {
      const float l = f(i);
      if (loss) loss[i] = l;
      s += l;
    }
    total += s;
  }
  return total;
}

template <class F>
void elementwise_backward(float* dinput, float* dtarget, const float* dloss, int64_t stride, float scale, int64_t n,
                          F f) {
  parallel_for(0, n, kElemGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float d = f(i) * (dloss[i * stride] * scale);
      if (dinput) dinput[i] = d;
      if (dtarget) dtarget[i] = -d;
    }
  });
}

}  // namespace

void mse_loss_forward(float* loss, double* totals, const float* x, const float* y, int64_t n) {
  reduce_range(n, kElemGrain, totals, 1, [&](int64_t lo, int64_t hi, double* tot) {
    tot[0] += blocked_sum(lo, hi, loss, [&](int64_t i) {
      const float d = x[i] - y[i];
      return d * d;
    });
  });
}

void l1_loss_forward(float* loss, double* totals, const float* x, const float* y, int64_t n) {
  reduce_range(n, kElemGrain, totals, 1, [&](int64_t lo, int64_t hi, double* tot) {
    tot[0] += blocked_sum(lo, hi, loss, [&](int64_t i) { return std::fabs(x[i] - y[i]); });
  });
}

void mse_loss_backward(float* dinput, float* dtarget, const float* dloss, int64_t stride, float scale, const float* x,
                       const float* y, int64_t n) {
  elementwise_backward(dinput, dtarget, dloss, stride, scale, n, [&](int64_t i) { return 2.0f * (x[i] - y[i]); });
}

void l1_loss_backward(float* dinput, float* dtarget, const float* dloss, int64_t stride, float scale, const float* x,
                      const float* y, int64_t n) {
  elementwise_backward(dinput, dtarget, dloss, stride, scale, n, [&](int64_t i) {
    const float d = x[i] - y[i];
    return d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : (d == 0.0f ? 0.0f : d));  // sign, NaN -> NaN
  });
}

namespace generic {

void bce_with_logits_chunk(float* loss, double* totals, const float* x, const float* y, const float* w,
                           const float* pw, int64_t n) {
  totals[0] += blocked_sum(0, n, loss, [&](int64_t i) {
    const float xi = x[i], yi = y[i];
    const float sp = std::log1p(std::exp(-std::fabs(xi))) + std::max(-xi, 0.0f);  // softplus(-x)
    const float lw = pw ? 1.0f + (pw[i] - 1.0f) * yi : 1.0f;
    const float l = (1.0f - yi) * xi + lw * sp;
    return w ? w[i] * l : l;
  });
}

void bce_with_logits_backward_chunk(float* dinput, float* dtarget, const float* dloss, int64_t stride, float scale,
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

void bce_with_logits_forward(float* loss, double* totals, const float* x, const float* y, const float* w,
                             const float* pw, int64_t n) {
  [[maybe_unused]] const bool v = use_avx2();
  reduce_range(n, kElemGrain / 8, totals, 1, [&](int64_t lo, int64_t hi, double* tot) {
    float* l = loss ? loss + lo : nullptr;
    const float* wl = w ? w + lo : nullptr;
    const float* pl = pw ? pw + lo : nullptr;
#ifdef FASTDL_HAVE_AVX2
    if (v) return avx2::bce_with_logits_chunk(l, tot, x + lo, y + lo, wl, pl, hi - lo);
#endif
    generic::bce_with_logits_chunk(l, tot, x + lo, y + lo, wl, pl, hi - lo);
  });
}

void bce_with_logits_backward(float* dinput, float* dtarget, const float* dloss, int64_t stride, float scale,
                              const float* x, const float* y, const float* w, const float* pw, int64_t n) {
  [[maybe_unused]] const bool v = use_avx2();
  parallel_for(0, n, kElemGrain / 8, [&](int64_t lo, int64_t hi) {
    float* di = dinput ? dinput + lo : nullptr;
    float* dt = dtarget ? dtarget + lo : nullptr;
    const float* wl = w ? w + lo : nullptr;
    const float* pl = pw ? pw + lo : nullptr;
#ifdef FASTDL_HAVE_AVX2
    if (v) return avx2::bce_with_logits_backward_chunk(di, dt, dloss + lo * stride, stride, scale, x + lo, y + lo, wl, pl, hi - lo);
#endif
    generic::bce_with_logits_backward_chunk(di, dt, dloss + lo * stride, stride, scale, x + lo, y + lo, wl, pl, hi - lo);
  });
}

}  // namespace fastdl
