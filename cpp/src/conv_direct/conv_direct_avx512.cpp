// AVX-512F build of the direct convolution kernels (this file alone gets -mavx512f): channel
// block 16, forward tiles up to 14 pixels x 2 blocks (28 zmm accumulators + 2 weights + 1
// broadcast) or 14 x 1. Everything here has internal linkage except avx512::conv_direct_kernels().
#include <immintrin.h>

#include <cstdint>

#include "conv_direct_kernels.h"

namespace fastdl {
namespace avx512 {
namespace {
constexpr int VL = 16, NKB = 4, UR1 = 14, UR2 = 14, UR3 = 9, UR4 = 7;
using V = __m512;
inline V vzero() { return _mm512_setzero_ps(); }
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
inline V vbcast(float x) { return _mm512_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
// c + broadcast(*x) * b with the broadcast as the FMA's memory operand ({1to16}): the 4-block
// tile (28 accumulators + 4 weight vectors) then needs no register for the input value.
inline V vfma_bcast(const float* x, V b, V c) {
  __asm__("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(c) : "m"(*x), "v"(b));
  return c;
}
// dst[j * ldd + i] = src[i * lds + j] for i, j < 16: unpack pairs of rows, then pairs of pairs,
// then exchange 128-bit lanes twice (64 shuffles for 256 floats).
inline void transpose_tile(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, r[i]);
}
#include "conv_direct_impl.h"
}  // namespace

const ConvDirectKernels& conv_direct_kernels() { return make_table(); }
}  // namespace avx512
}  // namespace fastdl
