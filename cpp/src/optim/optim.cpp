// Fused optimizer updates: dispatch, coefficient rounding and the portable generic path.
// The generic path uses std::fma wherever PyTorch's vectorised CPU kernels fuse (add with
// alpha, lerp, addcmul), so both ISA paths give bit-identical results.
#include "fastdl/optim.h"

#include <cmath>

#include "fastdl/common.h"
#include "fastdl/cpu.h"
#include "fastdl/parallel.h"

namespace fastdl {

namespace {
// Elements per parallel chunk: below 2 * grain the update stays on the calling thread
// (a few tens of microseconds of memory traffic).
constexpr int64_t kSgdGrain = 32768;
constexpr int64_t kAdamGrain = 16384;

// torch.maximum: NaN in either operand propagates.
inline float nan_max(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return a + b;
  return a > b ? a : b;
}
}  // namespace

namespace generic {

void sgd_update(float* p, float* buf, const float* grad, int64_t n, const SgdCoeffs& c) {
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

void adam_update(float* p, float* m, float* v, float* vmax, const float* grad, int64_t n,
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

}  // namespace generic

void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool maximize, bool init_buffer) {
  FASTDL_CHECK(n >= 0, "sgd_update: n must be >= 0");
  FASTDL_CHECK((momentum != 0.0) == (momentum_buf != nullptr),
               "sgd_update: a momentum buffer is needed exactly when momentum != 0");
  FASTDL_CHECK(!nesterov || (momentum > 0.0 && dampening == 0.0),
               "sgd_update: Nesterov momentum requires a momentum and zero dampening");
  SgdCoeffs c;
  c.neg_lr = static_cast<float>(-lr);
  c.momentum = static_cast<float>(momentum);
  c.one_minus_damp = static_cast<float>(1.0 - dampening);
  c.weight_decay = static_cast<float>(weight_decay);
  c.has_weight_decay = weight_decay != 0.0;
  c.has_momentum = momentum != 0.0;
  c.nesterov = nesterov;
  c.maximize = maximize;
  c.init_buffer = init_buffer;
  parallel_for(0, n, kSgdGrain, [&](int64_t lo, int64_t hi) {
    float* b = momentum_buf ? momentum_buf + lo : nullptr;
#ifdef FASTDL_HAVE_AVX2
    if (use_avx2()) {
      avx2::sgd_update(param + lo, b, grad + lo, hi - lo, c);
      return;
    }
#endif
    generic::sgd_update(param + lo, b, grad + lo, hi - lo, c);
  });
}

void adam_update(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 const float* grad, int64_t n, int64_t step, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool decoupled_weight_decay,
                 bool maximize) {
  FASTDL_CHECK(n >= 0, "adam_update: n must be >= 0");
  FASTDL_CHECK(step >= 1, "adam_update: step must be >= 1 (the count after this update), got " +
                              std::to_string(step));
  // The scalar math of torch.optim.adam._single_tensor_adam, in double like Python.
  const double s = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(beta1, s);
  const double bias_correction2 = 1.0 - std::pow(beta2, s);
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::pow(bias_correction2, 0.5);
  AdamCoeffs c;
  c.decoupled = decoupled_weight_decay && weight_decay != 0.0;
  c.l2 = !decoupled_weight_decay && weight_decay != 0.0;
  c.decay = static_cast<float>(1.0 - lr * weight_decay);
  c.weight_decay = static_cast<float>(weight_decay);
  c.lerp_w = static_cast<float>(1.0 - beta1);
  c.beta2 = static_cast<float>(beta2);
  c.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  c.bc2_sqrt = static_cast<float>(bias_correction2_sqrt);
  c.eps = static_cast<float>(eps);
  c.neg_step_size = static_cast<float>(-step_size);
  c.maximize = maximize;
  c.amsgrad = max_exp_avg_sq != nullptr;
  parallel_for(0, n, kAdamGrain, [&](int64_t lo, int64_t hi) {
    float* vmax = max_exp_avg_sq ? max_exp_avg_sq + lo : nullptr;
#ifdef FASTDL_HAVE_AVX2
    if (use_avx2()) {
      avx2::adam_update(param + lo, exp_avg + lo, exp_avg_sq + lo, vmax, grad + lo, hi - lo, c);
      return;
    }
#endif
    generic::adam_update(param + lo, exp_avg + lo, exp_avg_sq + lo, vmax, grad + lo, hi - lo, c);
  });
}

}  // namespace fastdl
