// Linear layer helpers: bias-filled SGEMM forward, column sums (dispatch + generic path).
#include "fastdl/linear.h"

#include <algorithm>
#include <cstring>

#include "fastdl/cpu.h"
#include "fastdl/gemm.h"
#include "fastdl/parallel.h"

namespace fastdl {

namespace generic {

void sum_rows(float* out, const float* x, int64_t M, int64_t ld, int64_t j0, int64_t j1) {
  constexpr int64_t kBlock = 64;
  for (int64_t jb = j0; jb < j1; jb += kBlock) {
    const int64_t nb = std::min(kBlock, j1 - jb);
    double tot[kBlock];
    float acc[kBlock];
    for (int64_t j = 0; j < nb; ++j) tot[j] = 0.0;
    for (int64_t i0 = 0; i0 < M; i0 += kSumRowsChunk) {
      const int64_t i1 = std::min(M, i0 + kSumRowsChunk);
      for (int64_t j = 0; j < nb; ++j) acc[j] = 0.0f;
      for (int64_t i = i0; i < i1; ++i) {
        const float* row = x + i * ld + jb;
        for (int64_t j = 0; j < nb; ++j) acc[j] += row[j];
      }
      for (int64_t j = 0; j < nb; ++j) tot[j] += static_cast<double>(acc[j]);
    }
    for (int64_t j = 0; j < nb; ++j) out[jb + j] = static_cast<float>(tot[j]);
  }
}

}  // namespace generic

// Columns per parallel task, and elements below which the sum stays serial (~20 us).
constexpr int64_t kSumColsPerTask = 32;
constexpr int64_t kSumSerialElems = int64_t(1) << 19;

void sum_rows(float* out, const float* x, int64_t M, int64_t N) {
  if (N <= 0) return;
  [[maybe_unused]] const bool v = use_avx2();
  const int64_t tasks = (N + kSumColsPerTask - 1) / kSumColsPerTask;
  const int64_t per_task = std::max<int64_t>(M, 1) * kSumColsPerTask;
  const int64_t grain = std::max<int64_t>(1, kSumSerialElems / 2 / per_task);
  parallel_for(0, tasks, grain, [&](int64_t lo, int64_t hi) {
    const int64_t j0 = lo * kSumColsPerTask, j1 = std::min(N, hi * kSumColsPerTask);
#ifdef FASTDL_HAVE_AVX2
    if (v) return avx2::sum_rows(out, x, M, N, j0, j1);
#endif
    generic::sum_rows(out, x, M, N, j0, j1);
  });
}

void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t M, int64_t N,
                    int64_t K) {
  if (M <= 0 || N <= 0) return;
  if (b != nullptr)
    for (int64_t i = 0; i < M; ++i) std::memcpy(y + i * N, b, static_cast<size_t>(N) * sizeof(float));
  sgemm(false, true, M, N, K, 1.0f, x, K, w, K, b != nullptr ? 1.0f : 0.0f, y, N);
}

}  // namespace fastdl
