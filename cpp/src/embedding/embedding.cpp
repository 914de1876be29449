// Embedding lookup and its scatter-add backward. Memory-bound row copies / adds: one portable
// implementation (the compiler vectorises the row loops), no ISA variants.
#include <algorithm>
#include <cstring>

#include "fastdl/parallel.h"
#include "fastdl/embedding.h"

namespace fastdl {

void embedding_forward(float* out, const int64_t* ids, const float* weight, int64_t n, int64_t V,
                       int64_t D) {
  if (D == 0) return;
  parallel_for(0, n, std::max<int64_t>(1, 16384 / D), [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) std::memcpy(out + i * D, weight + ids[i] * D, sizeof(float) * D);
  });
}

// Threads own disjoint ranges of vocabulary rows; each scans all ids in order and adds the
// ones in its range, so duplicates are summed in index order whatever the thread count.
void embedding_backward(float* dweight, const int64_t* ids, const float* dout, int64_t n, int64_t V,
                        int64_t D, int64_t padding_idx) {
  if (D == 0) return;
  parallel_for(0, V, std::max<int64_t>(1, 65536 / D), [&](int64_t v0, int64_t v1) {
    std::fill(dweight + v0 * D, dweight + v1 * D, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = ids[i];
      if (v < v0 || v >= v1 || v == padding_idx) continue;
      float* dst = dweight + v * D;
      const float* src = dout + i * D;
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) dst[j] += src[j];
    }
  });
}

}  // namespace fastdl
