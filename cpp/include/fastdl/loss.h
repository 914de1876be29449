// Loss functions, forward and backward; match torch.nn.functional.
//
// Conventions. Forward kernels write the per-element losses into `loss` (may be nullptr when
// only the total is wanted) and accumulate totals in double (per-thread partials merged in
// thread order: bitwise reproducible for a given thread count). The binding divides by the
// 'mean' denominator. Backward kernels overwrite their outputs with
//   g_i * d(loss_i)/d(input),  g_i = dloss[i * dloss_stride] * scale
// so reduction 'none' passes dloss_stride = 1, scale = 1 and 'mean'/'sum' pass the scalar
// upstream gradient with dloss_stride = 0 and scale = 1/denominator or 1.
#pragma once
#include <cstdint>

namespace fastdl {

// ---- cross_entropy with class-index targets (fused log-softmax + nll) ------------------------
// logits, prob: (N, C) row-major (the binding moves the class dim last for (N, C, d1, ...));
// target: (N) int64, each in [0, C) or == ignore_index (checked by the caller);
// weight: (C) or nullptr. With eps = label_smoothing, logp = log_softmax(logits) and w = weight
// (1 when absent), torch's loss of a non-ignored row is
//   loss_i = -(1 - eps) * w[t] * logp[t] - (eps / C) * sum_c w[c] * logp[c]   (0 when ignored)
// Writes prob = softmax(logits) (kept for backward), loss (N) or nullptr,
// totals[0] = sum_i loss_i, totals[1] = sum over non-ignored rows of w[t] ('mean' divisor).
void cross_entropy_forward(float* loss, float* prob, double* totals, const float* logits,
                           const int64_t* target, const float* weight, int64_t N, int64_t C,
                           int64_t ignore_index, float label_smoothing);
// dlogits (N, C) = g_i * (prob * A_i - a_i), a_ic = (1-eps) w[t] [c == t] + (eps/C) w[c],
// A_i = sum_c a_ic; 0 for ignored rows.
void cross_entropy_backward(float* dlogits, const float* dloss, int64_t dloss_stride, float scale,
                            const float* prob, const int64_t* target, const float* weight, int64_t N,
                            int64_t C, int64_t ignore_index, float label_smoothing);

// ---- cross_entropy with class-probability targets ------------------------------------------
// target: (N, C) float; q = target * (1 - eps) + eps / C;
//   loss_i = -sum_c w[c] * q_ic * logp_ic;  totals[0] = sum_i loss_i ('mean' divides by N).
void cross_entropy_prob_forward(float* loss, float* prob, double* totals, const float* logits,
                                const float* target, const float* weight, int64_t N, int64_t C,
                                float label_smoothing);
// dlogits = g_i * (prob * sum_c w[c] q_ic - w * q_i)
void cross_entropy_prob_backward(float* dlogits, const float* dloss, int64_t dloss_stride, float scale,
                                 const float* prob, const float* target, const float* weight, int64_t N,
                                 int64_t C, float label_smoothing);

// ---- nll_loss on log-probabilities (torch.nn.functional.nll_loss) ------------------------------
// logp: (N, C); loss_i = -w[t_i] * logp[i, t_i] (0 when ignored); totals as cross_entropy.
void nll_loss_forward(float* loss, double* totals, const float* logp, const int64_t* target,
                      const float* weight, int64_t N, int64_t C, int64_t ignore_index);
// dlogp (N, C): -g_i * w[t_i] at (i, t_i), 0 elsewhere.
void nll_loss_backward(float* dlogp, const float* dloss, int64_t dloss_stride, float scale,
                       const int64_t* target, const float* weight, int64_t N, int64_t C,
                       int64_t ignore_index);

// ---- elementwise regression losses over n values ---------------------------------------------
// mse: loss_i = (x_i - y_i)^2;  l1: loss_i = |x_i - y_i|.  totals[0] = sum_i loss_i.
void mse_loss_forward(float* loss, double* totals, const float* input, const float* target, int64_t n);
void l1_loss_forward(float* loss, double* totals, const float* input, const float* target, int64_t n);
// dinput = g_i * 2 (x_i - y_i) (mse) or g_i * sign(x_i - y_i) (l1, 0 at 0); dtarget = -dinput.
// Either output may be nullptr.
void mse_loss_backward(float* dinput, float* dtarget, const float* dloss, int64_t dloss_stride, float scale,
                       const float* input, const float* target, int64_t n);
void l1_loss_backward(float* dinput, float* dtarget, const float* dloss, int64_t dloss_stride, float scale,
                      const float* input, const float* target, int64_t n);

// ---- binary_cross_entropy_with_logits ----------------------------------------------------------
// x, y: (n); weight, pos_weight: (n) already broadcast, or nullptr. With lw = 1 + (pw - 1) y,
//   loss_i = w_i * ((1 - y) x + lw * (log1p(exp(-|x|)) + max(-x, 0)))   (stable for any x)
void bce_with_logits_forward(float* loss, double* totals, const float* input, const float* target,
                             const float* weight, const float* pos_weight, int64_t n);
// dinput = g w ((1 - y) - lw * sigmoid(-x));  dtarget = g w (-x + (pw - 1) softplus(-x))
void bce_with_logits_backward(float* dinput, float* dtarget, const float* dloss, int64_t dloss_stride,
                              float scale, const float* input, const float* target, const float* weight,
                              const float* pos_weight, int64_t n);

}  // namespace fastdl
