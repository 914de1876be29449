// Single-precision GEMM, row-major, BLAS-shaped. Matches torch.addmm / numpy semantics:
//   C = alpha * op(A) * op(B) + beta * C
// op(A) is M x K (A is M x K with lda >= K, or K x M with lda >= M when trans_a),
// op(B) is K x N (B is K x N with ldb >= N, or N x K with ldb >= K when trans_b),
// C is M x N with ldc >= N. beta == 0 never reads C (NaN in C does not leak through).
// M, N or K == 0 is valid (K == 0 gives C = beta * C).
#pragma once
#include <cstdint>

namespace fastdl {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// Single-threaded variant for callers that already parallelise above the GEMM
// (e.g. one image per thread in convolution).
void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                  float* C, int64_t ldc);

namespace generic {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, bool allow_threads);
}

}  // namespace fastdl
