// AVX2/FMA build of the direct convolution kernels (this file alone gets -mavx2 -mfma): channel
// block 8, forward tiles up to 6 pixels x 2 blocks (12 ymm accumulators + 2 weights + 1
// broadcast) or 12 x 1. Everything here has internal linkage except avx2::conv_direct_kernels().
#include <immintrin.h>

#include <cstdint>

#include "conv_direct_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {
constexpr int VL = 8, NKB = 2, UR1 = 12, UR2 = 6, UR3 = 4, UR4 = 3;
using V = __m256;
inline V vzero() { return _mm256_setzero_ps(); }
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm256_storeu_ps(p, v); }
inline V vbcast(float x) { return _mm256_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
// dst[j * ldd + i] = src[i * lds + j] for i, j < 8 (unpack, shuffle, exchange 128-bit halves).
inline void transpose_tile(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
    t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
  }
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * ldd, t[i]);
}
inline V vfma_bcast(const float* x, V b, V c) { return vfma(vbcast(*x), b, c); }
#include "conv_direct_impl.h"
}  // namespace

const ConvDirectKernels& conv_direct_kernels() { return make_table(); }
}  // namespace avx2
}  // namespace fastdl
