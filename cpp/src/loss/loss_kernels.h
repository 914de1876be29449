// Internal: the per-ISA kernel table of the loss family (see core/dispatch.h): the fused
// cross-entropy on a block of rows and binary_cross_entropy_with_logits on a chunk of n values.
// Entries are serial; loss.cpp splits the work over threads and merges the per-chunk totals in
// chunk order. Arguments and formulas: fastdl/loss.h (g = dloss[i * g_stride] * scale; wsum =
// sum of the class weights; totals accumulate). No AVX-512 variant: the avx512 level runs the
// AVX2 table.
#pragma once
#include <algorithm>
#include <cstdint>

#include "fastdl/cpu.h"

namespace fastdl {

struct LossKernels {
  void (*cross_entropy_rows)(float* loss, float* prob, double* totals, const float* logits, const int64_t* target,
                             const float* weight, int64_t rows, int64_t C, int64_t ignore_index, float eps,
                             float wsum);
  void (*cross_entropy_backward_rows)(float* dlogits, const float* g, int64_t g_stride, float scale,
                                      const float* prob, const int64_t* target, const float* weight, int64_t rows,
                                      int64_t C, int64_t ignore_index, float eps, float wsum);
  void (*cross_entropy_prob_rows)(float* loss, float* prob, double* totals, const float* logits,
                                  const float* target, const float* weight, int64_t rows, int64_t C, float eps);
  void (*cross_entropy_prob_backward_rows)(float* dlogits, const float* g, int64_t g_stride, float scale,
                                           const float* prob, const float* target, const float* weight,
                                           int64_t rows, int64_t C, float eps);
  void (*bce_with_logits_chunk)(float* loss, double* totals, const float* input, const float* target,
                                const float* weight, const float* pos_weight, int64_t n);
  void (*bce_with_logits_backward_chunk)(float* dinput, float* dtarget, const float* dloss, int64_t dloss_stride,
                                         float scale, const float* input, const float* target, const float* weight,
                                         const float* pos_weight, int64_t n);
};

namespace generic {
const LossKernels& loss_kernels();  // loss_generic.cpp
}
namespace avx2 {
const LossKernels& loss_kernels();  // loss_avx2.cpp
}
const LossKernels& loss_kernels(Isa isa);  // loss.cpp

// Per-file copies (anonymous namespace: never merged across ISA files by the linker).
namespace {
// Sum of f(i) over [lo, hi) in double, blocked so the inner float loop vectorises.
template <class F>
double blocked_sum(int64_t lo, int64_t hi, float* loss, F f) {
  double total = 0.0;
  for (int64_t b = lo; b < hi; b += 256) {
    const int64_t e = std::min(hi, b + 256);
    float s = 0.0f;
    for (int64_t i = b; i < e; ++i) {
      const float l = f(i);
      if (loss) loss[i] = l;
      s += l;
    }
    total += s;
  }
  return total;
}

}  // namespace

}  // namespace fastdl
