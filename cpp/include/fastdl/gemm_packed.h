// Pre-packed GEMM operand (the idea of MKL's cblas_sgemm_pack / cblas_sgemm_compute): op(B)
// is packed once into the micro-kernel's panel layout of one ISA table (its NR and the KC
// depth blocks) and reused by many products C = alpha * op(A) * B_packed + beta * C, so a
// weight used at every time step of a recurrent layer is packed once per sequence.
//
// Layout (cpp/src/gemm/gemm_kernels.h "Packed B"): depth blocks of kc rows (the last may be
// shorter); block p starts at p * kc * round_up(N, nr) and holds ceil(N / nr) micro-panels of
// its depth, columns past N zero. Results equal sgemm's packed path bit for bit whatever the
// thread count (each C element sums its depth blocks in order).
#pragma once
#include <cstdint>
#include <memory>

#include "fastdl/cpu.h"

namespace fastdl {

struct PackedB {
  Isa isa = Isa::generic;  // the table whose micro-kernel reads the panels
  int64_t K = 0, N = 0;    // op(B) is K x N
  int64_t kc = 0;          // depth block (rows of op(B) per block)
  int64_t nr = 0;          // micro-panel width of the table
  std::shared_ptr<float> data;  // 64-byte aligned panels (shared: PackedB copies are cheap)
  int64_t padded_n() const { return (N + nr - 1) / nr * nr; }
  const float* block(int64_t pc) const { return data.get() + pc * padded_n(); }
};

// Packs op(B) (B is K x N with ldb >= N, or N x K with ldb >= K when trans_b) for `isa`
// (throws UnsupportedIsa when the CPU lacks it). K, N >= 0.
PackedB pack_b(Isa isa, bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb);

// C (M x N, ldc >= N) = alpha * op(A) * B + beta * C with op(A) M x b.K (A is M x K with
// lda >= K, or K x M with lda >= M when trans_a). beta == 0 never reads C. Uses several
// threads (parallel_for over column panels or row panels) when allow_threads and the work
// is large enough (GemmConfig::thread_flops). Scratch: gemm_pack_a of each thread.
void sgemm_packed(bool trans_a, int64_t M, float alpha, const float* A, int64_t lda,
                  const PackedB& b, float beta, float* C, int64_t ldc, bool allow_threads = true);

// Both operands pre-packed, for callers that run several column blocks of one product (and
// fuse work on each block, e.g. the LSTM cell after its gate columns): pack op(A) once with
// pack_a_for (packed_a_floats(b, M) floats, all rows and depth blocks; any alignment), then
// sgemm_prepacked on columns [j0, j1) of B and C, j0 a multiple of b.nr. Serial.
int64_t packed_a_floats(const PackedB& b, int64_t M);
void pack_a_for(const PackedB& b, bool trans_a, int64_t M, const float* A, int64_t lda, float* Ap);
void sgemm_prepacked(int64_t M, float alpha, const float* Ap, const PackedB& b, int64_t j0,
                     int64_t j1, float beta, float* C, int64_t ldc);

}  // namespace fastdl
