// FMA peak loop, avx2 path: 12 independent chains of 8-lane ymm (AVX2 + FMA) FMAs.
#include <immintrin.h>

#include <cstdint>

#include "peak_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {
struct Vec {
  using type = __m256;
  static constexpr int kLanes = 8;
  static type set1(float v) { return _mm256_set1_ps(v); }
  static type fmadd(type a, type b, type c) { return _mm256_fmadd_ps(a, b, c); }
  static type add(type a, type b) { return _mm256_add_ps(a, b); }
  static void store(float* p, type v) { _mm256_store_ps(p, v); }
};
#include "peak_impl.h"
}  // namespace

const PeakKernels& peak_kernels() {
  static const PeakKernels k{&fma_loop_impl<Vec>, int64_t{kChains} * Vec::kLanes * 2};
  return k;
}
}  // namespace avx2
}  // namespace fastdl
