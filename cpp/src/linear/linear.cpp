// Linear layer helpers: bias-filled SGEMM forward, column sums (dispatch and threading; the
// per-ISA column-sum kernels are in linear_generic.cpp / linear_avx2.cpp behind linear_kernels.h).
#include "fastdl/linear.h"

#include <algorithm>
#include <cstring>

#include "fastdl/cpu.h"
#include "fastdl/gemm.h"
#include "fastdl/parallel.h"
#include "linear_kernels.h"

namespace fastdl {

const LinearKernels& linear_kernels(Isa isa) {
  return select_kernels<LinearKernels>(isa, &generic::linear_kernels, FASTDL_AVX2_TABLE(avx2::linear_kernels),
                                       FASTDL_AVX512_TABLE(avx2::linear_kernels));
}

// Columns per parallel task, and elements below which the sum stays serial (~20 us).
constexpr int64_t kSumColsPerTask = 32;
constexpr int64_t kSumSerialElems = int64_t(1) << 19;

void sum_rows(float* out, const float* x, int64_t M, int64_t N) {
  if (N <= 0) return;
  const LinearKernels& kt = linear_kernels(active_isa());
  const int64_t tasks = (N + kSumColsPerTask - 1) / kSumColsPerTask;
  const int64_t per_task = std::max<int64_t>(M, 1) * kSumColsPerTask;
  const int64_t grain = std::max<int64_t>(1, kSumSerialElems / 2 / per_task);
  parallel_for(0, tasks, grain, [&](int64_t lo, int64_t hi) {
    const int64_t j0 = lo * kSumColsPerTask, j1 = std::min(N, hi * kSumColsPerTask);
    kt.sum_rows(out, x, M, N, j0, j1);
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
