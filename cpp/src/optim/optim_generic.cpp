// Fused optimizer updates: the portable generic path and its kernel table. It uses std::fma
// wherever PyTorch's vectorised CPU kernels fuse (add with alpha, lerp, addcmul), so both ISA
// paths give bit-identical results.
#include <cmath>

#include "optim_kernels.h"

namespace fastdl {
namespace generic {
namespace {

// torch.maximum: NaN in either operand propagates.
inline float nan_max(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return a + b;
  return a > b ? a : b;
}

}  // namespace

static void sgd_update(float* p, float* buf, const float* grad, int64_t n, const SgdCoeffs& c) {
  for (int64_t i = 0; i < n; ++i) {
    float g = c.maximize ? -grad[i] : grad[i];
    if (c.has_weight_decay) g = std::fma(p[i], c.weight_decay, g);
    if (c.has_momentum) {
      const float b = c.init_buffer ? g : std::fma(g, c.one_minus_damp, buf[i] * c.momentum);
      buf[i] = b;
      g = c.nesterov ? std::fma(b, c.momentum, g) : b;
    }
    p[i] = std::fma(g, c.neg_lr, p[i]);
  }
}

static void adam_update(float* p, float* m, float* v, float* vmax, const float* grad, int64_t n,
                 const AdamCoeffs& c) {
  const bool small_w = std::fabs(c.lerp_w) < 0.5f;  // at::lerp's branch for better numerics
  const float w_minus_1 = c.lerp_w - 1.0f;
  for (int64_t i = 0; i < n; ++i) {
    float g = c.maximize ? -grad[i] : grad[i];
    float pi = p[i];
    if (c.decoupled) pi = pi * c.decay;
    if (c.l2) g = std::fma(pi, c.weight_decay, g);
    const float mi0 = m[i];
    const float diff = g - mi0;
    const float mi = small_w ? std::fma(c.lerp_w, diff, mi0) : std::fma(w_minus_1, diff, g);
    m[i] = mi;
    float vi = std::fma(c.one_minus_beta2 * g, g, v[i] * c.beta2);
    v[i] = vi;
    if (c.amsgrad) {
      vi = nan_max(vmax[i], vi);
      vmax[i] = vi;
    }
    const float denom = std::sqrt(vi) / c.bc2_sqrt + c.eps;
    p[i] = pi + (c.neg_step_size * mi) / denom;
  }
}


const OptimKernels& optim_kernels() {
  static const OptimKernels k{&sgd_update, &adam_update};
  return k;
}

}  // namespace generic
}  // namespace fastdl
