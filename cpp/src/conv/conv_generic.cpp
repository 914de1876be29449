// Portable build of the im2col / col2im / dot_nt bodies (no vector flags) and the generic
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
  static constexpr int64_t kLanes = 1;
  static reg zero() { return 0.0f; }
  static reg load(const float* p) { return *p; }
  static reg load_tail(const float*, int64_t) { return 0.0f; }  // never reached with one lane
  static reg fma(reg a, reg b, reg acc) { return a * b + acc; }
  static float hsum(reg v) { return v; }
};
#include "dot_nt_impl.h"
}  // namespace

const ConvKernels& conv_kernels() {
  static const ConvKernels k{&im2col, &col2im, &dot_nt};
  return k;
}
}  // namespace generic
}  // namespace fastdl
