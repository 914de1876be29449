// Linear layer helpers, AVX2 path: column sums (8 columns per register, 4 registers a step).
#include <immintrin.h>

#include "linear_kernels.h"

namespace fastdl {
namespace avx2 {

namespace {

// Columns [j, j + 8 * R) summed over rows [i0, i1) into R float registers, added to tot (double).
template <int R>
inline void block(double* tot, const float* x, int64_t ld, int64_t j, int64_t i0, int64_t i1) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t i = i0; i < i1; ++i) {
    const float* row = x + i * ld + j;
    for (int r = 0; r < R; ++r) acc[r] = _mm256_add_ps(acc[r], _mm256_loadu_ps(row + 8 * r));
  }
  for (int r = 0; r < R; ++r) {
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(acc[r]));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(acc[r], 1));
    double* t = tot + 8 * r;
    _mm256_storeu_pd(t, _mm256_add_pd(_mm256_loadu_pd(t), lo));
    _mm256_storeu_pd(t + 4, _mm256_add_pd(_mm256_loadu_pd(t + 4), hi));
  }
}


void sum_rows(float* out, const float* x, int64_t M, int64_t ld, int64_t j0, int64_t j1) {
  constexpr int64_t kW = 32;  // columns per step (4 registers)
  double tot[kW];
  int64_t j = j0;
  for (; j + 8 <= j1;) {
    const int64_t w = (j1 - j >= kW) ? kW : ((j1 - j) / 8) * 8;
    for (int64_t c = 0; c < w; ++c) tot[c] = 0.0;
    for (int64_t i0 = 0; i0 < M; i0 += kSumRowsChunk) {
      const int64_t i1 = (M - i0 > kSumRowsChunk) ? i0 + kSumRowsChunk : M;
      switch (w / 8) {
        case 4: block<4>(tot, x, ld, j, i0, i1); break;
        case 3: block<3>(tot, x, ld, j, i0, i1); break;
        case 2: block<2>(tot, x, ld, j, i0, i1); break;
        default: block<1>(tot, x, ld, j, i0, i1); break;
      }
    }
    for (int64_t c = 0; c < w; ++c) out[j + c] = static_cast<float>(tot[c]);
    j += w;
  }
  // Fewer than 8 columns left: scalar, same order (float within a chunk, chunks in double).
  for (; j < j1; ++j) {
    double t = 0.0;
    for (int64_t i0 = 0; i0 < M; i0 += kSumRowsChunk) {
      const int64_t i1 = (M - i0 > kSumRowsChunk) ? i0 + kSumRowsChunk : M;
      float a = 0.0f;
      for (int64_t i = i0; i < i1; ++i) a += x[i * ld + j];
      t += static_cast<double>(a);
    }
    out[j] = static_cast<float>(t);
  }
}

}  // namespace

const LinearKernels& linear_kernels() {
  static const LinearKernels k{&sum_rows};
  return k;
}

}  // namespace avx2
}  // namespace fastdl
