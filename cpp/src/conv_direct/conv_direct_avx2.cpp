// AVX2/FMA build of the direct convolution kernels (this file alone gets -mavx2 -mfma): channel
// block 8, forward tiles up to 6 pixels x 2 blocks (12 ymm accumulators + 2 weights + 1
// broadcast) or 12 x 1. Everything here has internal linkage except avx2::conv_direct_kernels().
#include <immintrin.h>

#include <cstdint>

#include "conv_direct_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {
constexpr int VL = 8, UR1 = 12, UR2 = 6;
using V = __m256;
inline V vzero() { return _mm256_setzero_ps(); }
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm256_storeu_ps(p, v); }
inline V vbcast(float x) { return _mm256_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
#include "conv_direct_impl.h"
}  // namespace

const ConvDirectKernels& conv_direct_kernels() { return make_table(); }
}  // namespace avx2
}  // namespace fastdl
