// Passes around a convolution's output shared by the engines (conv_epilogue.h).
#include "conv_epilogue.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fastdl/parallel.h"

namespace fastdl {
namespace {

// Sum of n floats in kSumLanes interleaved partial sums (element i goes to lane i % kSumLanes,
// each lane in index order), then the lanes in order: a fixed order the compiler can
// vectorize (one running sum is a chain of dependent adds, ~4x slower: LeNet conv1's bias
// gradient took 1 ms of its 2.7 ms backward).
constexpr int64_t kSumLanes = 16;
float sum_plane(const float* r, int64_t n) {
  float lane[kSumLanes] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int64_t l = 0; l < kSumLanes; ++l) lane[l] += r[i + l];
  for (int64_t l = 0; i + l < n; ++l) lane[l] += r[i + l];
  float s = 0.0f;
  for (int64_t l = 0; l < kSumLanes; ++l) s += lane[l];
  return s;
}

// Channels per parallel chunk: ~64K elements.
int64_t channel_grain(const Conv2dParams& p) {
  return std::max<int64_t>(1, 65536 / std::max<int64_t>(1, p.N * p.col_cols));
}

}  // namespace

// One thread per channel range; each channel's order is fixed, so any thread count gives the same bits.
void conv_bias_gradient(float* db, const float* dy, const Conv2dParams& p) {
  const int64_t PQ = p.col_cols;
  if (PQ < kSumLanes) {
    // Small maps (ResNet's 2x2 and 1x1): sum_plane is then the plane's sequential float sum, so
    // the same sums run image-major over a range of channels (contiguous in dy), same order.
    parallel_for(0, p.K, std::max<int64_t>(channel_grain(p), 16), [&](int64_t lo, int64_t hi) {
      std::vector<double> acc(static_cast<size_t>(hi - lo), 0.0);
      for (int64_t n = 0; n < p.N; ++n) {
        const float* r = dy + (n * p.K + lo) * PQ;
        for (int64_t k = 0; k < hi - lo; ++k, r += PQ) {
          float s = 0.0f;
          for (int64_t i = 0; i < PQ; ++i) s += r[i];
          acc[static_cast<size_t>(k)] += s;
        }
      }
      for (int64_t k = lo; k < hi; ++k) db[k] = static_cast<float>(acc[static_cast<size_t>(k - lo)]);
    });
    return;
  }
  parallel_for(0, p.K, channel_grain(p), [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      double acc = 0.0;
      for (int64_t n = 0; n < p.N; ++n) acc += sum_plane(dy + (n * p.K + k) * PQ, PQ);
      db[k] = static_cast<float>(acc);
    }
  });
}

void conv_relu_inplace(float* y, const Conv2dParams& p) {
  const int64_t total = p.N * p.K * p.col_cols;
  parallel_for(0, total, int64_t(1) << 16, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] = y[i] < 0.0f ? 0.0f : y[i];
  });
}

// Image by image (sequential streams: a channel-major walk jumps K*P*Q floats between planes
// and waits on memory for every one), each plane's sum kept in sums (N*K); then per channel the
// sums are added in image order in double, as conv_bias_gradient does: the same bits.
void conv_relu_mask(float* dym, float* db, float* sums, const float* dy, const float* y, const Conv2dParams& p) {
  const int64_t PQ = p.col_cols, K = p.K;
  parallel_for(0, p.N, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, K * PQ)), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      for (int64_t k = 0; k < K; ++k) {
        const int64_t off = (n * K + k) * PQ;
        const float* __restrict g = dy + off;
        const float* __restrict s = y + off;
        float* __restrict d = dym + off;
        for (int64_t i = 0; i < PQ; ++i) {  // both loads unconditional: a branch-free select
          const float gv = g[i], sv = s[i];
          d[i] = sv <= 0.0f ? 0.0f : gv;
        }
        if (db) sums[n * K + k] = sum_plane(d, PQ);
      }
    }
  });
  if (!db) return;
  for (int64_t k = 0; k < K; ++k) {
    double acc = 0.0;
    for (int64_t n = 0; n < p.N; ++n) acc += sums[n * K + k];
    db[k] = static_cast<float>(acc);
  }
}

}  // namespace fastdl
