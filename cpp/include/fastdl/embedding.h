// Embedding lookup and its scatter-add backward; match torch.nn.functional.embedding.
// Row-major float32 weights, int64 ids.
#pragma once
#include <cstdint>

namespace fastdl {

// out (n, D) = weight[ids], weight (V, D). Every id must be in [0, V) (checked by the caller).
void embedding_forward(float* out, const int64_t* ids, const float* weight, int64_t n, int64_t V,
                       int64_t D);
// dweight (V, D) = scatter-add of dout (n, D) at ids; duplicates summed in index order (the
// result does not depend on the thread count); row padding_idx gets no gradient (< 0: none).
void embedding_backward(float* dweight, const int64_t* ids, const float* dout, int64_t n, int64_t V,
                        int64_t D, int64_t padding_idx);

}  // namespace fastdl
