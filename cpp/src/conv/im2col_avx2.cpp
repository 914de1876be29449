// AVX2/FMA build of the im2col / col2im bodies (this file alone gets -mavx2 -mfma).
#include <cstdint>

#include "fastdl/conv.h"

namespace fastdl {
namespace avx2 {
#include "im2col_impl.h"
}  // namespace avx2
}  // namespace fastdl
