// Portable build of the per-plane pooling bodies (no vector flags) and the generic pool
// kernel table.
#include <cstdint>

#include "pool_kernels.h"

namespace fastdl {
namespace generic {
namespace {
int64_t max2x2_row_simd(float*, int64_t*, const float*, const float*, int64_t, int64_t, int64_t) { return 0; }
#include "pool_impl.h"
}  // namespace

const PoolKernels& pool_kernels() {
  static const PoolKernels k{&max_pool2d_plane,          &max_pool2d_backward_plane,
                             &avg_pool2d_plane,          &avg_pool2d_backward_plane,
                             &adaptive_avg_pool2d_plane, &adaptive_avg_pool2d_backward_plane};
  return k;
}
}  // namespace generic
}  // namespace fastdl
