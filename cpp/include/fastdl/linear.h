// Fully connected layer (torch.nn.functional.linear) helpers, float32, row-major.
//
//   linear_forward: y (M, N) = x (M, K) @ w^T + b, w (N, K), b (N,) or null (no bias).
//                   The bias is written into y first and the SGEMM adds x @ w^T with beta = 1
//                   (the same rounding as torch.addmm: bias + product). Overwrites y.
//   sum_rows:       out (N,) = sum over the M rows of x (M, N)  == x.sum(axis=0), the bias
//                   gradient dy.sum(0). Each column is summed in row order in float over
//                   chunks of kSumRowsChunk rows, the chunk sums added in double; the generic
//                   and AVX2 paths give bit-identical results. Overwrites out (zeros if M == 0).
#pragma once
#include <cstdint>

namespace fastdl {

constexpr int64_t kSumRowsChunk = 256;

void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t M, int64_t N,
                    int64_t K);
void sum_rows(float* out, const float* x, int64_t M, int64_t N);

// (Per-ISA column sums: the LinearKernels table in cpp/src/linear/linear_kernels.h.)

}  // namespace fastdl
