// FMA peak loop, avx2 path: 12 independent chains of 8-lane ymm (AVX2 + FMA) FMAs (peak_impl.h).
#include <immintrin.h>

#include "peak_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {
constexpr int kLanes = 8;
using Vec = __m256;
inline Vec vset1(float x) { return _mm256_set1_ps(x); }
inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline void vstore(float* out, Vec v) { _mm256_store_ps(out, v); }
#include "peak_impl.h"
}  // namespace

const PeakKernels& peak_kernels() {
  static const PeakKernels k{&fma_loop, int64_t{kChains} * kLanes * 2};
  return k;
}
}  // namespace avx2
}  // namespace fastdl
