// Losses: dispatch (kernel table read once per call), deterministic threaded reductions, and
// the portable (memory-bound, compiler-vectorised) nll / mse / l1 kernels. The per-ISA fused
// cross-entropy and bce-with-logits kernels: loss_generic.cpp / loss_avx2.cpp (loss_kernels.h).
#include "fastdl/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/dispatch.h"
#include "fastdl/parallel.h"
#include "loss_kernels.h"

namespace fastdl {

const LossKernels& loss_kernels(Isa isa) {
  return select_kernels<LossKernels>(isa, &generic::loss_kernels, FASTDL_AVX2_TABLE(avx2::loss_kernels), nullptr);
}

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
  const auto& k = loss_kernels(active_isa());
  reduce_range(N, row_grain(C), totals, 2, [&](int64_t lo, int64_t hi, double* tot) {
    float* l = loss ? loss + lo : nullptr;
    k.cross_entropy_rows(l, prob + lo * C, tot, logits + lo * C, target + lo, weight, hi - lo, C,
                                ignore_index, label_smoothing, wsum);
  });
}

void cross_entropy_backward(float* dlogits, const float* dloss, int64_t dloss_stride, float scale, const float* prob,
                            const int64_t* target, const float* weight, int64_t N, int64_t C, int64_t ignore_index,
                            float label_smoothing) {
  const float wsum = weight_sum(weight, C);
  const auto& k = loss_kernels(active_isa());
  parallel_for(0, N, row_grain(C) * 2, [&](int64_t lo, int64_t hi) {
    k.cross_entropy_backward_rows(dlogits + lo * C, dloss + lo * dloss_stride, dloss_stride, scale,
                                         prob + lo * C, target + lo, weight, hi - lo, C, ignore_index,
                                         label_smoothing, wsum);
  });
}

void cross_entropy_prob_forward(float* loss, float* prob, double* totals, const float* logits, const float* target,
                                const float* weight, int64_t N, int64_t C, float label_smoothing) {
  const auto& k = loss_kernels(active_isa());
  reduce_range(N, row_grain(C), totals, 1, [&](int64_t lo, int64_t hi, double* tot) {
    float* l = loss ? loss + lo : nullptr;
    k.cross_entropy_prob_rows(l, prob + lo * C, tot, logits + lo * C, target + lo * C, weight, hi - lo, C,
                                     label_smoothing);
  });
}

void cross_entropy_prob_backward(float* dlogits, const float* dloss, int64_t dloss_stride, float scale,
                                 const float* prob, const float* target, const float* weight, int64_t N, int64_t C,
                                 float label_smoothing) {
  const auto& k = loss_kernels(active_isa());
  parallel_for(0, N, row_grain(C) * 2, [&](int64_t lo, int64_t hi) {
    k.cross_entropy_prob_backward_rows(dlogits + lo * C, dloss + lo * dloss_stride, dloss_stride, scale,
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


void bce_with_logits_forward(float* loss, double* totals, const float* x, const float* y, const float* w,
                             const float* pw, int64_t n) {
  const auto& k = loss_kernels(active_isa());
  reduce_range(n, kElemGrain / 8, totals, 1, [&](int64_t lo, int64_t hi, double* tot) {
    float* l = loss ? loss + lo : nullptr;
    const float* wl = w ? w + lo : nullptr;
    const float* pl = pw ? pw + lo : nullptr;
    k.bce_with_logits_chunk(l, tot, x + lo, y + lo, wl, pl, hi - lo);
  });
}

void bce_with_logits_backward(float* dinput, float* dtarget, const float* dloss, int64_t stride, float scale,
                              const float* x, const float* y, const float* w, const float* pw, int64_t n) {
  const auto& k = loss_kernels(active_isa());
  parallel_for(0, n, kElemGrain / 8, [&](int64_t lo, int64_t hi) {
    float* di = dinput ? dinput + lo : nullptr;
    float* dt = dtarget ? dtarget + lo : nullptr;
    const float* wl = w ? w + lo : nullptr;
    const float* pl = pw ? pw + lo : nullptr;
    k.bce_with_logits_backward_chunk(di, dt, dloss + lo * stride, stride, scale, x + lo, y + lo, wl, pl, hi - lo);
  });
}

}  // namespace fastdl
