// Batch normalisation over per-channel statistics, optionally fused with a following ReLU.
// Matches torch.nn.functional.batch_norm (BatchNorm1d / BatchNorm2d), and
// relu(batch_norm(...)) when `relu` is true.
//
// Layout: x, y, dy, dx are contiguous (N, C, S) where S is the product of the trailing
// dimensions: S = H*W for (N, C, H, W), S = L for (N, C, L), S = 1 for (N, C).
// Per-channel vectors weight, bias, mean, rstd, running_mean, running_var: (C).
// weight == nullptr means gamma = 1 and bias == nullptr means beta = 0 (affine=False).
//
// Numerics (PyTorch's):
//   training: mean and biased variance over the M = N*S values of a channel, accumulated in
//             one pass in float64; rstd = 1/sqrt(var + eps);
//             running_mean = (1-momentum)*running_mean + momentum*mean,
//             running_var  = (1-momentum)*running_var  + momentum*var*M/(M-1)   (unbiased)
//             when running_mean/running_var are non-null. `momentum` is the exponential
//             averaging factor (the caller turns momentum=None into 1/num_batches_tracked).
//   eval:     mean = running_mean, rstd = 1/sqrt(running_var + eps).
//   y = (x - mean) * (gamma * rstd) + beta, then max(y, 0) when relu.
// Backward (derivation in docs/kernels/batchnorm.md), with dy_eff = dy * [y > 0] when relu
// (the mask is recomputed from x; nothing but mean and rstd is stored) or dy otherwise:
//   dbeta = sum dy_eff,  dgamma = sum dy_eff * (x - mean) * rstd,
//   training: dx = gamma*rstd * (dy_eff - dbeta/M - (x-mean)*rstd * dgamma/M)
//   eval:     dx = gamma*rstd * dy_eff
// Both forward and backward compute the mask from the same float32 expression, so it is
// bit-identical to the forward's. Statistics per channel are computed by one thread each
// (bitwise reproducible across thread counts) except for small S (< 16), where rows are
// split across threads and per-thread partial sums are merged in thread order.
#pragma once
#include <cstdint>

#include "fastdl/pool.h"

namespace fastdl {

// Training-mode forward. Writes y (N, C, S), save_mean (C) and save_rstd (C) (the batch
// statistics, for backward); updates running_mean/running_var in place when non-null.
// Requires N*S > 1 (the binding raises otherwise) or N == 0: an empty batch leaves the
// running statistics untouched (as PyTorch) and writes save_mean = 0, save_rstd = 0.
void batch_norm_forward_train(float* y, float* save_mean, float* save_rstd, float* running_mean,
                              float* running_var, const float* x, const float* weight,
                              const float* bias, int64_t N, int64_t C, int64_t S, float eps,
                              float momentum, bool relu);

// Eval-mode forward with the running statistics. Writes y (N, C, S), and save_mean (C) /
// save_rstd (C) = running_mean, 1/sqrt(running_var + eps) for backward.
void batch_norm_forward_eval(float* y, float* save_mean, float* save_rstd, const float* x,
                             const float* weight, const float* bias, const float* running_mean,
                             const float* running_var, int64_t N, int64_t C, int64_t S, float eps,
                             bool relu);

// Backward. Overwrites dx (N, C, S) and, when non-null, dweight (C) and dbias (C).
// `training` selects the batch-statistics formula (mean/rstd from the training forward) or
// the eval formula (mean/rstd from the eval forward). bias is read only when relu.
void batch_norm_backward(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                         const float* weight, const float* bias, const float* mean,
                         const float* rstd, int64_t N, int64_t C, int64_t S, bool training,
                         bool relu);

// The residual join of ResNet, relu(batch_norm(x) + residual), in one pass (torch:
// relu(bn(x) + residual)). residual: (N, C, S) like x. Writes y (N, C, S), save_mean/save_rstd
// (C) as the forward above (training or eval), and the ReLU mask as a bitmask of
// batch_norm_mask_bytes(N, C, S) bytes: one bit per element, set where NOT (bn(x) + r <= 0)
// (relu_backward's rule), each run of values (a channel row, or a batch row when S is small)
// starting on a byte. y may alias residual.
int64_t batch_norm_mask_bytes(int64_t N, int64_t C, int64_t S);
void batch_norm_add_relu_forward(float* y, uint8_t* mask, float* save_mean, float* save_rstd, float* running_mean,
                                 float* running_var, const float* x, const float* residual, const float* weight,
                                 const float* bias, int64_t N, int64_t C, int64_t S, float eps, float momentum,
                                 bool training);
// Backward of the join: dresidual = dy where the mask is set, else 0 (N, C, S); then dx, dweight,
// dbias as batch_norm_backward (relu=false) of dresidual -- bitwise the unfused chain's numbers.
void batch_norm_add_relu_backward(float* dx, float* dweight, float* dbias, float* dresidual, const float* dy,
                                  const uint8_t* mask, const float* x, const float* weight, const float* mean,
                                  const float* rstd, int64_t N, int64_t C, int64_t S, bool training);

// sigmoid(batch_norm(x)) (torch: sigmoid(bn(x))), bitwise the two layers one after the other:
// the forward applies sigmoid to each run while it is in cache (training or eval, as the
// forwards above); the backward takes the forward's output y, forms dy * y * (1 - y) in dx a
// row at a time (summed while in cache) and finishes as batch_norm_backward (relu=false).
// dx must not alias dy, y or x.
void batch_norm_sigmoid_forward(float* y, float* save_mean, float* save_rstd, float* running_mean, float* running_var,
                                const float* x, const float* weight, const float* bias, int64_t N, int64_t C,
                                int64_t S, float eps, float momentum, bool training);
void batch_norm_sigmoid_backward(float* dx, float* dweight, float* dbias, const float* dy, const float* y,
                                 const float* x, const float* weight, const float* bias, const float* mean,
                                 const float* rstd, int64_t N, int64_t C, int64_t S, bool training);

// avg_pool2d(sigmoid(batch_norm(x))) (LeNet-BN's BatchNorm2d -> Sigmoid -> AvgPool2d), bitwise
// the three layers one after the other: x (N, C, H, W) with H, W = pp.H, pp.W (pp.NC = N * C);
// y (N, C, H, W) = sigmoid(batch_norm(x)), kept for the backward; y_pool (N, C, P, Q). In
// training each (n, c) plane is pooled right after its sigmoid (while in cache). The backward
// forms each plane of dy from dy_pool (avg_pool2d_backward) in dx and continues as
// batch_norm_sigmoid_backward. dx must not alias dy_pool, y or x.
void batch_norm_sigmoid_avg_pool2d_forward(float* y_pool, float* y, float* save_mean, float* save_rstd,
                                           float* running_mean, float* running_var, const float* x,
                                           const float* weight, const float* bias, int64_t N, int64_t C,
                                           const Pool2dParams& pp, bool count_include_pad, int64_t divisor_override,
                                           float eps, float momentum, bool training);
void batch_norm_sigmoid_avg_pool2d_backward(float* dx, float* dweight, float* dbias, const float* dy_pool,
                                            const float* y, const float* x, const float* weight, const float* bias,
                                            const float* mean, const float* rstd, int64_t N, int64_t C,
                                            const Pool2dParams& pp, bool count_include_pad, int64_t divisor_override,
                                            bool training);

}  // namespace fastdl
