// Pre-packed B operand for the SGEMM (fastdl/gemm_packed.h): packing with the table's packer
// once, products with the table's packers for A and its macro-kernel. This file is compiled
// without vector flags; the table's functions do the vector work.
#include "fastdl/gemm_packed.h"

#include <algorithm>
#include <cstdlib>

#include "fastdl/common.h"
#include "fastdl/gemm.h"
#include "fastdl/parallel.h"
#include "fastdl/scratch.h"
#include "gemm_kernels.h"

namespace fastdl {
namespace {
using gemm_detail::Kernels;
using gemm_detail::kPackSlack;

inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Row block of A per packing: the configured MC rounded down to the table's MR.
int64_t row_block(const Kernels& kr, int64_t M) {
  const int64_t cap = std::max<int64_t>(kr.mr, gemm_config().mc / kr.mr * kr.mr);
  const int64_t nblocks = cdiv(M, cap);
  return std::min(cap, cdiv(cdiv(M, nblocks), kr.mr) * kr.mr);
}

// Columns [j0, j1) of C on one thread: for each row block, each depth block: pack A, macro.
void packed_cols(const Kernels& kr, bool trans_a, int64_t M, float alpha, const float* A,
                 int64_t lda, const PackedB& b, int64_t j0, int64_t j1, float beta, float* C,
                 int64_t ldc) {
  if (M <= 0 || j1 <= j0) return;
  const int64_t a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
  const int64_t mc_blk = row_block(kr, M);
  const int64_t kc_blk = std::max<int64_t>(b.kc, 1);
  float* Ap = scratch(ScratchKey::gemm_pack_a,
                      cdiv(std::min(mc_blk, M), kr.mr) * kr.mr * kc_blk + kPackSlack);
  for (int64_t ic = 0; ic < M; ic += mc_blk) {
    const int64_t mc = std::min(mc_blk, M - ic);
    for (int64_t pc = 0; pc < b.K; pc += kc_blk) {
      const int64_t kc = std::min(kc_blk, b.K - pc);
      kr.pack_a(mc, kc, A + ic * a_rs + pc * a_cs, a_rs, a_cs, Ap);
      kr.macro(mc, j1 - j0, kc, Ap, b.block(pc) + j0 * kc, C + ic * ldc + j0, ldc, alpha,
               pc == 0 ? beta : 1.0f);
    }
  }
}

// C = beta * C on columns [j0, j1) (K == 0 or alpha == 0).
void scale_cols(int64_t M, int64_t j0, int64_t j1, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = j0; j < j1; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

}  // namespace

PackedB pack_b(Isa isa, bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb) {
  const Kernels& kr = gemm_kernels(isa);
  FASTDL_CHECK(K >= 0 && N >= 0, "pack_b: K and N must be >= 0");
  PackedB p;
  p.isa = isa;
  p.K = K;
  p.N = N;
  p.nr = kr.nr;
  // Depth blocks as the driver balances them: the configured KC, equal up to rounding to 4.
  const int64_t cap = std::max<int64_t>(4, gemm_config().kc / 4 * 4);
  const int64_t nblocks = std::max<int64_t>(1, cdiv(K, cap));
  p.kc = std::max<int64_t>(1, std::min(cap, cdiv(cdiv(K, nblocks), 4) * 4));
  const int64_t floats = checked_mul(std::max<int64_t>(K, 1), p.padded_n(), "packed B") + kPackSlack;
  const size_t bytes = (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64;
  float* raw = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!raw) throw std::bad_alloc();
  p.data = std::shared_ptr<float>(raw, [](float* q) { std::free(q); });
  const int64_t b_rs = trans_b ? 1 : ldb, b_cs = trans_b ? ldb : 1;
  const int64_t nblk = cdiv(N, p.nr);
  // One task per (depth block, column panel): every panel is written by exactly one thread.
  const int64_t nk = cdiv(K, p.kc);
  parallel_for(0, nk * nblk, std::max<int64_t>(1, 16384 / std::max<int64_t>(p.kc * p.nr, 1)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t t = lo; t < hi; ++t) {
                   const int64_t pc = (t / nblk) * p.kc, j0 = (t % nblk) * p.nr;
                   const int64_t kc = std::min(p.kc, K - pc);
                   kr.pack_b(kc, std::min(p.nr, N - j0), B + pc * b_rs + j0 * b_cs, b_rs, b_cs,
                             p.data.get() + pc * p.padded_n() + j0 * kc);
                 }
               });
  return p;
}

int64_t packed_a_floats(const PackedB& b, int64_t M) {
  const int64_t mr = gemm_kernels(b.isa).mr;
  return checked_mul(cdiv(M, mr) * mr, std::max<int64_t>(b.K, 1), "packed A") + kPackSlack;
}

void pack_a_for(const PackedB& b, bool trans_a, int64_t M, const float* A, int64_t lda, float* Ap) {
  const Kernels& kr = gemm_kernels(b.isa);
  const int64_t a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
  const int64_t Mp = cdiv(M, kr.mr) * kr.mr;
  for (int64_t pc = 0; pc < b.K; pc += b.kc)
    kr.pack_a(M, std::min(b.kc, b.K - pc), A + pc * a_cs, a_rs, a_cs, Ap + pc * Mp);
}

void sgemm_prepacked(int64_t M, float alpha, const float* Ap, const PackedB& b, int64_t j0,
                     int64_t j1, float beta, float* C, int64_t ldc) {
  if (M <= 0 || j1 <= j0) return;
  if (b.K <= 0 || alpha == 0.0f) {
    scale_cols(M, j0, j1, beta, C, ldc);
    return;
  }
  const Kernels& kr = gemm_kernels(b.isa);
  const int64_t Mp = cdiv(M, kr.mr) * kr.mr;
  for (int64_t pc = 0; pc < b.K; pc += b.kc)
    kr.macro(M, j1 - j0, std::min(b.kc, b.K - pc), Ap + pc * Mp, b.block(pc) + j0 * std::min(b.kc, b.K - pc),
             C + j0, ldc, alpha, pc == 0 ? beta : 1.0f);
}

void sgemm_packed(bool trans_a, int64_t M, float alpha, const float* A, int64_t lda,
                  const PackedB& b, float beta, float* C, int64_t ldc, bool allow_threads) {
  if (M <= 0 || b.N <= 0) return;
  if (b.K <= 0 || alpha == 0.0f) {
    scale_cols(M, 0, b.N, beta, C, ldc);
    return;
  }
  const Kernels& kr = gemm_kernels(b.isa);
  const double flops = 2.0 * double(M) * double(b.N) * double(b.K);
  const int threads = allow_threads ? get_num_threads() : 1;
  if (threads <= 1 || flops < double(gemm_config().thread_flops)) {
    packed_cols(kr, trans_a, M, alpha, A, lda, b, 0, b.N, beta, C, ldc);
    return;
  }
  const int64_t a_rs = trans_a ? 1 : lda;
  if (b.N < 2 * b.nr || (M >= 4 * b.N && M >= 2 * kr.mr)) {  // bands of rows
    parallel_for(0, cdiv(M, kr.mr), 1, [&](int64_t lo, int64_t hi) {
      const int64_t i0 = lo * kr.mr, i1 = std::min(hi * kr.mr, M);
      packed_cols(kr, trans_a, i1 - i0, alpha, A + i0 * a_rs, lda, b, 0, b.N, beta,
                  C + i0 * ldc, ldc);
    });
  } else {  // bands of column panels (A is packed by every thread: O(1 / N) of the work)
    parallel_for(0, cdiv(b.N, b.nr), 1, [&](int64_t lo, int64_t hi) {
      packed_cols(kr, trans_a, M, alpha, A, lda, b, lo * b.nr, std::min(hi * b.nr, b.N), beta,
                  C, ldc);
    });
  }
}

}  // namespace fastdl
