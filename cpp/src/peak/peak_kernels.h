// Internal to cpp/src/peak: the per-ISA FMA loops behind fma_peak_gflops (peak.h).
#pragma once
#include <cstdint>

namespace fastdl {

struct PeakKernels {
  // Runs `iters` iterations of kChains independent vector FMA chains; returns a value that
  // depends on every chain (so the loop cannot be removed).
  float (*fma_loop)(int64_t iters, float seed);
  int64_t flops_per_iter;  // kChains * lanes * 2
};

namespace generic {
const PeakKernels& peak_kernels();
}
namespace avx2 {
const PeakKernels& peak_kernels();
}
namespace avx512 {
const PeakKernels& peak_kernels();
}

}  // namespace fastdl
