// Internal to cpp/src/pool: the per-ISA kernel table of the pooling family (see
// core/dispatch.h). pool.cpp (argument checks, threading over the N*C planes) reads the table
// once per public call; the per-plane bodies are the one template pool_impl.h, compiled once
// per ISA (pool_generic.cpp, pool_avx2.cpp). x: (H, W), y / idx: (P, Q) of one plane.
#pragma once
#include <cstdint>

#include "../core/dispatch.h"
#include "fastdl/pool.h"

namespace fastdl {

struct PoolKernels {
  void (*max_plane)(float* y, int64_t* idx, const float* x, const Pool2dParams& p);
  void (*max_backward_plane)(float* dx, const float* dy, const int64_t* idx, const Pool2dParams& p);
  void (*avg_plane)(float* y, const float* x, const Pool2dParams& p, bool count_include_pad, int64_t divisor);
  void (*avg_backward_plane)(float* dx, const float* dy, const Pool2dParams& p, bool count_include_pad,
                             int64_t divisor);
  void (*adaptive_avg_plane)(float* y, const float* x, int64_t H, int64_t W, int64_t P, int64_t Q);
  void (*adaptive_avg_backward_plane)(float* dx, const float* dy, int64_t H, int64_t W, int64_t P, int64_t Q);
  // Max-pool forward of the first 8*floor(planes / 8) of `planes` consecutive planes, eight at a
  // time (one plane per vector lane), with max_plane's results; returns how many it did (0: the
  // planes are too large, or no SIMD on this level). For small planes, where a row of outputs
  // fills few lanes and the per-plane setup dominates (NiN's 3x3/2 pools on 14x14, 6x6, 2x2).
  int64_t (*max_planes8)(float* y, int64_t* idx, const float* x, const Pool2dParams& p, int64_t planes);
};

namespace generic {
const PoolKernels& pool_kernels();
}
#if defined(FASTDL_HAVE_AVX2)
namespace avx2 {
const PoolKernels& pool_kernels();
}
#endif

// The table for `isa` (throws UnsupportedIsa when the CPU lacks it).
const PoolKernels& pool_kernels(Isa isa);

}  // namespace fastdl
