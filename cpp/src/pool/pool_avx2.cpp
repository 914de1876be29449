// AVX2/FMA build of the per-plane pooling bodies (this file alone gets -mavx2 -mfma) and the
// avx2 pool kernel table, plus a
// vectorised row of the 2x2/2 max-pool: 8 outputs per step, branch-free (random data makes the
// scalar compare-and-update mispredict about half the time).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "pool_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {

// Taps a, b (row r0) and c, d (row r1) of the 2x2/2 windows of outputs [q, q + 8): the even /
// odd columns of 16 input columns, back in order (shuffle works per 128-bit lane, permute fixes
// the order).
inline void windows2x2(const float* r0, const float* r1, int64_t q, __m256* a, __m256* b, __m256* c, __m256* d) {
  const __m256 t0 = _mm256_loadu_ps(r0 + 2 * q), t1 = _mm256_loadu_ps(r0 + 2 * q + 8);
  const __m256 u0 = _mm256_loadu_ps(r1 + 2 * q), u1 = _mm256_loadu_ps(r1 + 2 * q + 8);
  *a = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(t0, t1, 0x88)), 0xD8));
  *b = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(t0, t1, 0xDD)), 0xD8));
  *c = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(u0, u1, 0x88)), 0xD8));
  *d = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(u0, u1, 0xDD)), 0xD8));
}

// PyTorch's rule per tap in row-major order (a, b, c, d): take the tap when it is greater than
// the running max or NaN. Indices are computed relative to `base` in int32 (needs 2*W < 2^31).
int64_t max2x2_row_simd(float* y, int64_t* idx, const float* r0, const float* r1, int64_t base, int64_t W,
                               int64_t Q) {
  if (W >= (int64_t(1) << 30)) return 0;
  const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i wv = _mm256_set1_epi32(static_cast<int32_t>(W));
  const __m256i base64 = _mm256_set1_epi64x(base);
  int64_t q = 0;
  for (; q + 8 <= Q; q += 8) {
    __m256 a, b, c, d;
    windows2x2(r0, r1, q, &a, &b, &c, &d);
    const __m256i ia = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(2 * q)), lane2);
    const __m256i ib = _mm256_add_epi32(ia, one);
    const __m256i ic = _mm256_add_epi32(ia, wv);
    const __m256i id = _mm256_add_epi32(ic, one);
    __m256 m = a;
    __m256 mi = _mm256_castsi256_ps(ia);
    __m256 t = _mm256_or_ps(_mm256_cmp_ps(b, m, _CMP_GT_OQ), _mm256_cmp_ps(b, b, _CMP_UNORD_Q));
    m = _mm256_blendv_ps(m, b, t);
    mi = _mm256_blendv_ps(mi, _mm256_castsi256_ps(ib), t);
    t = _mm256_or_ps(_mm256_cmp_ps(c, m, _CMP_GT_OQ), _mm256_cmp_ps(c, c, _CMP_UNORD_Q));
    m = _mm256_blendv_ps(m, c, t);
    mi = _mm256_blendv_ps(mi, _mm256_castsi256_ps(ic), t);
    t = _mm256_or_ps(_mm256_cmp_ps(d, m, _CMP_GT_OQ), _mm256_cmp_ps(d, d, _CMP_UNORD_Q));
    m = _mm256_blendv_ps(m, d, t);
    mi = _mm256_blendv_ps(mi, _mm256_castsi256_ps(id), t);
    _mm256_storeu_ps(y + q, m);
    const __m256i mi32 = _mm256_castps_si256(mi);
    const __m256i lo = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(mi32)), base64);
    const __m256i hi = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(mi32, 1)), base64);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + q), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + q + 4), hi);
  }
  return q;
}

// A whole plane of an undilated max-pool, 8 outputs of a row per vector: each lane is one output
// whose window is scanned in row-major order with PyTorch's rule (starting at -inf with the index
// of the first in-plane tap); a lane's taps outside the plane are masked off, so windows at the
// border need no separate path. The scalar loop of pool_impl.h was bound by its compare-select
// chain and by mispredicted branches (ResNet's 3x3/2 pool on 14x14 planes ran 5x slower than its
// BatchNorm; 2.8x faster now). Indices are int32 inside the plane (needs H*W < 2^31).
bool max_window_plane_simd(float* y, int64_t* idx, const float* x, const Pool2dParams& p) {
  const int64_t H = p.H, W = p.W;
  // Rows of over 32 outputs stay with the column loop, which vectorises there (measured: equal on
  // 56x56 3x3/1, 1.4x faster on 112x112 3x3/2, where the gathers cost more than its setup).
  if (p.dh != 1 || p.dw != 1 || p.Q > 32 || H * W >= (int64_t(1) << 31) || p.Q * p.sw + p.kw + p.pw >= (int64_t(1) << 30))
    return false;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i w_last = _mm256_set1_epi32(static_cast<int32_t>(W - 1));
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  for (int64_t oh = 0; oh < p.P; ++oh) {
    const int64_t h_lo = oh * p.sh - p.ph;
    const int64_t h0 = h_lo > 0 ? h_lo : 0, h1 = h_lo + p.kh < H ? h_lo + p.kh : H;
    for (int64_t q = 0; q < p.Q; q += 8) {
      const int32_t n = static_cast<int32_t>(p.Q - q < 8 ? p.Q - q : 8);
      const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
      // input column of tap s = 0 for each lane's output
      const __m256i c0 = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(q)), lane),
                                                             _mm256_set1_epi32(static_cast<int32_t>(p.sw))),
                                          _mm256_set1_epi32(static_cast<int32_t>(-p.pw)));
      __m256 m = neg_inf;
      // the first in-plane tap's index, or -1 for a window with none (as the general loop)
      const __m256i w0 = _mm256_max_epi32(c0, zero);
      __m256i mi = h0 < H ? _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(h0 * W)), w0) : zero;
      mi = _mm256_or_si256(mi, _mm256_or_si256(_mm256_cmpgt_epi32(w0, w_last), _mm256_set1_epi32(h0 < H ? 0 : -1)));
      for (int64_t ih = h0; ih < h1; ++ih) {
        const float* row = x + ih * W;
        const __m256i rbase = _mm256_set1_epi32(static_cast<int32_t>(ih * W));
        for (int64_t s = 0; s < p.kw; ++s) {
          const __m256i c = _mm256_add_epi32(c0, _mm256_set1_epi32(static_cast<int32_t>(s)));
          const __m256i inside = _mm256_andnot_si256(_mm256_or_si256(_mm256_cmpgt_epi32(zero, c), _mm256_cmpgt_epi32(c, w_last)), live);
          const __m256i cc = _mm256_min_epi32(_mm256_max_epi32(c, zero), w_last);
          const __m256 v = _mm256_i32gather_ps(row, cc, 4);
          const __m256 t = _mm256_and_ps(_mm256_castsi256_ps(inside),
                                         _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
          m = _mm256_blendv_ps(m, v, t);
          mi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(mi), _mm256_castsi256_ps(_mm256_add_epi32(rbase, c)), t));
        }
      }
      float* yo = y + oh * p.Q + q;
      int64_t* io = idx + oh * p.Q + q;
      const __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(mi));
      const __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(mi, 1));
      if (n == 8) {
        _mm256_storeu_ps(yo, m);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(io), lo);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(io + 4), hi);
      } else {
        _mm256_maskstore_ps(yo, live, m);
        _mm256_maskstore_epi64(reinterpret_cast<long long*>(io), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(live)), lo);
        _mm256_maskstore_epi64(reinterpret_cast<long long*>(io + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(live, 1)), hi);
      }
    }
  }
  return true;
}

// Planes of at most this many inputs go through max_planes8 (its transposed tile: 8 KB).
constexpr int64_t kPlanes8MaxInputs = 256;

// dst[i * 8 + l] = src[l * stride + i] for i < n, l < 8: eight planes into one tile of
// 8-lane rows (8x8 register transposes, a scalar tail).
void transpose_planes8(float* dst, const float* src, int64_t stride, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 r[8];
    for (int l = 0; l < 8; ++l) r[l] = _mm256_loadu_ps(src + l * stride + i);
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    float* d = dst + i * 8;
    _mm256_storeu_ps(d + 0, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 16, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 24, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 32, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 40, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 48, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 56, _mm256_permute2f128_ps(u3, u7, 0x31));
  }
  for (; i < n; ++i)
    for (int l = 0; l < 8; ++l) dst[i * 8 + l] = src[l * stride + i];
}

// Eight planes per step, one per lane: the planes share the window geometry, so each output's
// in-plane taps are known without masks and read as plain 8-lane loads from the transposed tile,
// in row-major order with PyTorch's rule (start at -inf with the first in-plane tap's index,
// -1 when none; a greater value or a NaN replaces the running max), as the per-plane kernels.
int64_t max_planes8(float* y, int64_t* idx, const float* x, const Pool2dParams& p, int64_t planes) {
  const int64_t H = p.H, W = p.W, HW = H * W, P = p.P, Q = p.Q, PQ = P * Q;
  if (HW > kPlanes8MaxInputs || HW == 0 || planes < 8) return 0;
  alignas(32) float tile[kPlanes8MaxInputs * 8];
  alignas(32) float yv[8];
  alignas(32) int32_t iv[8];
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  int64_t g = 0;
  for (; g + 8 <= planes; g += 8) {
    transpose_planes8(tile, x + g * HW, HW, HW);
    for (int64_t oh = 0; oh < P; ++oh) {
      int64_t h0 = oh * p.sh - p.ph;
      const int64_t h1 = std::min<int64_t>(h0 + (p.kh - 1) * p.dh + 1, H);
      if (h0 < 0) h0 += ((-h0 + p.dh - 1) / p.dh) * p.dh;  // first tap inside the plane
      for (int64_t ow = 0; ow < Q; ++ow) {
        int64_t w0 = ow * p.sw - p.pw;
        const int64_t w1 = std::min<int64_t>(w0 + (p.kw - 1) * p.dw + 1, W);
        if (w0 < 0) w0 += ((-w0 + p.dw - 1) / p.dw) * p.dw;
        __m256 m = neg_inf;
        __m256i mi = _mm256_set1_epi32(h0 < H && w0 < W ? static_cast<int32_t>(h0 * W + w0) : -1);
        for (int64_t ih = h0; ih < h1; ih += p.dh)
          for (int64_t iw = w0; iw < w1; iw += p.dw) {
            const int32_t t = static_cast<int32_t>(ih * W + iw);
            const __m256 v = _mm256_load_ps(tile + t * 8);
            const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            m = _mm256_blendv_ps(m, v, take);
            mi = _mm256_castps_si256(
                _mm256_blendv_ps(_mm256_castsi256_ps(mi), _mm256_castsi256_ps(_mm256_set1_epi32(t)), take));
          }
        _mm256_store_ps(yv, m);
        _mm256_store_si256(reinterpret_cast<__m256i*>(iv), mi);
        const int64_t o = oh * Q + ow;
        for (int l = 0; l < 8; ++l) {
          y[(g + l) * PQ + o] = yv[l];
          idx[(g + l) * PQ + o] = iv[l];
        }
      }
    }
  }
  return g;
}

// One output row of the 2x2/2 average pool: y[q] = ((((0 + a) + b) + c) + d) / div (the scalar
// loop's order, so the same bits), 8 outputs per step; a partial last step is redone as the
// row's last 8 outputs (same values written twice: AMD's masked stores are slow). Returns how
// many outputs it wrote (0 when Q < 8: the scalar loop does the row).
int64_t avg2x2_row_simd(float* y, const float* r0, const float* r1, int64_t Q, float div) {
  if (Q < 8) return 0;
  const __m256 dv = _mm256_set1_ps(div);
  for (int64_t i = 0; i < Q; i += 8) {
    const int64_t q = i + 8 <= Q ? i : Q - 8;
    __m256 a, b, c, d;
    windows2x2(r0, r1, q, &a, &b, &c, &d);
    const __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_setzero_ps(), a), b), c), d);
    _mm256_storeu_ps(y + q, _mm256_div_ps(sum, dv));
  }
  return Q;
}

// One input row of the 2x2/2 average pool's backward: row[2q] = row[2q + 1] = g[q] / div for
// q < Q, 8 gradients per step, a partial last step redone as the last 8; returns how many
// gradients it spread (0 when Q < 8).
int64_t avg2x2_bwd_row_simd(float* row, const float* g, int64_t Q, float div) {
  if (Q < 8) return 0;
  const __m256 dv = _mm256_set1_ps(div);
  for (int64_t i = 0; i < Q; i += 8) {
    const int64_t q = i + 8 <= Q ? i : Q - 8;
    const __m256 v = _mm256_div_ps(_mm256_loadu_ps(g + q), dv);
    const __m256 lo = _mm256_unpacklo_ps(v, v), hi = _mm256_unpackhi_ps(v, v);  // v0 v0 v1 v1 | v4 v4 v5 v5 ...
    _mm256_storeu_ps(row + 2 * q, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(row + 2 * q + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  }
  return Q;
}

#include "pool_impl.h"

}  // namespace

const PoolKernels& pool_kernels() { return kPoolKernels; }

}  // namespace avx2
}  // namespace fastdl
