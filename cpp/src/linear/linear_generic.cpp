// Linear layer, portable kernels (no vector flags): column sums, and the generic linear kernel table.
#include <algorithm>
#include <cstdint>

#include "linear_kernels.h"

namespace fastdl {
namespace generic {
namespace {

void sum_rows(float* out, const float* x, int64_t M, int64_t ld, int64_t j0, int64_t j1) {
  constexpr int64_t kBlock = 64;
  for (int64_t jb = j0; jb < j1; jb += kBlock) {
    const int64_t nb = std::min(kBlock, j1 - jb);
    double tot[kBlock];
    float acc[kBlock];
    for (int64_t j = 0; j < nb; ++j) tot[j] = 0.0;
    for (int64_t i0 = 0; i0 < M; i0 += kSumRowsChunk) {
      const int64_t i1 = std::min(M, i0 + kSumRowsChunk);
      for (int64_t j = 0; j < nb; ++j) acc[j] = 0.0f;
      for (int64_t i = i0; i < i1; ++i) {
        const float* row = x + i * ld + jb;
        for (int64_t j = 0; j < nb; ++j) acc[j] += row[j];
      }
      for (int64_t j = 0; j < nb; ++j) tot[j] += static_cast<double>(acc[j]);
    }
    for (int64_t j = 0; j < nb; ++j) out[jb + j] = static_cast<float>(tot[j]);
  }
}

}  // namespace

const LinearKernels& linear_kernels() {
  static const LinearKernels k{&sum_rows};
  return k;
}

}  // namespace generic

}  // namespace fastdl
