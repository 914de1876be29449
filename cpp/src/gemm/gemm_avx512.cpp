// SGEMM pieces for AVX-512F (this file alone is compiled with -mavx512f -mavx2 -mfma): the
// KMR x 32 micro-kernel (2 zmm per B row, 2 * KMR zmm accumulators, A broadcast straight into
// the FMA), the direct (unpacked) kernel, and packers for KMR-tall A / 32-wide B panels. Edge
// tiles use __mmask16 loads and stores. Layout conventions: gemm_kernels.h (with MR = KMR and
// NR = 32 here; the table carries them to the driver).
// Everything here has internal linkage except avx512::gemm_kernels() (ODR trap, docs/kernels.md §3).
#include <immintrin.h>

#include "gemm_kernels.h"

namespace fastdl {
namespace avx512 {
namespace {

constexpr int KMR = 12;  // rows of the register tile (24 accumulators + 2 B + 1 broadcast)
constexpr int KNR = 32;  // columns: two zmm

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Lanes j < n set, n clamped to [0, 16].
inline __mmask16 lane_mask(int n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// C = alpha * acc + beta * C on rows < mr (of R) and columns < nr (of 16 * NV); beta == 0
// never reads C. c0[i] / c1[i] hold columns 0-15 / 16-31 of row i (c1 unused when NV == 1).
template <int R, int NV>
inline __attribute__((always_inline)) void store_tile(const __m512 (&c0)[R],
                                                      const __m512 (&c1)[R], float* C,
                                                      int64_t ldc, int mr, int nr, float alpha,
                                                      float beta) {
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
  if (nr == 16 * NV) {
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      if (i >= mr) break;
      float* c = C + i * ldc;
      __m512 r0 = _mm512_mul_ps(va, c0[i]);
      if (beta != 0.0f) r0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c), r0);
      _mm512_storeu_ps(c, r0);
      if (NV == 2) {
        __m512 r1 = _mm512_mul_ps(va, c1[i]);
        if (beta != 0.0f) r1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + 16), r1);
        _mm512_storeu_ps(c + 16, r1);
      }
    }
    return;
  }
  const __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    if (i >= mr) break;
    float* c = C + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, c0[i]);
    if (beta != 0.0f) r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
    _mm512_mask_storeu_ps(c, m0, r0);
    if (NV == 2) {
      __m512 r1 = _mm512_mul_ps(va, c1[i]);
      if (beta != 0.0f) r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
      _mm512_mask_storeu_ps(c + 16, m1, r1);
    }
  }
}

// Packed micro-kernel on the top R rows and first 16 * NV columns of a KMR x 32 tile:
// a = packed A micro-panel (kc x KMR), b = packed B micro-panel (kc x 32). Rows >= mr /
// columns >= nr inside the R x 16NV tile are computed on the zero padding and not stored.
template <int R, int NV>
void kernel_packed(int64_t kc, const float* a, const float* b, float* C, int64_t ldc, int mr,
                   int nr, float alpha, float beta) {
  __m512 c0[R], c1[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    const char* c = reinterpret_cast<const char*>(C + min64(i, mr - 1) * ldc);
    _mm_prefetch(c, _MM_HINT_T0);
    if (NV == 2) _mm_prefetch(c + 64, _MM_HINT_T0);  // 2nd line (prefetch never faults)
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k, a += KMR, b += KNR) {
    const __m512 b0 = _mm512_loadu_ps(b);
    __m512 b1 = b0;
    if (NV == 2) b1 = _mm512_loadu_ps(b + 16);
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * KMR), _MM_HINT_T0);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
      if (NV == 2) c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
    }
  }
  store_tile<R, NV>(c0, c1, C, ldc, mr, nr, alpha, beta);
}

// Edge tiles use the shortest kernel that covers them: no FMAs on whole zero-padded vectors.
template <int NV>
void macro_cols(int64_t mc, int64_t kc, const float* Ap, const float* b, float* C, int64_t ldc,
                int nr, float alpha, float beta) {
  for (int64_t ir = 0; ir < mc; ir += KMR) {
    const int mr = static_cast<int>(min64(KMR, mc - ir));
    const float* a = Ap + ir * kc;
    float* c = C + ir * ldc;
    if (mr > 8)
      kernel_packed<KMR, NV>(kc, a, b, c, ldc, mr, nr, alpha, beta);
    else if (mr > 4)
      kernel_packed<8, NV>(kc, a, b, c, ldc, mr, nr, alpha, beta);
    else
      kernel_packed<4, NV>(kc, a, b, c, ldc, mr, nr, alpha, beta);
  }
}

void macro(int64_t mc, int64_t nc, int64_t kc, const float* Ap, const float* Bp, float* C,
           int64_t ldc, float alpha, float beta) {
  for (int64_t jr = 0; jr < nc; jr += KNR) {
    const int nr = static_cast<int>(min64(KNR, nc - jr));
    if (nr > 16)
      macro_cols<2>(mc, kc, Ap, Bp + jr * kc, C + jr, ldc, nr, alpha, beta);
    else
      macro_cols<1>(mc, kc, Ap, Bp + jr * kc, C + jr, ldc, nr, alpha, beta);
  }
}

// Direct tile of R rows x 16 * NV columns: A(i, k) = A[off_i + k * a_cs] where rows past mr
// repeat the last valid row (computed, never stored: no out-of-bounds read); B read in place,
// masked past nr.
template <int R, int NV, bool kMasked>
void kernel_direct(int64_t K, const float* A, int64_t a_rs, int64_t a_cs, const float* B,
                   int64_t ldb, float* C, int64_t ldc, int mr, int nr, float alpha, float beta) {
  __m512 c0[R], c1[R];
  int64_t off[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    c0[i] = c1[i] = _mm512_setzero_ps();
    off[i] = min64(i, mr - 1) * a_rs;
  }
  const __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
  for (int64_t k = 0; k < K; ++k, A += a_cs, B += ldb) {
    const __m512 b0 = kMasked ? _mm512_maskz_loadu_ps(m0, B) : _mm512_loadu_ps(B);
    __m512 b1 = b0;
    if (NV == 2) b1 = kMasked ? _mm512_maskz_loadu_ps(m1, B + 16) : _mm512_loadu_ps(B + 16);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(A[off[i]]);
      c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
      if (NV == 2) c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
    }
  }
  store_tile<R, NV>(c0, c1, C, ldc, mr, nr, alpha, beta);
}

// Column tail of at most 8: one ymm per row (on a double-pumped AVX-512 core a zmm FMA costs
// two ymm ones, so a zmm tile would spend half its FMAs on idle lanes). Same per-output
// summation (one FMA per k, in order) as the zmm tiles.
template <int R>
void kernel_direct_narrow(int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
                          const float* B, int64_t ldb, float* C, int64_t ldc, int mr, int nr,
                          float alpha, float beta) {
  __m256 c[R];
  int64_t off[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    c[i] = _mm256_setzero_ps();
    off[i] = min64(i, mr - 1) * a_rs;
  }
  const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int64_t k = 0; k < K; ++k, A += a_cs, B += ldb) {
    const __m256 b = _mm256_maskload_ps(B, m);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) c[i] = _mm256_fmadd_ps(_mm256_set1_ps(A[off[i]]), b, c[i]);
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    if (i >= mr) break;
    __m256 r = _mm256_mul_ps(va, c[i]);
    if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_maskload_ps(C + i * ldc, m), r);
    _mm256_maskstore_ps(C + i * ldc, m, r);
  }
}

// One band of at most R rows: full 32-column tiles, then the column tail (8, 16 or 32 wide).
template <int R>
void direct_rows(int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs,
                 const float* B, int64_t ldb, float* c, int64_t ldc, int mr, float alpha,
                 float beta) {
  int64_t j0 = 0;
  for (; j0 + KNR <= N; j0 += KNR)
    kernel_direct<R, 2, false>(K, a, a_rs, a_cs, B + j0, ldb, c + j0, ldc, mr, KNR, alpha, beta);
  const int nr = static_cast<int>(N - j0);
  if (nr == 16)
    kernel_direct<R, 1, false>(K, a, a_rs, a_cs, B + j0, ldb, c + j0, ldc, mr, nr, alpha, beta);
  else if (nr > 16)
    kernel_direct<R, 2, true>(K, a, a_rs, a_cs, B + j0, ldb, c + j0, ldc, mr, nr, alpha, beta);
  else if (nr > 8)
    kernel_direct<R, 1, true>(K, a, a_rs, a_cs, B + j0, ldb, c + j0, ldc, mr, nr, alpha, beta);
  else if (nr > 0)
    kernel_direct_narrow<R>(K, a, a_rs, a_cs, B + j0, ldb, c + j0, ldc, mr, nr, alpha, beta);
}

// Row bands of KMR; a short last band (<= 4 rows) is merged with the band before it and the
// two split evenly (M = 16: 8 + 8, not 12 + 4: a 4-row tile has too few accumulators to hide
// the FMA latency behind its broadcasts). Bands of <= 2, 4, 6, 8 or 10 rows use a shorter tile
// (no wasted FMAs on repeated rows for e.g. M = 6). The band split does not change any
// output's summation order.
void direct(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
            const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, float beta) {
  for (int64_t i0 = 0; i0 < M;) {
    const int64_t rest = M - i0;
    int mr = static_cast<int>(min64(KMR, rest));
    if (rest > KMR && rest <= KMR + 4) mr = static_cast<int>((rest + 1) / 2);
    const float* a = A + i0 * a_rs;
    float* c = C + i0 * ldc;
    if (mr <= 2)
      direct_rows<2>(N, K, a, a_rs, a_cs, B, ldb, c, ldc, mr, alpha, beta);
    else if (mr <= 4)
      direct_rows<4>(N, K, a, a_rs, a_cs, B, ldb, c, ldc, mr, alpha, beta);
    else if (mr <= 6)
      direct_rows<6>(N, K, a, a_rs, a_cs, B, ldb, c, ldc, mr, alpha, beta);
    else if (mr <= 8)
      direct_rows<8>(N, K, a, a_rs, a_cs, B, ldb, c, ldc, mr, alpha, beta);
    else if (mr <= 10)  // M = 10: the weight gradient of a 10-class layer
      direct_rows<10>(N, K, a, a_rs, a_cs, B, ldb, c, ldc, mr, alpha, beta);
    else
      direct_rows<KMR>(N, K, a, a_rs, a_cs, B, ldb, c, ldc, mr, alpha, beta);
    i0 += mr;
  }
}

// GCC 12 flags the _mm512_undefined_ps() pass-through inside its own shuffle/unpack intrinsics
// as maybe-uninitialized (a false positive: the unmasked forms never read it).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// In-register 16 x 16 transpose: r[j][k] -> r[k][j] (unpack, shuffle_ps, 2x shuffle_f32x4).
inline __attribute__((always_inline)) void transpose16(__m512 (&r)[16]) {
  __m512 t[16], u[16];
#pragma GCC unroll 8
  for (int g = 0; g < 8; ++g) {
    t[2 * g] = _mm512_unpacklo_ps(r[2 * g], r[2 * g + 1]);
    t[2 * g + 1] = _mm512_unpackhi_ps(r[2 * g], r[2 * g + 1]);
  }
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {  // lane L of u[4g + m]: (rows 4g..4g+3, column 4L + m)
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (int m = 0; m < 4; ++m) {
    const __m512 v = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88);
    const __m512 vp = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xDD);
    const __m512 w = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
    const __m512 wp = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xDD);
    r[m] = _mm512_shuffle_f32x4(v, w, 0x88);
    r[4 + m] = _mm512_shuffle_f32x4(vp, wp, 0x88);
    r[8 + m] = _mm512_shuffle_f32x4(v, w, 0xDD);
    r[12 + m] = _mm512_shuffle_f32x4(vp, wp, 0xDD);
  }
}

// Transposing copy: dst[k * dst_stride + j] = src[j * src_stride + k] for j < rows (<= 16),
// k < kc; lanes j >= rows of each written vector are zero and only lanes under `store_mask`
// are written.
void pack_transposed(int64_t kc, int rows, const float* src, int64_t src_stride, float* dst,
                     int64_t dst_stride, __mmask16 store_mask) {
  __m512 r[16];
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int kn = static_cast<int>(min64(16, kc - k0));
    const __mmask16 m = lane_mask(kn);
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j)
      r[j] = j < rows ? _mm512_maskz_loadu_ps(m, src + j * src_stride + k0) : _mm512_setzero_ps();
    transpose16(r);
    float* d = dst + k0 * dst_stride;
#pragma GCC unroll 16
    for (int k = 0; k < 16; ++k)
      if (k < kn) _mm512_mask_storeu_ps(d + k * dst_stride, store_mask, r[k]);
  }
}

#pragma GCC diagnostic pop

// ---- Dot path (few columns, long K; gemm_kernels.h): lanes hold k mod 16 and every output is
// reduced by the same lane tree (reduce4), so its value does not depend on its tile.

// GCC 12 flags the _mm512_undefined_ps() pass-through of its shuffle_f32x4 as uninitialized
// (a false positive: the unmasked form never reads it).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The four horizontal sums of a, b, c, d in lanes 0-3: lanes i + i+8, then + i+4, + i+2, + i+1.
// AVX-512F only (no VL): the result stays a zmm.
inline __attribute__((always_inline)) __m512 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  // 128-bit chunk q of s: the 4 partial sums of (a, b, c, d)[q]
  __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  s = _mm512_add_ps(s, _mm512_shuffle_ps(s, s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm512_add_ps(s, _mm512_shuffle_ps(s, s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), s);
}
#pragma GCC diagnostic pop

// R x NC tile (R, NC <= 4): C(i, j) = alpha * <A row i, Bt row j> + beta * C(i, j).
template <int R, int NC>
void kernel_dot(int64_t K, const float* A, int64_t lda, const float* Bt, int64_t ldbt, float* C,
                int64_t ldc, float alpha, float beta) {
  __m512 acc[R][4];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_setzero_ps();
  // Lanes hold k mod 16; `load` reads 16 floats (zeros past K in the masked tail).
  auto step = [&](int64_t k, auto load) {
    __m512 b[NC];
#pragma GCC unroll 4
    for (int j = 0; j < NC; ++j) b[j] = load(Bt + j * ldbt + k);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m512 a = load(A + i * lda + k);
#pragma GCC unroll 4
      for (int j = 0; j < NC; ++j) acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
    }
  };
  int64_t k = 0;
#pragma GCC unroll 2
  for (; k + 16 <= K; k += 16) step(k, [](const float* p) { return _mm512_loadu_ps(p); });
  if (k < K) {
    const __mmask16 m = lane_mask(static_cast<int>(K - k));
    step(k, [m](const float* p) { return _mm512_maskz_loadu_ps(m, p); });
  }
  const __mmask16 mc = lane_mask(NC);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
    __m512 r = _mm512_mul_ps(va, reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
    float* c = C + i * ldc;
    if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mc, c), r);
    _mm512_mask_storeu_ps(c, mc, r);
  }
}

#include "dot_impl.h"

const DotTile kDotTiles[4][4] = {
    {kernel_dot<1, 1>, kernel_dot<1, 2>, kernel_dot<1, 3>, kernel_dot<1, 4>},
    {kernel_dot<2, 1>, kernel_dot<2, 2>, kernel_dot<2, 3>, kernel_dot<2, 4>},
    {kernel_dot<3, 1>, kernel_dot<3, 2>, kernel_dot<3, 3>, kernel_dot<3, 4>},
    {kernel_dot<4, 1>, kernel_dot<4, 2>, kernel_dot<4, 3>, kernel_dot<4, 4>},
};

// A row-major op(B) is first transposed into `work` by 16 x 16 register transposes.
void dot(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
         int64_t b_rs, int64_t b_cs, float* work, float* C, int64_t ldc, float alpha, float beta) {
  const float* Bt = B;
  int64_t ldbt = b_cs;
  if (b_rs != 1) {  // B(k, j) = B[k * b_rs + j]: work[j * K + k]
    for (int64_t k0 = 0; k0 < K; k0 += 16) {
      const int kn = static_cast<int>(min64(16, K - k0));
      pack_transposed(N, kn, B + k0 * b_rs, b_rs, work + k0, K, lane_mask(kn));
    }
    Bt = work;
    ldbt = K;
  }
  dot_tiles(kDotTiles, 4, M, N, K, A, lda, Bt, ldbt, C, ldc, alpha, beta);
}

// Packed A: KMR-row micro-panels, element (i, k) at [k * KMR + i], rows past mc zero.
void pack_a(int64_t mc, int64_t kc, const float* A, int64_t a_rs, int64_t a_cs, float* Ap) {
  for (int64_t i0 = 0; i0 < mc; i0 += KMR, Ap += KMR * kc) {
    const int mr = static_cast<int>(min64(KMR, mc - i0));
    if (a_rs == 1) {  // A^T in memory: the mr values of one k are contiguous
      const __mmask16 m = lane_mask(mr);
      const float* src = A + i0;
      for (int64_t k = 0; k < kc; ++k, src += a_cs) {
        // KMR <= 16: one masked load, one masked store (writes only the panel's KMR floats).
        _mm512_mask_storeu_ps(Ap + k * KMR, lane_mask(KMR), _mm512_maskz_loadu_ps(m, src));
      }
    } else if (a_cs == 1) {  // row-major A: each row is contiguous in k
      pack_transposed(kc, mr, A + i0 * a_rs, a_rs, Ap, KMR, lane_mask(KMR));
    } else {
      for (int i = 0; i < KMR; ++i)
        for (int64_t k = 0; k < kc; ++k)
          Ap[k * KMR + i] = i < mr ? A[(i0 + i) * a_rs + k * a_cs] : 0.0f;
    }
  }
}

// Packed B: 32-column micro-panels, element (k, j) at [k * 32 + j], columns past nc zero.
void pack_b(int64_t kc, int64_t nc, const float* B, int64_t b_rs, int64_t b_cs, float* Bp) {
  for (int64_t j0 = 0; j0 < nc; j0 += KNR, Bp += KNR * kc) {
    const int nr = static_cast<int>(min64(KNR, nc - j0));
    if (b_cs == 1) {  // row-major B: nr consecutive values per k
      const __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
      const float* src = B + j0;
      float* d = Bp;
      if (nr == KNR) {
        for (int64_t k = 0; k < kc; ++k, src += b_rs, d += KNR) {
          _mm512_storeu_ps(d, _mm512_loadu_ps(src));
          _mm512_storeu_ps(d + 16, _mm512_loadu_ps(src + 16));
        }
      } else {
        for (int64_t k = 0; k < kc; ++k, src += b_rs, d += KNR) {
          _mm512_storeu_ps(d, _mm512_maskz_loadu_ps(m0, src));
          _mm512_storeu_ps(d + 16, _mm512_maskz_loadu_ps(m1, src + 16));
        }
      }
    } else if (b_rs == 1) {  // B^T in memory: column j of op(B) is contiguous in k
      const float* src = B + j0 * b_cs;
      pack_transposed(kc, min64(nr, 16), src, b_cs, Bp, KNR, 0xFFFF);
      pack_transposed(kc, nr > 16 ? nr - 16 : 0, src + 16 * b_cs, b_cs, Bp + 16, KNR, 0xFFFF);
    } else {
      for (int j = 0; j < KNR; ++j)
        for (int64_t k = 0; k < kc; ++k)
          Bp[k * KNR + j] = j < nr ? B[(j0 + j) * b_cs + k * b_rs] : 0.0f;
    }
  }
}

static_assert(KMR <= 16, "pack_a's A^T branch moves one panel column with one zmm");

const gemm_detail::Kernels kKernels = {macro, direct, dot, pack_a, pack_b, KMR, KNR, 16, 8};
}  // namespace

const gemm_detail::Kernels& gemm_kernels() { return kKernels; }

}  // namespace avx512
}  // namespace fastdl
