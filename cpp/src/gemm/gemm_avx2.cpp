// SGEMM pieces for AVX2 + FMA (this file alone is compiled with -mavx2 -mfma): the 6x16
// micro-kernel (12 ymm accumulators, k unrolled by 4), the direct (unpacked) kernel with
// masked column edges. The packers are the portable ones (gemm_generic.cpp): they cost a few %
// of the packed path. Layout conventions: gemm_kernels.h.
// Everything here has internal linkage except avx2::gemm_kernels() (ODR trap, KERNELS.md 4.1).
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

// C = alpha * acc + beta * C on rows < mr, columns < nr, where acc is the MR x NR tile in a
// 32-byte aligned buffer (row i at acc + i * NR); beta == 0 never reads C. The kernels keep
// the tile in named registers and hand it over through this buffer: an aggregate indexed in
// loops would make GCC keep the accumulators in memory.
void store_tile(const float* acc, float* C, int64_t ldc, int mr, int nr, float alpha,
                float beta) {
  const __m256 va = _mm256_set1_ps(alpha);
  const __m256 vb = _mm256_set1_ps(beta);
  if (mr == MR && nr == NR) {
    if (beta == 0.0f) {
      for (int i = 0; i < MR; ++i) {
        _mm256_storeu_ps(C + i * ldc, _mm256_mul_ps(va, _mm256_load_ps(acc + i * NR)));
        _mm256_storeu_ps(C + i * ldc + 8, _mm256_mul_ps(va, _mm256_load_ps(acc + i * NR + 8)));
      }
    } else {
      for (int i = 0; i < MR; ++i) {
        float* c = C + i * ldc;
        _mm256_storeu_ps(c, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c),
                                            _mm256_mul_ps(va, _mm256_load_ps(acc + i * NR))));
        _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8),
                                                _mm256_mul_ps(va, _mm256_load_ps(acc + i * NR + 8))));
      }
    }
    return;
  }
  const __m256i m0 = lane_mask(nr);
  const __m256i m1 = lane_mask(nr - 8);
  for (int i = 0; i < mr; ++i) {
    float* c = C + i * ldc;
    __m256 r0 = _mm256_mul_ps(va, _mm256_load_ps(acc + i * NR));
    __m256 r1 = _mm256_mul_ps(va, _mm256_load_ps(acc + i * NR + 8));
    if (beta != 0.0f) {
      r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c, m0), r0);
      r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c + 8, m1), r1);
    }
    _mm256_maskstore_ps(c, m0, r0);
    _mm256_maskstore_ps(c + 8, m1, r1);
  }
}

// Packed micro-kernel: a = packed A micro-panel (kc x MR), b = packed B micro-panel (kc x NR,
// 32-byte aligned). Rows >= mr / columns >= nr are computed on the zero padding, not stored.
// The k-loop is inline assembly (unrolled by 4, then a 1-step tail) with the register plan of
// BLIS's haswell 6x16 kernel: ymm0-11 accumulate row i in ymm(2i), ymm(2i+1); ymm12-13 hold the
// B row; ymm14-15 alternate the A broadcasts. GCC's allocator spills an intrinsics version.
// The tile leaves through a 384-byte stack buffer (12 stores per kc*12 FMAs).
void kernel_packed(int64_t kc, const float* a, const float* b, float* C, int64_t ldc, int mr,
                   int nr, float alpha, float beta) {
  alignas(32) float acc[MR * NR];
  for (int i = 0; i < mr; ++i) _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
  int64_t n4 = kc >> 2;
  int64_t n1 = kc & 3;
  __asm__ volatile(
      "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
      "vxorps %%ymm1, %%ymm1, %%ymm1\n\t"
      "vxorps %%ymm2, %%ymm2, %%ymm2\n\t"
      "vxorps %%ymm3, %%ymm3, %%ymm3\n\t"
      "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"
      "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"
      "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"
      "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"
      "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"
      "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"
      "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"
      "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"
      "test %[n4], %[n4]\n\t"
      "jz 2f\n\t"
      ".p2align 4\n\t"
      "1:\n\t"
      "prefetcht0 384(%[a])\n\t"
      "vmovaps 0(%[b]), %%ymm12\n\t"
      "vmovaps 32(%[b]), %%ymm13\n\t"
      "vbroadcastss 0(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 4(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 8(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 12(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 16(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 20(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovaps 64(%[b]), %%ymm12\n\t"
      "vmovaps 96(%[b]), %%ymm13\n\t"
      "vbroadcastss 24(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 28(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 32(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 36(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 40(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 44(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovaps 128(%[b]), %%ymm12\n\t"
      "vmovaps 160(%[b]), %%ymm13\n\t"
      "vbroadcastss 48(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 52(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 56(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 60(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 64(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 68(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovaps 192(%[b]), %%ymm12\n\t"
      "vmovaps 224(%[b]), %%ymm13\n\t"
      "vbroadcastss 72(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 76(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 80(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 84(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 88(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 92(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "add $96, %[a]\n\t"
      "add $256, %[b]\n\t"
      "dec %[n4]\n\t"
      "jnz 1b\n\t"
      "2:\n\t"
      "test %[n1], %[n1]\n\t"
      "jz 4f\n\t"
      "3:\n\t"
      "vmovaps 0(%[b]), %%ymm12\n\t"
      "vmovaps 32(%[b]), %%ymm13\n\t"
      "vbroadcastss 0(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 4(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 8(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 12(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 16(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 20(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "add $24, %[a]\n\t"
      "add $64, %[b]\n\t"
      "dec %[n1]\n\t"
      "jnz 3b\n\t"
      "4:\n\t"
      "vmovaps %%ymm0, 0(%[acc])\n\t"
      "vmovaps %%ymm1, 32(%[acc])\n\t"
      "vmovaps %%ymm2, 64(%[acc])\n\t"
      "vmovaps %%ymm3, 96(%[acc])\n\t"
      "vmovaps %%ymm4, 128(%[acc])\n\t"
      "vmovaps %%ymm5, 160(%[acc])\n\t"
      "vmovaps %%ymm6, 192(%[acc])\n\t"
      "vmovaps %%ymm7, 224(%[acc])\n\t"
      "vmovaps %%ymm8, 256(%[acc])\n\t"
      "vmovaps %%ymm9, 288(%[acc])\n\t"
      "vmovaps %%ymm10, 320(%[acc])\n\t"
      "vmovaps %%ymm11, 352(%[acc])\n\t"
      : [a] "+r"(a), [b] "+r"(b), [n4] "+r"(n4), [n1] "+r"(n1)
      : [acc] "r"(acc)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
  store_tile(acc, C, ldc, mr, nr, alpha, beta);
}

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
  alignas(32) float acc[MR * NR];
  _mm256_store_ps(acc + 0, c00);
  _mm256_store_ps(acc + 8, c01);
  _mm256_store_ps(acc + 16, c10);
  _mm256_store_ps(acc + 24, c11);
  _mm256_store_ps(acc + 32, c20);
  _mm256_store_ps(acc + 40, c21);
  _mm256_store_ps(acc + 48, c30);
  _mm256_store_ps(acc + 56, c31);
  _mm256_store_ps(acc + 64, c40);
  _mm256_store_ps(acc + 72, c41);
  _mm256_store_ps(acc + 80, c50);
  _mm256_store_ps(acc + 88, c51);
  store_tile(acc, C, ldc, mr, nr, alpha, beta);
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

const gemm_detail::Kernels kKernels = {macro, direct, gemm_detail::pack_a_generic,
                                       gemm_detail::pack_b_generic};
}  // namespace

const gemm_detail::Kernels& gemm_kernels() { return kKernels; }

}  // namespace avx2
}  // namespace fastdl
