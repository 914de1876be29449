// FMA peak loop, avx512 path: 12 independent chains of 16-lane zmm (AVX-512F) FMAs (peak_impl.h).
#include <immintrin.h>

#include "peak_kernels.h"

namespace fastdl {
namespace avx512 {
namespace {
constexpr int kLanes = 16;
using Vec = __m512;
inline Vec vset1(float x) { return _mm512_set1_ps(x); }
inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline void vstore(float* out, Vec v) { _mm512_store_ps(out, v); }
#include "peak_impl.h"
}  // namespace

const PeakKernels& peak_kernels() {
  static const PeakKernels k{&fma_loop, int64_t{kChains} * kLanes * 2};
  return k;
}
}  // namespace avx512
}  // namespace fastdl
