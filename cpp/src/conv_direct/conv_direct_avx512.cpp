// AVX-512F build of the direct convolution kernels (this file alone gets -mavx512f): channel
// block 16, forward tiles up to 14 pixels x 2 blocks (28 zmm accumulators + 2 weights + 1
// broadcast) or 14 x 1. Everything here has internal linkage except avx512::conv_direct_kernels().
#include <immintrin.h>

#include <cstdint>

#include "conv_direct_kernels.h"

namespace fastdl {
namespace avx512 {
namespace {
constexpr int VL = 16, UR1 = 14, UR2 = 14;
using V = __m512;
inline V vzero() { return _mm512_setzero_ps(); }
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
inline V vbcast(float x) { return _mm512_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
#include "conv_direct_impl.h"
}  // namespace

const ConvDirectKernels& conv_direct_kernels() { return make_table(); }
}  // namespace avx512
}  // namespace fastdl
