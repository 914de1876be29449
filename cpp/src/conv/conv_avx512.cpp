// AVX-512 build of the im2col / col2im / dw_small bodies (this file alone gets -mavx512f) and
// the avx512 conv kernel table.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "conv_kernels.h"

namespace fastdl {
namespace avx512 {
namespace {
#include "im2col_impl.h"

struct V {  // 4 x 5 tile: 20 accumulators + 6 operands of the 32 zmm registers
  using reg = __m512;
  static constexpr int kMR = 4, kNR = 5;
  static constexpr int64_t kLanes = 16;
  static constexpr int kFM = 6, kFV = 4;  // flat tile: 24 accumulators, 6 weights, 1 input
  static constexpr int kDwMV = 1, kDwNR = 5, kDwNS = 5;  // weight-gradient tile: 16 channels x 5x5 taps
  static constexpr int kFwdMV = 1, kFwdA[2] = {3, 8}, kFwdB[2] = {2, 12};  // forward tiles: 24 accumulators
  static reg set1(float f) { return _mm512_set1_ps(f); }
  static reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load_n(const float* p, int64_t n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p);  // n <= 16
  }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg fma(reg a, reg b, reg acc) { return _mm512_fmadd_ps(a, b, acc); }
  static float hsum(reg v) { return _mm512_reduce_add_ps(v); }
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
}  // namespace avx512
}  // namespace fastdl
