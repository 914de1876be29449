// FMA peak loop, avx512 path: 12 independent chains of 16-lane zmm (AVX-512F) FMAs.
#include <immintrin.h>

#include <cstdint>

#include "peak_kernels.h"

namespace fastdl {
namespace avx512 {
namespace {
struct Vec {
  using type = __m512;
  static constexpr int kLanes = 16;
  static type set1(float v) { return _mm512_set1_ps(v); }
  static type fmadd(type a, type b, type c) { return _mm512_fmadd_ps(a, b, c); }
  static type add(type a, type b) { return _mm512_add_ps(a, b); }
  static void store(float* p, type v) { _mm512_store_ps(p, v); }
};
#include "peak_impl.h"
}  // namespace

const PeakKernels& peak_kernels() {
  static const PeakKernels k{&fma_loop_impl<Vec>, int64_t{kChains} * Vec::kLanes * 2};
  return k;
}
}  // namespace avx512
}  // namespace fastdl
