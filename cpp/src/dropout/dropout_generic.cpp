// Dropout: the portable generic path (the counter-based RNG of dropout.cpp's header, one
// element at a time) and its kernel table.
#include "dropout_kernels.h"

namespace fastdl {
namespace generic {
namespace {

#include "dropout_scalar.h"

}  // namespace

static void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t i0, int64_t n, uint32_t k0, uint32_t k1,
                     uint32_t thresh, float scale) {
  dropout_forward_scalar(y, mask, x, i0, 0, n, k0, k1, thresh, scale);
}

static void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float scale) {
  for (int64_t j = 0; j < n; ++j) dx[j] = mask[j] ? dy[j] * scale : 0.0f;
}

}  // namespace generic

namespace generic {
const DropoutKernels& dropout_kernels() {
  static const DropoutKernels k{&dropout_forward, &dropout_backward};
  return k;
}
}  // namespace generic

}  // namespace fastdl
