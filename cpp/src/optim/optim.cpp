// Fused optimizer updates: checks, coefficient rounding, dispatch (kernel table read once per
// call) and threading. The per-ISA kernels: optim_generic.cpp / optim_avx2.cpp (optim_kernels.h).
#include "fastdl/optim.h"

#include <cmath>
#include <string>

#include "../core/dispatch.h"
#include "fastdl/common.h"
#include "fastdl/parallel.h"
#include "optim_kernels.h"

namespace fastdl {

namespace {
// Elements per parallel chunk: below 2 * grain the update stays on the calling thread
// (a few tens of microseconds of memory traffic).
constexpr int64_t kSgdGrain = 32768;
constexpr int64_t kAdamGrain = 16384;
}  // namespace

const OptimKernels& optim_kernels(Isa isa) {
  return select_kernels<OptimKernels>(isa, &generic::optim_kernels, FASTDL_AVX2_TABLE(avx2::optim_kernels), nullptr);
}

SgdCoeffs sgd_coeffs(double lr, double momentum, double dampening, double weight_decay, bool nesterov, bool maximize,
                     bool init_buffer) {
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
  return c;
}

AdamCoeffs adam_coeffs(int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay,
                       bool decoupled_weight_decay, bool maximize, bool amsgrad) {
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
  c.amsgrad = amsgrad;
  return c;
}

void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool maximize, bool init_buffer) {
  FASTDL_CHECK(n >= 0, "sgd_update: n must be >= 0");
  FASTDL_CHECK((momentum != 0.0) == (momentum_buf != nullptr),
               "sgd_update: a momentum buffer is needed exactly when momentum != 0");
  FASTDL_CHECK(!nesterov || (momentum > 0.0 && dampening == 0.0),
               "sgd_update: Nesterov momentum requires a momentum and zero dampening");
  const SgdCoeffs c = sgd_coeffs(lr, momentum, dampening, weight_decay, nesterov, maximize, init_buffer);
  const auto& k = optim_kernels(active_isa());
  parallel_for(0, n, kSgdGrain, [&](int64_t lo, int64_t hi) {
    float* b = momentum_buf ? momentum_buf + lo : nullptr;
    k.sgd_update(param + lo, b, grad + lo, hi - lo, c);
  });
}

void adam_update(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 const float* grad, int64_t n, int64_t step, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool decoupled_weight_decay,
                 bool maximize) {
  FASTDL_CHECK(n >= 0, "adam_update: n must be >= 0");
  FASTDL_CHECK(step >= 1, "adam_update: step must be >= 1 (the count after this update), got " +
                              std::to_string(step));
  const AdamCoeffs c = adam_coeffs(step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize,
                                     max_exp_avg_sq != nullptr);
  const auto& k = optim_kernels(active_isa());
  parallel_for(0, n, kAdamGrain, [&](int64_t lo, int64_t hi) {
    float* vmax = max_exp_avg_sq ? max_exp_avg_sq + lo : nullptr;
    k.adam_update(param + lo, exp_avg + lo, exp_avg_sq + lo, vmax, grad + lo, hi - lo, c);
  });
}

}  // namespace fastdl
