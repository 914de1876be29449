// AVX-512 build of the im2col / col2im / dot_nt bodies (this file alone gets -mavx512f) and
// the avx512 conv kernel table.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "conv_kernels.h"

namespace fastdl {
namespace avx512 {
namespace {
#include "im2col_impl.h"

struct V {
  using reg = __m512;
  static constexpr int64_t kLanes = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg load_tail(const float* p, int64_t n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p);
  }
  static reg fma(reg a, reg b, reg acc) { return _mm512_fmadd_ps(a, b, acc); }
  static float hsum(reg v) { return _mm512_reduce_add_ps(v); }
};
#include "dot_nt_impl.h"
}  // namespace

const ConvKernels& conv_kernels() {
  static const ConvKernels k{&im2col, &col2im, &dot_nt};
  return k;
}
}  // namespace avx512
}  // namespace fastdl
