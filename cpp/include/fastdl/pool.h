// 2-D pooling on NCHW float32 tensors (contiguous), parallel over the N*C planes.
// Output sizes come from conv_out_size (conv.h), as in fastdl.nn.utils.conv_output_size.
//
// Layout: x, dx: (NC, H, W); y, dy, idx: (NC, P, Q); NC = N * C.
#pragma once
#include <cstdint>

#include "fastdl/activation.h"

namespace fastdl {

// One pooling window description. make_pool2d_params validates the arguments (kernel, stride,
// dilation >= 1, 0 <= padding <= kernel/2 as PyTorch requires, output size >= 1) and
// overflow-checks every buffer size; throws ArgumentError naming `op` and the shapes, or
// std::overflow_error.
struct Pool2dParams {
  int64_t NC, H, W, P, Q;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};
Pool2dParams make_pool2d_params(const char* op, int64_t NC, int64_t H, int64_t W, int64_t kh, int64_t kw,
                                int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                                bool ceil_mode);

// torch.nn.functional.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, return_indices).
// y[o] = max over the window (padding never wins); idx[o] = ih * W + iw of the winner inside
// its plane (PyTorch's return_indices). NaN propagates (a NaN in the window wins; with several,
// the last one), a window of -inf gives -inf and the index of its first element.
void max_pool2d_forward(float* y, int64_t* idx, const float* x, const Pool2dParams& p);
// dx (NC, H, W) overwritten: zeros, plus dy scattered through idx (indices outside the plane are
// ignored, so a corrupt index cannot write out of bounds).
void max_pool2d_backward(float* dx, const float* dy, const int64_t* idx, const Pool2dParams& p);

// torch.nn.functional.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad,
// divisor_override); dilation must be 1. divisor_override <= 0 means none. Window clipped to
// the padded input (size used when count_include_pad) and to the input (summed); a window with
// no input element gives 0.
void avg_pool2d_forward(float* y, const float* x, const Pool2dParams& p, bool count_include_pad,
                        int64_t divisor_override);
void avg_pool2d_backward(float* dx, const float* dy, const Pool2dParams& p, bool count_include_pad,
                         int64_t divisor_override);

// avg_pool2d(act(x)) in one pass (fastdl.nn.fusion's Sigmoid -> AvgPool2d rule; LeNet):
// y (NC, P, Q) and, when s is non-null, s = act(x) (NC, H, W) saved for the backward. act is
// one whose backward reads its output: relu, sigmoid or tanh. The activation and pooling
// kernels run plane by plane while the plane is in L1, so the results are bitwise those of
// activation_forward followed by avg_pool2d_forward.
void avg_pool2d_act_forward(float* y, float* s, const float* x, const Pool2dParams& p, bool count_include_pad,
                            int64_t divisor_override, Activation act);
// dx (NC, H, W) = the activation's backward (from s) of avg_pool2d_backward(dy), plane by plane
// (bitwise the two backward kernels one after the other).
void avg_pool2d_act_backward(float* dx, const float* dy, const float* s, const Pool2dParams& p,
                             bool count_include_pad, int64_t divisor_override, Activation act);

// torch.nn.functional.adaptive_avg_pool2d(x, (P, Q)): output cell (i, j) averages rows
// [floor(i*H/P), ceil((i+1)*H/P)) and columns [floor(j*W/Q), ceil((j+1)*W/Q)).
// x: (NC, H, W), y: (NC, P, Q), H, W, P, Q >= 1.
void adaptive_avg_pool2d_forward(float* y, const float* x, int64_t NC, int64_t H, int64_t W, int64_t P,
                                 int64_t Q);
void adaptive_avg_pool2d_backward(float* dx, const float* dy, int64_t NC, int64_t H, int64_t W, int64_t P,
                                  int64_t Q);

// (Per-plane kernels, one copy per ISA: the PoolKernels table in cpp/src/pool/pool_kernels.h.)

}  // namespace fastdl
