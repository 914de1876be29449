// SGEMM pieces for AVX2 + FMA (this file alone is compiled with -mavx2 -mfma): the 6x16
// micro-kernel (inline asm, 12 ymm accumulators, k unrolled by 4, the tile stored straight from
// its registers), the direct (unpacked) kernel with masked column edges. The packers are the portable ones (gemm_generic.cpp): they cost a few %
// of the packed path. Layout conventions: gemm_kernels.h.
// Everything here has internal linkage except avx2::gemm_kernels() (ODR trap, docs/kernels.md §3).
#include <immintrin.h>

#if !defined(__x86_64__)
#error "gemm_avx2.cpp: the micro-kernel's inline assembly is x86-64 only"
#endif

#include "gemm_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {
using gemm_detail::MR;
using gemm_detail::NR;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Lanes j < n set (n clamped to [0, 8] by the comparison).
inline __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ---- The packed 6x16 micro-kernel (BLIS's kernels/haswell/3 sgemm 6x16 register plan).
//
// Registers: ymm0-11 accumulate the tile, row i in ymm(2i) (columns 0-7) and ymm(2i+1)
// (columns 8-15); ymm12-13 hold the current row of B; ymm14-15 alternate the broadcasts of A.
// After the k loop ymm15 holds alpha, ymm14 beta, ymm12-13 the column masks of a partial tile
// (ymm15 is then the temporary for a masked load of C). One macro per step; the asm labels are
// named (`%=` makes them unique per expansion of the asm statement).
#define FASTDL_S(...) #__VA_ARGS__ "\n\t"

// Row i (A element i of k step `it`, broadcast into `ar`) times the B row: two FMAs.
#define SGEMM_ROW(it, i, ar, c0, c1)                 \
  "vbroadcastss " #it "*24+" #i "*4(%[a]), " ar "\n\t" \
  "vfmadd231ps %%ymm12, " ar ", " c0 "\n\t"          \
  "vfmadd231ps %%ymm13, " ar ", " c1 "\n\t"

// Step `it` of an unrolled group: load row `it` of the B micro-panel (16 floats), then the six
// rows of the tile; the broadcasts alternate ymm14 / ymm15 so consecutive rows never wait.
#define SGEMM_K_STEP(it)                                        \
  "vmovaps " #it "*64(%[b]), %%ymm12\n\t"                       \
  "vmovaps " #it "*64+32(%[b]), %%ymm13\n\t"                    \
  SGEMM_ROW(it, 0, "%%ymm14", "%%ymm0", "%%ymm1")                \
  SGEMM_ROW(it, 1, "%%ymm15", "%%ymm2", "%%ymm3")                \
  SGEMM_ROW(it, 2, "%%ymm14", "%%ymm4", "%%ymm5")                \
  SGEMM_ROW(it, 3, "%%ymm15", "%%ymm6", "%%ymm7")                \
  SGEMM_ROW(it, 4, "%%ymm14", "%%ymm8", "%%ymm9")                \
  SGEMM_ROW(it, 5, "%%ymm15", "%%ymm10", "%%ymm11")

// C row (at %[c]) from c0:c1, then %[c] moves to the next row. alpha has been applied.
//   BZ: beta == 0, C never read.  BNZ: c = beta * C + c (one rounding, vfmadd231ps from memory).
#define SGEMM_STORE_ROW_BZ(c0, c1)            \
  "vmovups " c0 ", (%[c])\n\t"                \
  "vmovups " c1 ", 32(%[c])\n\t"              \
  "add %[ldc], %[c]\n\t"
#define SGEMM_STORE_ROW_BNZ(c0, c1)            \
  "vfmadd231ps (%[c]), %%ymm14, " c0 "\n\t"    \
  "vfmadd231ps 32(%[c]), %%ymm14, " c1 "\n\t"  \
  SGEMM_STORE_ROW_BZ(c0, c1)
// Partial tile: row i is stored only when i < mr; columns through the masks ymm12 / ymm13.
#define SGEMM_MASKED_ROW_BZ(i, c0, c1)          \
  "cmp $" #i ", %[mr]\n\t"                      \
  "jle .Lsgemm_done%=\n\t"                      \
  "vmaskmovps " c0 ", %%ymm12, (%[c])\n\t"      \
  "vmaskmovps " c1 ", %%ymm13, 32(%[c])\n\t"    \
  "add %[ldc], %[c]\n\t"
#define SGEMM_MASKED_ROW_BNZ(i, c0, c1)         \
  "cmp $" #i ", %[mr]\n\t"                      \
  "jle .Lsgemm_done%=\n\t"                      \
  "vmaskmovps (%[c]), %%ymm12, %%ymm15\n\t"     \
  "vfmadd231ps %%ymm15, %%ymm14, " c0 "\n\t"    \
  "vmaskmovps 32(%[c]), %%ymm13, %%ymm15\n\t"   \
  "vfmadd231ps %%ymm15, %%ymm14, " c1 "\n\t"    \
  "vmaskmovps " c0 ", %%ymm12, (%[c])\n\t"      \
  "vmaskmovps " c1 ", %%ymm13, 32(%[c])\n\t"    \
  "add %[ldc], %[c]\n\t"
#define SGEMM_ALL_ROWS(ROW)                                                                  \
  ROW("%%ymm0", "%%ymm1") ROW("%%ymm2", "%%ymm3") ROW("%%ymm4", "%%ymm5") ROW("%%ymm6", "%%ymm7") \
  ROW("%%ymm8", "%%ymm9") ROW("%%ymm10", "%%ymm11")
#define SGEMM_ALL_MASKED_ROWS(ROW)                                                          \
  ROW(0, "%%ymm0", "%%ymm1") ROW(1, "%%ymm2", "%%ymm3") ROW(2, "%%ymm4", "%%ymm5")            \
  ROW(3, "%%ymm6", "%%ymm7") ROW(4, "%%ymm8", "%%ymm9") ROW(5, "%%ymm10", "%%ymm11")

// How the tile leaves the registers (bit 0: beta != 0 reads C; bit 1: a partial tile).
constexpr int64_t kStoreBetaNonzero = 1, kStorePartial = 2;

// Packed micro-kernel: a = packed A micro-panel (kc x MR), b = packed B micro-panel (kc x NR,
// 32-byte aligned). C(i, j) = alpha * sum_k a[k][i] * b[k][j] + beta * C(i, j) on rows < mr,
// columns < nr (the rest of the tile is computed on the zero padding and never stored);
// beta == 0 never reads C, so a NaN in C cannot leak. The k loop is unrolled by 4, then a
// 1-step tail; every accumulator sees k in order, one FMA per step.
void kernel_packed(int64_t kc, const float* a, const float* b, float* C, int64_t ldc, int mr,
                   int nr, float alpha, float beta) {
  for (int i = 0; i < mr; ++i) _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
  int64_t n4 = kc >> 2;
  int64_t n1 = kc & 3;
  int64_t rows = mr;
  int64_t ldc_bytes = ldc * static_cast<int64_t>(sizeof(float));
  const int64_t mode = (beta != 0.0f ? kStoreBetaNonzero : 0) | (mr < MR || nr < NR ? kStorePartial : 0);
  const __m256i m0 = lane_mask(nr);
  const __m256i m1 = lane_mask(nr - 8);
  __asm__ volatile(
      // Zero the 12 accumulators.
      FASTDL_S(vxorps %%ymm0, %%ymm0, %%ymm0)
      FASTDL_S(vxorps %%ymm1, %%ymm1, %%ymm1)
      FASTDL_S(vxorps %%ymm2, %%ymm2, %%ymm2)
      FASTDL_S(vxorps %%ymm3, %%ymm3, %%ymm3)
      FASTDL_S(vxorps %%ymm4, %%ymm4, %%ymm4)
      FASTDL_S(vxorps %%ymm5, %%ymm5, %%ymm5)
      FASTDL_S(vxorps %%ymm6, %%ymm6, %%ymm6)
      FASTDL_S(vxorps %%ymm7, %%ymm7, %%ymm7)
      FASTDL_S(vxorps %%ymm8, %%ymm8, %%ymm8)
      FASTDL_S(vxorps %%ymm9, %%ymm9, %%ymm9)
      FASTDL_S(vxorps %%ymm10, %%ymm10, %%ymm10)
      FASTDL_S(vxorps %%ymm11, %%ymm11, %%ymm11)
      FASTDL_S(test %[n4], %[n4])
      FASTDL_S(jz .Lsgemm_k_left%=)
      // Main loop: 4 k steps per iteration (96 bytes of A, 256 bytes of B).
      FASTDL_S(.p2align 4)
      ".Lsgemm_k_iter%=:\n\t"
      FASTDL_S(prefetcht0 384(%[a]))
      SGEMM_K_STEP(0)  // iteration 0
      SGEMM_K_STEP(1)  // iteration 1
      SGEMM_K_STEP(2)  // iteration 2
      SGEMM_K_STEP(3)  // iteration 3
      FASTDL_S(add $96, %[a])
      FASTDL_S(add $256, %[b])
      FASTDL_S(dec %[n4])
      FASTDL_S(jnz .Lsgemm_k_iter%=)
      // Edge loop: the kc % 4 remaining steps, one at a time.
      ".Lsgemm_k_left%=:\n\t"
      FASTDL_S(test %[n1], %[n1])
      FASTDL_S(jz .Lsgemm_post_accum%=)
      ".Lsgemm_k_one%=:\n\t"
      SGEMM_K_STEP(0)
      FASTDL_S(add $24, %[a])
      FASTDL_S(add $64, %[b])
      FASTDL_S(dec %[n1])
      FASTDL_S(jnz .Lsgemm_k_one%=)
      // Scale the tile by alpha; load beta and the column masks.
      ".Lsgemm_post_accum%=:\n\t"
      FASTDL_S(vbroadcastss %[alpha], %%ymm15)
      FASTDL_S(vmulps %%ymm0, %%ymm15, %%ymm0)
      FASTDL_S(vmulps %%ymm1, %%ymm15, %%ymm1)
      FASTDL_S(vmulps %%ymm2, %%ymm15, %%ymm2)
      FASTDL_S(vmulps %%ymm3, %%ymm15, %%ymm3)
      FASTDL_S(vmulps %%ymm4, %%ymm15, %%ymm4)
      FASTDL_S(vmulps %%ymm5, %%ymm15, %%ymm5)
      FASTDL_S(vmulps %%ymm6, %%ymm15, %%ymm6)
      FASTDL_S(vmulps %%ymm7, %%ymm15, %%ymm7)
      FASTDL_S(vmulps %%ymm8, %%ymm15, %%ymm8)
      FASTDL_S(vmulps %%ymm9, %%ymm15, %%ymm9)
      FASTDL_S(vmulps %%ymm10, %%ymm15, %%ymm10)
      FASTDL_S(vmulps %%ymm11, %%ymm15, %%ymm11)
      FASTDL_S(vbroadcastss %[beta], %%ymm14)
      FASTDL_S(vmovdqu %[m0], %%ymm12)
      FASTDL_S(vmovdqu %[m1], %%ymm13)
      FASTDL_S(cmp $1, %[mode])
      FASTDL_S(je .Lsgemm_full_bnz%=)
      FASTDL_S(jb .Lsgemm_full_bz%=)
      FASTDL_S(cmp $2, %[mode])
      FASTDL_S(je .Lsgemm_part_bz%=)
      // Partial tile, beta != 0.
      SGEMM_ALL_MASKED_ROWS(SGEMM_MASKED_ROW_BNZ)
      FASTDL_S(jmp .Lsgemm_done%=)
      // Partial tile, beta == 0.
      ".Lsgemm_part_bz%=:\n\t"
      SGEMM_ALL_MASKED_ROWS(SGEMM_MASKED_ROW_BZ)
      FASTDL_S(jmp .Lsgemm_done%=)
      // Full 6x16 tile, beta != 0.
      ".Lsgemm_full_bnz%=:\n\t"
      SGEMM_ALL_ROWS(SGEMM_STORE_ROW_BNZ)
      FASTDL_S(jmp .Lsgemm_done%=)
      // Full 6x16 tile, beta == 0.
      ".Lsgemm_full_bz%=:\n\t"
      SGEMM_ALL_ROWS(SGEMM_STORE_ROW_BZ)
      ".Lsgemm_done%=:\n\t"
      : [a] "+r"(a), [b] "+r"(b), [n4] "+r"(n4), [n1] "+r"(n1), [c] "+r"(C)
      : [ldc] "r"(ldc_bytes), [mr] "r"(rows), [mode] "r"(mode), [alpha] "m"(alpha), [beta] "m"(beta),
        [m0] "m"(m0), [m1] "m"(m1)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
}
#undef SGEMM_ALL_MASKED_ROWS
#undef SGEMM_ALL_ROWS
#undef SGEMM_MASKED_ROW_BNZ
#undef SGEMM_MASKED_ROW_BZ
#undef SGEMM_STORE_ROW_BNZ
#undef SGEMM_STORE_ROW_BZ
#undef SGEMM_K_STEP
#undef SGEMM_ROW
#undef FASTDL_S

void macro(int64_t mc, int64_t nc, int64_t kc, const float* Ap, const float* Bp, float* C,
           int64_t ldc, float alpha, float beta) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int nr = static_cast<int>(min64(NR, nc - jr));
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int mr = static_cast<int>(min64(MR, mc - ir));
      kernel_packed(kc, Ap + ir * kc, Bp + jr * kc, C + ir * ldc + jr, ldc, mr, nr, alpha, beta);
    }
  }
}

// One row of a direct tile from registers: c = alpha * (r0 | r1) + beta * C, C read only when
// read_c (beta != 0); columns through the masks m0 / m1 when kMasked.
template <bool kMasked>
inline void store_row(float* c, __m256 r0, __m256 r1, __m256 va, __m256 vb, bool read_c, __m256i m0,
                      __m256i m1) {
  r0 = _mm256_mul_ps(va, r0);
  r1 = _mm256_mul_ps(va, r1);
  if (read_c) {
    r0 = _mm256_fmadd_ps(vb, kMasked ? _mm256_maskload_ps(c, m0) : _mm256_loadu_ps(c), r0);
    r1 = _mm256_fmadd_ps(vb, kMasked ? _mm256_maskload_ps(c + 8, m1) : _mm256_loadu_ps(c + 8), r1);
  }
  if (kMasked) {
    _mm256_maskstore_ps(c, m0, r0);
    _mm256_maskstore_ps(c + 8, m1, r1);
  } else {
    _mm256_storeu_ps(c, r0);
    _mm256_storeu_ps(c + 8, r1);
  }
}

// Direct tile: A(i, k) = A[off[i] + k * a_cs] where rows past mr repeat the last valid row
// (computed, never stored: no out-of-bounds read); B read in place, masked past nr.
template <bool kMasked>
void kernel_direct(int64_t K, const float* A, int64_t a_rs, int64_t a_cs, const float* B,
                   int64_t ldb, float* C, int64_t ldc, int mr, int nr, float alpha, float beta) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const int64_t o1 = (mr > 1 ? 1 : mr - 1) * a_rs, o2 = (mr > 2 ? 2 : mr - 1) * a_rs,
                o3 = (mr > 3 ? 3 : mr - 1) * a_rs, o4 = (mr > 4 ? 4 : mr - 1) * a_rs,
                o5 = (mr > 5 ? 5 : mr - 1) * a_rs;
  const __m256i m0 = lane_mask(nr);
  const __m256i m1 = lane_mask(nr - 8);
  for (int64_t k = 0; k < K; ++k, A += a_cs, B += ldb) {
    const __m256 b0 = kMasked ? _mm256_maskload_ps(B, m0) : _mm256_loadu_ps(B);
    const __m256 b1 = kMasked ? _mm256_maskload_ps(B + 8, m1) : _mm256_loadu_ps(B + 8);
    __m256 av;
#define FASTDL_ROW(i, off)                     \
  av = _mm256_broadcast_ss(A + off);           \
  c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);  \
  c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);
    FASTDL_ROW(0, 0) FASTDL_ROW(1, o1) FASTDL_ROW(2, o2) FASTDL_ROW(3, o3) FASTDL_ROW(4, o4)
    FASTDL_ROW(5, o5)
#undef FASTDL_ROW
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const bool read_c = beta != 0.0f;
  store_row<kMasked>(C, c00, c01, va, vb, read_c, m0, m1);
  if (mr > 1) store_row<kMasked>(C + ldc, c10, c11, va, vb, read_c, m0, m1);
  if (mr > 2) store_row<kMasked>(C + 2 * ldc, c20, c21, va, vb, read_c, m0, m1);
  if (mr > 3) store_row<kMasked>(C + 3 * ldc, c30, c31, va, vb, read_c, m0, m1);
  if (mr > 4) store_row<kMasked>(C + 4 * ldc, c40, c41, va, vb, read_c, m0, m1);
  if (mr > 5) store_row<kMasked>(C + 5 * ldc, c50, c51, va, vb, read_c, m0, m1);
}

void direct(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
            const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, float beta) {
  for (int64_t i0 = 0; i0 < M; i0 += MR) {
    const int mr = static_cast<int>(min64(MR, M - i0));
    const float* a = A + i0 * a_rs;
    float* c = C + i0 * ldc;
    int64_t j0 = 0;
    for (; j0 + NR <= N; j0 += NR)
      kernel_direct<false>(K, a, a_rs, a_cs, B + j0, ldb, c + j0, ldc, mr, NR, alpha, beta);
    if (j0 < N)
      kernel_direct<true>(K, a, a_rs, a_cs, B + j0, ldb, c + j0, ldc, mr,
                          static_cast<int>(N - j0), alpha, beta);
  }
}

// ---- Dot path (gemm_kernels.h): lanes hold k mod 8 and every output is reduced by the same
// lane tree (reduce4), so its value does not depend on its tile.

// The four horizontal sums of a, b, c, d: lanes i + i+4, then + i+2, + i+1.
inline __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
  const __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20), _mm256_permute2f128_ps(c, d, 0x31));
  // half 0: [a0+a2, a1+a3, c0+c2, c1+c3], half 1: the same for b, d
  __m256 s = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xEE));
  s = _mm256_add_ps(s, _mm256_shuffle_ps(s, s, _MM_SHUFFLE(2, 3, 0, 1)));
  const __m128 lo = _mm256_castps256_ps128(s), hi = _mm256_extractf128_ps(s, 1);
  const __m128 acbd = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));  // a, c, b, d
  return _mm_shuffle_ps(acbd, acbd, _MM_SHUFFLE(3, 1, 2, 0));
}

// R x NC tile (R <= 2, NC <= 4): C(i, j) = alpha * <A row i, Bt row j> + beta * C(i, j).
template <int R, int NC>
void kernel_dot(int64_t K, const float* A, int64_t lda, const float* Bt, int64_t ldbt, float* C,
                int64_t ldc, float alpha, float beta) {
  __m256 acc[R][4];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_setzero_ps();
  // One step of 8 k values; `load` reads 8 floats (masked past K in the tail, zeros there).
  auto step = [&](int64_t k, auto load) {
    __m256 b[NC];
    for (int j = 0; j < NC; ++j) b[j] = load(Bt + j * ldbt + k);
    for (int i = 0; i < R; ++i) {
      const __m256 a = load(A + i * lda + k);
      for (int j = 0; j < NC; ++j) acc[i][j] = _mm256_fmadd_ps(a, b[j], acc[i][j]);
    }
  };
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) step(k, [](const float* p) { return _mm256_loadu_ps(p); });
  if (k < K) {
    const __m256i m = lane_mask(static_cast<int>(K - k));
    step(k, [m](const float* p) { return _mm256_maskload_ps(p, m); });
  }
  const __m128i mc = _mm256_castsi256_si128(lane_mask(NC));
  const __m128 va = _mm_set1_ps(alpha), vb = _mm_set1_ps(beta);
  for (int i = 0; i < R; ++i) {
    __m128 r = _mm_mul_ps(va, reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
    float* c = C + i * ldc;
    if (beta != 0.0f) r = _mm_fmadd_ps(vb, _mm_maskload_ps(c, mc), r);
    _mm_maskstore_ps(c, mc, r);
  }
}

#include "dot_impl.h"

const DotTile kDotTiles[2][4] = {
    {kernel_dot<1, 1>, kernel_dot<1, 2>, kernel_dot<1, 3>, kernel_dot<1, 4>},
    {kernel_dot<2, 1>, kernel_dot<2, 2>, kernel_dot<2, 3>, kernel_dot<2, 4>},
};

void dot(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
         int64_t b_rs, int64_t b_cs, float* work, float* C, int64_t ldc, float alpha, float beta) {
  int64_t ldbt = 0;
  const float* Bt = gemm_detail::dot_rows_generic(N, K, B, b_rs, b_cs, work, &ldbt);
  dot_tiles(kDotTiles, 2, M, N, K, A, lda, Bt, ldbt, C, ldc, alpha, beta);
}

const gemm_detail::Kernels kKernels = {macro, direct, dot, gemm_detail::pack_a_generic,
                                       gemm_detail::pack_b_generic, gemm_detail::MR,
                                       gemm_detail::NR, 8};
}  // namespace

const gemm_detail::Kernels& gemm_kernels() { return kKernels; }

}  // namespace avx2
}  // namespace fastdl
