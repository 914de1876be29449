// Portable build of the im2col / col2im / dw_small bodies (no vector flags) and the generic
// conv kernel table.
#include <algorithm>
#include <cstdint>

#include "conv_kernels.h"

namespace fastdl {
namespace generic {
namespace {
#include "im2col_impl.h"

struct V {  // one lane: the dot products in plain scalar order
  using reg = float;
  static constexpr int kMR = 4, kNR = 5;
  static constexpr int64_t kLanes = 1;
  static constexpr int kFM = 4, kFV = 2;
  static constexpr int kDwMV = 4, kDwNR = 2, kDwNS = 2;  // weight-gradient tile: 4 channels x 2x2 taps
  static constexpr int kFwdMV = 16, kFwdA[2] = {1, 1}, kFwdB[2] = {1, 2};  // forward tiles (rows x columns)
  static reg set1(float f) { return f; }
  static reg loadu(const float* p) { return *p; }
  static void storeu(float* p, reg v) { *p = v; }
  static reg zero() { return 0.0f; }
  static reg load_n(const float* p, int64_t) { return *p; }
  static reg add(reg a, reg b) { return a + b; }
  static reg fma(reg a, reg b, reg acc) { return a * b + acc; }
  static float hsum(reg v) { return v; }
};
#include "dw_small_impl.h"
#include "flat_impl.h"
}  // namespace

const ConvKernels& conv_kernels() {
  static const ConvKernels k{&im2col, &col2im, &dw_small, &flat, &flat_scatter, &flat_dwv,
                             V::kDwMV * V::kLanes, V::kDwNR, V::kDwNS, V::kLanes,
                             &flat_fwdv, V::kFwdMV * V::kLanes, {{V::kFwdA[0], V::kFwdA[1]}, {V::kFwdB[0], V::kFwdB[1]}}};
  return k;
}
}  // namespace generic
}  // namespace fastdl
