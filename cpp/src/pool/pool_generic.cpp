// Portable build of the per-plane pooling bodies (no vector flags) and the generic pool
// kernel table.
#include <cstdint>

#include "pool_kernels.h"

namespace fastdl {
namespace generic {
namespace {
int64_t max2x2_row_simd(float*, int64_t*, const float*, const float*, int64_t, int64_t, int64_t) { return 0; }
bool max_window_plane_simd(float*, int64_t*, const float*, const Pool2dParams&) { return false; }
int64_t avg2x2_row_simd(float*, const float*, const float*, int64_t, float) { return 0; }
int64_t avg2x2_bwd_row_simd(float*, const float*, int64_t, float) { return 0; }
int64_t max_planes8(float*, int64_t*, const float*, const Pool2dParams&, int64_t) { return 0; }
#include "pool_impl.h"
}  // namespace

const PoolKernels& pool_kernels() { return kPoolKernels; }
}  // namespace generic
}  // namespace fastdl
