// AVX2/FMA build of the per-plane pooling bodies (this file alone gets -mavx2 -mfma).
#include <cstdint>

#include "fastdl/pool.h"

namespace fastdl {
namespace avx2 {
#include "pool_impl.h"
}  // namespace avx2
}  // namespace fastdl
