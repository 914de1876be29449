// Internal: the per-ISA kernel table of the optimizer family (see core/dispatch.h). Entries
// are serial on one contiguous chunk of n elements; optim.cpp rounds the hyper-parameters into
// the coefficient structs once per call and splits the range over threads. Update formulas:
// fastdl/optim.h. No AVX-512 variant: the avx512 level runs the AVX2 table.
#pragma once
#include <cstdint>

#include "fastdl/cpu.h"

namespace fastdl {

// Per-element coefficients, rounded to float32 once per call (internal to the ISA variants).
struct SgdCoeffs {
  float neg_lr;              // -lr
  float momentum;            // momentum
  float one_minus_damp;      // 1 - dampening
  float weight_decay;        // weight_decay
  bool has_weight_decay;     // weight_decay != 0
  bool has_momentum;         // momentum != 0
  bool nesterov, maximize, init_buffer;
};

struct AdamCoeffs {
  float decay;               // 1 - lr * weight_decay (decoupled only)
  float weight_decay;        // L2 coefficient (Adam only)
  float lerp_w;              // 1 - beta1
  float beta2;               // beta2
  float one_minus_beta2;     // 1 - beta2
  float bc2_sqrt;            // sqrt(1 - beta2^step)
  float eps;                 // eps
  float neg_step_size;       // -lr / (1 - beta1^step)
  bool decoupled, l2, maximize, amsgrad;
};

// The coefficients of one call, rounded exactly as fastdl/optim.h describes (optim.cpp).
SgdCoeffs sgd_coeffs(double lr, double momentum, double dampening, double weight_decay, bool nesterov, bool maximize,
                     bool init_buffer);
AdamCoeffs adam_coeffs(int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay,
                       bool decoupled_weight_decay, bool maximize, bool amsgrad);

struct OptimKernels {
  // momentum_buf is nullptr exactly when !c.has_momentum.
  void (*sgd_update)(float* param, float* momentum_buf, const float* grad, int64_t n, const SgdCoeffs& c);
  // max_exp_avg_sq is nullptr exactly when !c.amsgrad.
  void (*adam_update)(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq, const float* grad,
                      int64_t n, const AdamCoeffs& c);
};

namespace generic {
const OptimKernels& optim_kernels();  // optim_generic.cpp
}
namespace avx2 {
const OptimKernels& optim_kernels();  // optim_avx2.cpp
}
const OptimKernels& optim_kernels(Isa isa);  // optim.cpp

}  // namespace fastdl
