// AVX2/FMA build of the im2col / col2im bodies (this file alone gets -mavx2 -mfma) and the
// avx2 conv kernel table.
#include <cstdint>

#include "conv_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {
#include "im2col_impl.h"
}  // namespace

const ConvKernels& conv_kernels() {
  static const ConvKernels k{&im2col, &col2im};
  return k;
}
}  // namespace avx2
}  // namespace fastdl
