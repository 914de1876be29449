// FMA peak loop, portable path: 12 chains of 4-lane float multiply-adds (SSE on x86-64).
#include "peak_kernels.h"

namespace fastdl {
namespace generic {
namespace {
constexpr int kChains = 12, kLanes = 4;

float fma_loop(int64_t iters, float seed) {
  float acc[kChains][kLanes];
  for (int c = 0; c < kChains; ++c)
    for (int l = 0; l < kLanes; ++l) acc[c][l] = seed * static_cast<float>(c + l + 1);
  const float a = 0.999999f, b = 1e-7f;
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c)
#pragma omp simd
      for (int l = 0; l < kLanes; ++l) acc[c][l] = acc[c][l] * a + b;
  float s = 0;
  for (int c = 0; c < kChains; ++c)
    for (int l = 0; l < kLanes; ++l) s += acc[c][l];
  return s;
}
}  // namespace

const PeakKernels& peak_kernels() {
  static const PeakKernels k{&fma_loop, int64_t{kChains} * kLanes * 2};
  return k;
}
}  // namespace generic
}  // namespace fastdl
