// Portable build of the im2col / col2im bodies (no vector flags) and the generic conv
// kernel table.
#include <cstdint>

#include "conv_kernels.h"

namespace fastdl {
namespace generic {
namespace {
#include "im2col_impl.h"
}  // namespace

const ConvKernels& conv_kernels() {
  static const ConvKernels k{&im2col, &col2im};
  return k;
}
}  // namespace generic
}  // namespace fastdl
