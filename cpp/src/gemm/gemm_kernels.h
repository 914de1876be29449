// Internal to cpp/src/gemm: the per-ISA kernel table of the SGEMM (see core/dispatch.h) that
// the blocked driver in gemm.cpp strings together (Goto/BLIS structure). Each table carries its
// register tile (MR x NR = 6 x 16 for generic and AVX2 in gemm_generic.cpp / gemm_avx2.cpp,
// 12 x 32 for AVX-512 in gemm_avx512.cpp) and its default cache blocks MC / KC / NC (BLIS's
// bli_cntx_init_<arch>.c); the driver reads them from the table, never from a global.
//
// Index conventions (all strides in floats, int64_t):
//   A(i, k) = A[i * a_rs + k * a_cs]   (op(A) is M x K; a_cs == 1 for plain A, a_rs == 1 for A^T)
//   B(k, j) = B[k * b_rs + j * b_cs]   (op(B) is K x N)
//   C(i, j) = C[i * ldc + j]
// Packed A: ceil(mc / MR) micro-panels, panel p at Ap + p * MR * kc, element (i, k) of the
//   panel at [k * MR + i]; rows past mc are zero. Needs round_up(mc, MR) * kc + kPackSlack floats.
// Packed B: ceil(nc / NR) micro-panels, panel q at Bp + q * NR * kc, element (k, j) at
//   [k * NR + j]; columns past nc are zero. Bp must be 32-byte aligned.
// Tile update: C = alpha * acc + beta * C, and beta == 0 never reads C.
#pragma once
#include <cstdint>

#include "../core/dispatch.h"

namespace fastdl {
namespace gemm_detail {

constexpr int MR = 6;
constexpr int NR = 16;
constexpr int64_t kPackSlack = 16;  // floats past the end a packer may scribble on

struct Kernels {
  // C[mc x nc] (+)= alpha * Ap * Bp: loops jr (NR panels of Bp) then ir (MR panels of Ap).
  void (*macro)(int64_t mc, int64_t nc, int64_t kc, const float* Ap, const float* Bp, float* C,
                int64_t ldc, float alpha, float beta);
  // Unpacked path: C[M x N] = alpha * A * B + beta * C with B(k, j) = B[k * ldb + j]
  // (unit column stride), A read in place through (a_rs, a_cs). Whole K in registers.
  void (*direct)(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
                 const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, float beta);
  // Dot path for few columns and a long K (N = 10 classes: a row tile would leave most of its
  // last vector idle): C(i, j) = alpha * sum_k A[i * lda + k] * B(k, j) + beta * C(i, j), A
  // unit-stride in k; B(k, j) = B[k * b_rs + j * b_cs] with b_rs == 1 (B^T in memory, used in
  // place) or b_cs == 1 (transposed into `work`, N * K floats + kPackSlack). Vector lanes run
  // along k and every output is reduced by the same fixed lane tree, whatever its tile.
  void (*dot)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
              int64_t b_rs, int64_t b_cs, float* work, float* C, int64_t ldc, float alpha,
              float beta);
  void (*pack_a)(int64_t mc, int64_t kc, const float* A, int64_t a_rs, int64_t a_cs, float* Ap);
  void (*pack_b)(int64_t kc, int64_t nc, const float* B, int64_t b_rs, int64_t b_cs, float* Bp);
  // The register tile of this table's kernels and packers (MR / NR above in the layout rules).
  int mr = MR;
  int nr = NR;
  // Floats per vector of the dot kernel (its k step), and the column granularity of the
  // direct kernel's tiles (a column tail costs as much as this many columns); the driver's
  // dot-path rule compares the two kernels' vector FMAs with them.
  int lanes = 8;
  int direct_cols = NR;
  // Default cache blocks (rows of A, depth, columns of B per packed panel); set_gemm_config
  // overrides them for every table. MC=288 / KC=512 / NC=4080 measured on the target
  // (Sapphire Rapids, L1d 48 KiB, L2 2 MiB; bench_gemm --sweep and a thread-CPU-time sweep):
  // KC=512 beats 256 by 8-20 % at 1024-2048^3 (fewer C updates; the 32 KiB B micro-panel still
  // fits L1), MC=288 is within noise of 144 at <= 512^3 and ~5 % better at 2048^3.
  int64_t mc = 288;
  int64_t kc = 512;
  int64_t nc = 4080;
};

// Portable packers (also used by the AVX2 table where they are already bandwidth-bound).
void pack_a_generic(int64_t mc, int64_t kc, const float* A, int64_t a_rs, int64_t a_cs, float* Ap);
void pack_b_generic(int64_t kc, int64_t nc, const float* B, int64_t b_rs, int64_t b_cs, float* Bp);
// The dot path's op(B) as N rows of K (unit stride in k): B itself when b_rs == 1, else a
// transposed copy in `work`; *ldbt receives the row stride.
const float* dot_rows_generic(int64_t N, int64_t K, const float* B, int64_t b_rs, int64_t b_cs,
                              float* work, int64_t* ldbt);

}  // namespace gemm_detail

namespace generic {
const gemm_detail::Kernels& gemm_kernels();
}
#if defined(FASTDL_HAVE_AVX2)
namespace avx2 {
const gemm_detail::Kernels& gemm_kernels();
}
#endif
#if defined(FASTDL_HAVE_AVX512)
namespace avx512 {  // 12 x 32 tile (mr = 12, nr = 32)
const gemm_detail::Kernels& gemm_kernels();
}
#endif

// The table for `isa` (gemm.cpp; throws UnsupportedIsa when the CPU lacks it).
const gemm_detail::Kernels& gemm_kernels(Isa isa);

}  // namespace fastdl
