// Dropout: the portable generic path (the counter-based RNG of dropout.cpp's header, one
// element at a time) and its kernel table.
#include "dropout_kernels.h"

namespace fastdl {
namespace generic {
namespace {

inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

}  // namespace

static void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t i0, int64_t n, uint32_t k0, uint32_t k1,
                     uint32_t thresh, float scale) {
  for (int64_t j = 0; j < n; ++j) {
    const uint64_t i = static_cast<uint64_t>(i0 + j);
    const uint32_t h = mix32(mix32(static_cast<uint32_t>(i) ^ k0) ^ k1 ^ static_cast<uint32_t>(i >> 32));
    const bool keep = (h >> 8) >= thresh;
    mask[j] = keep ? 1 : 0;
    y[j] = keep ? x[j] * scale : 0.0f;
  }
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
