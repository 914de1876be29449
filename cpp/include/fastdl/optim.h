// Fused, in-place optimizer updates: one pass over param, grad and the optimizer state.
//
// Every array is float32, contiguous, n elements; they must not overlap each other (grad may
// not alias an in-place buffer). The hyper-parameters arrive as doubles (Python floats) and
// are rounded to float32 exactly where PyTorch's single-tensor (foreach=False) CPU path rounds
// them, and each element is computed with the same operations in the same order (including
// which steps are fused multiply-adds), so results agree with torch.optim to ~1 ulp.
#pragma once
#include <cstdint>

namespace fastdl {

// torch.optim.SGD, one parameter tensor:
//   g = maximize ? -grad : grad
//   if weight_decay != 0: g = g + weight_decay * param
//   if momentum != 0:
//       buf = g                                            (init_buffer: the first step)
//       buf = momentum * buf + (1 - dampening) * g         (later steps)
//       g = nesterov ? g + momentum * buf : buf
//   param = param - lr * g
// momentum_buf is nullptr exactly when momentum == 0. When init_buffer, momentum_buf is only
// written (its previous contents are never read).
void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool maximize, bool init_buffer);

// torch.optim.Adam / AdamW, one parameter tensor; `step` is the step count after this update
// (>= 1):
//   g = maximize ? -grad : grad
//   if weight_decay != 0: decoupled (AdamW) ? param *= 1 - lr * weight_decay
//                                           : g = g + weight_decay * param      (Adam, L2)
//   exp_avg    = lerp(exp_avg, g, 1 - beta1)            (= beta1 * m + (1 - beta1) * g)
//   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
//   if amsgrad: max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq); v = max_exp_avg_sq
//   else:       v = exp_avg_sq
//   denom = sqrt(v) / sqrt(1 - beta2^step) + eps
//   param = param - (lr / (1 - beta1^step)) * exp_avg / denom
// max_exp_avg_sq is nullptr exactly when amsgrad is off.
void adam_update(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 const float* grad, int64_t n, int64_t step, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool decoupled_weight_decay,
                 bool maximize);

}  // namespace fastdl
