// FMA peak loop, avx2 path: 12 independent chains of 8-lane ymm (AVX2 + FMA) FMAs (enough to cover the
// FMA latency x throughput of current cores; 12 chains is BLIS's register budget too).
#include <immintrin.h>

#include "peak_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {
constexpr int kChains = 12, kLanes = 8;

float fma_loop(int64_t iters, float seed) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(seed * static_cast<float>(c + 1));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  __m256 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, acc[c]);
  alignas(64) float out[kLanes];
  _mm256_store_ps(out, s);
  float r = 0;
  for (int l = 0; l < kLanes; ++l) r += out[l];
  return r;
}
}  // namespace

const PeakKernels& peak_kernels() {
  static const PeakKernels k{&fma_loop, int64_t{kChains} * kLanes * 2};
  return k;
}
}  // namespace avx2
}  // namespace fastdl
