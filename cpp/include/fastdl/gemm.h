// Single-precision GEMM, row-major, BLAS-shaped. Matches torch.addmm / numpy semantics:
//   C = alpha * op(A) * op(B) + beta * C
// op(A) is M x K (A is M x K with lda >= K, or K x M with lda >= M when trans_a),
// op(B) is K x N (B is K x N with ldb >= N, or N x K with ldb >= K when trans_b),
// C is M x N with ldc >= N. beta == 0 never reads C (NaN in C does not leak through).
// M, N or K == 0 is valid (K == 0 gives C = beta * C). alpha == 0 gives C = beta * C without
// reading A or B (BLAS semantics).
//
// Algorithm (cpp/src/gemm): Goto/BLIS blocking (NC / KC / MC loops, packed MR-tall A and
// NR-wide B micro-panels, 6x16 register tile; 12x32 on the avx512 level), a direct unpacked path for small/skinny
// shapes, or a dot path (lanes along k) for few columns and a long K (N = 10 classes). sgemm splits rows or columns of C between threads (fastdl::parallel_for) when the
// work is >= ~2 MFLOP; results do not depend on the thread count (same summation order).
//
// Workspace: the packing buffers are the scratch keys gemm_pack_a and gemm_pack_b (packed B,
// or the transposed B of the direct path) of the calling thread and of each worker thread;
// a caller must not hold pointers into those two keys across a call to sgemm/sgemm_serial.
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

// Tuning and testing knobs (process-wide; set them only while no GEMM runs). mc must be a
// positive multiple of 6, nc of 16, kc >= 1 (the driver rounds mc / nc down to the tile of the
// active path: 12 / 32 on avx512); path 0 = automatic, 1 = always direct, 2 = always packed,
// 3 = the dot (few-column) kernel wherever op(A) is unit-stride in k, else direct;
// thread_flops = minimum 2*M*N*K for sgemm to use several threads.
struct GemmConfig {
  int64_t mc, kc, nc;
  int path;
  int64_t thread_flops;
};
GemmConfig gemm_config();
void set_gemm_config(const GemmConfig& cfg);  // throws ArgumentError on invalid values
GemmConfig default_gemm_config();

}  // namespace fastdl
