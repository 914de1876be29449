// 2-D convolution on NCHW float32 tensors (contiguous). Matches torch.nn.functional.conv2d
// (cross-correlation, zero padding, stride, dilation, groups) and its autograd backward.
//
//   x: (N, C, H, W)   w: (K, C/groups, R, S)   b: (K) or null   y: (N, K, P, Q)
//   P = conv_out_size(H, R, pad_h, stride_h, dil_h),  Q = conv_out_size(W, S, pad_w, stride_w, dil_w)
//   y[n, k, p, q] = b[k] + sum_{c in group(k), r, s} w[k, c, r, s] * x[n, c, p*sh - ph + r*dh, q*sw - pw + s*dw]
//
// Three engines, chosen per layer shape and pass (invisible to the caller; docs/kernels.md §1b,
// §1c): direct convolution on a channel-blocked layout (cpp/src/conv_direct) for the 3x3 / 5x5 /
// 7x7 layers it wins on, the flat engine (cpp/src/conv/conv_flat.cpp) for stride-1 layers with
// few channels (LeNet's), and im2col + SGEMM for the rest, described here.
// Algorithm: per image and group, im2col into a per-thread column buffer
// col[(c, r, s), (p, q)] (Cg*R*S x P*Q, scratch conv_col) and one SGEMM
// y_g = w_g (Kg x Cg*R*S) * col; a 1x1 / stride 1 / no-padding convolution is the plain GEMM
// w_g * x_g with no im2col. Images are split across threads (sgemm_serial per image); when the
// batch is smaller than the thread count the images run one after another with the threaded
// sgemm. Backward: dcol = w_g^T dy_g then col2im (scatter-add) into dx; dw = sum_n dy_n col_n^T
// over batch chunks whose count follows the shape only (chunk 0 writes dw itself, the others
// their scratch conv_dw_acc), added in chunk order, so results are bitwise the same on any
// thread count;
// db = sum of dy over N, P, Q.
#pragma once
#include <cstdint>

namespace fastdl {

// Output length of a convolution / pooling window along one dimension, as
// fastdl.nn.utils.conv_output_size:  floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1
// (ceil instead of floor with ceil_mode, dropping a last window that starts in the right
// padding, as PyTorch's pooling). Throws ArgumentError for kernel/stride/dilation < 1,
// padding < 0, size < 0 or a result < 1, with the message
//   "input 5 with kernel 7, padding 0, stride 1, dilation 1 gives output size -1";
// std::overflow_error when the arithmetic overflows int64.
int64_t conv_out_size(int64_t size, int64_t kernel, int64_t padding, int64_t stride, int64_t dilation,
                      bool ceil_mode = false);

// All sizes of one conv2d call. Build it with make_conv2d_params, which validates everything
// and checks every buffer size (output, column buffer, weights) for int64 overflow, so that a
// call can be rejected before anything is allocated.
struct Conv2dParams {
  int64_t N, C, H, W;        // input
  int64_t K, R, S;           // output channels, kernel height, width
  int64_t P, Q;              // output height, width
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  int64_t Cg, Kg;            // channels per group (input, output)
  int64_t col_rows, col_cols;  // Cg*R*S, P*Q: the column buffer of one image and group
  bool pointwise;            // 1x1, stride 1, no padding: plain GEMM, no im2col
};

// Throws ArgumentError (message names the shapes) or std::overflow_error.
// Wc is the weight's second dimension (C / groups expected).
Conv2dParams make_conv2d_params(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t Wc,
                                int64_t R, int64_t S, int64_t stride_h, int64_t stride_w,
                                int64_t pad_h, int64_t pad_w, int64_t dil_h, int64_t dil_w,
                                int64_t groups);

// y: (N, K, P, Q) (overwritten). b may be null. relu: y = max(conv2d(x) + b, 0) (NaN stays
// NaN), bitwise equal to conv2d followed by relu.
void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dParams& p,
                    bool relu = false);

// Gradients of conv2d_forward; each output may be null (not computed). Overwrites
// dx (N, C, H, W), dw (K, Cg, R, S), db (K). With N == 0, dw and db are zeros. relu_y (N, K,
// P, Q), when not null, is the output of conv2d_forward(..., relu = true): the gradients are
// those of the fused layer (dy where relu_y > 0, else 0, as relu's backward), bitwise equal to
// relu's backward followed by conv2d_backward.
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     const Conv2dParams& p, const float* relu_y = nullptr);

// Building blocks (one image, one group; exposed for tests and benchmarks).
// col: (Cg*R*S, P*Q) with row stride ld >= P*Q; x: (Cg, H, W). Zero padding is written as zeros.
void im2col(float* col, const float* x, const Conv2dParams& p, int64_t ld);
// dx: (Cg, H, W) is overwritten with the scatter-add of col (Cg*R*S, P*Q; row stride ld).
void col2im(float* dx, const float* col, const Conv2dParams& p, int64_t ld);
// (Per-ISA copies: the ConvKernels table in cpp/src/conv/conv_kernels.h.)

}  // namespace fastdl
