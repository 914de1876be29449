// fma_peak_gflops: dispatch, timing and threading around the per-ISA FMA loops.
#include "fastdl/peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>

#include "../core/dispatch.h"
#include "fastdl/common.h"
#include "fastdl/parallel.h"
#include "peak_kernels.h"

namespace fastdl {
namespace {
const PeakKernels& peak_kernels(Isa isa) {
  return select_kernels<PeakKernels>(isa, &generic::peak_kernels, FASTDL_AVX2_TABLE(avx2::peak_kernels),
                                     FASTDL_AVX512_TABLE(avx512::peak_kernels));
}

// Seconds to run `iters` iterations on every thread at once.
double timed_run(const PeakKernels& k, int64_t iters, int threads) {
  std::atomic<int> sink{0};
  const auto t0 = std::chrono::steady_clock::now();
  parallel_for(0, threads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t)
      if (k.fma_loop(iters, 1.0f + static_cast<float>(t)) == 12345.0f) sink.fetch_add(1);
  });
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count() + 0.0 * sink.load();
}
}  // namespace

double fma_peak_gflops(Isa isa, double seconds) {
  FASTDL_CHECK(seconds > 0 && seconds <= 60, "fma_peak: seconds must be in (0, 60], got " + std::to_string(seconds));
  const PeakKernels& k = peak_kernels(isa);
  const int threads = get_num_threads();
  // Calibrate the iteration count to ~seconds / 5 per repetition, then keep the best of 5.
  int64_t iters = 1 << 16;
  double t = timed_run(k, iters, threads);
  while (t < 0.01 && iters < (int64_t{1} << 40)) {
    iters *= 4;
    t = timed_run(k, iters, threads);
  }
  iters = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iters) * (seconds / 5) / t));
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double s = timed_run(k, iters, threads);
    best = std::max(best, static_cast<double>(iters) * k.flops_per_iter * threads / s * 1e-9);
  }
  return best;
}

}  // namespace fastdl
