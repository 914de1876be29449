// AVX2/FMA build of the im2col / col2im / dw_small bodies (this file alone gets -mavx2 -mfma)
// and the avx2 conv kernel table.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "../core/simd_avx2.h"
#include "conv_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {
#include "im2col_impl.h"

struct V {  // 3 x 3 tile: 9 accumulators + 4 operands of the 16 ymm registers
  using reg = __m256;
  static constexpr int kMR = 3, kNR = 3;
  static constexpr int64_t kLanes = 8;
  static constexpr int kFM = 3, kFV = 3;  // flat tile: 9 accumulators, 3 weights, 1 input
  static constexpr int kDwMV = 2, kDwNR = 1, kDwNS = 5;  // weight-gradient tile: 16 channels x 1x5 taps
  static constexpr int kFwdMV = 2, kFwdA[2] = {1, 6}, kFwdB[2] = {2, 3};  // forward tiles: 12 accumulators
  static reg set1(float f) { return _mm256_set1_ps(f); }
  static reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load_n(const float* p, int64_t n) {
    return n == kLanes ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tail_mask(n));
  }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg fma(reg a, reg b, reg acc) { return _mm256_fmadd_ps(a, b, acc); }
  static float hsum(reg v) { return avx2::hsum(v); }
};
#include "dw_small_impl.h"
#include "flat_impl.h"
}  // namespace

const ConvKernels& conv_kernels() {
  static const ConvKernels k{&im2col, &col2im, &dw_small, &flat, &flat_scatter, &flat_dwv,
                             V::kDwMV * V::kLanes, V::kDwNR, V::kDwNS, V::kLanes,
                             &flat_fwdv, V::kFwdMV * V::kLanes, {{V::kFwdA[0], V::kFwdA[1]}, {V::kFwdB[0], V::kFwdB[1]}}};
  return k;
}
}  // namespace avx2
}  // namespace fastdl
