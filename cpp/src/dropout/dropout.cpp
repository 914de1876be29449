// Dropout: dispatch, seed -> key derivation, and the generic path.
//
// RNG: counter-based, so element i's decision depends only on (seed, i) — deterministic for any
// thread count and identical on both ISA paths. bits(i) = mix(mix(lo32(i) ^ k0) ^ k1 ^ hi32(i)),
// with mix = the "lowbias32" integer hash (xorshift-multiply, full avalanche) and (k0, k1) the
// two halves of splitmix64(seed). The top 24 bits decide: keep when (bits >> 8) >= thresh.
#include "fastdl/dropout.h"

#include <cmath>

#include "fastdl/cpu.h"
#include "fastdl/parallel.h"

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

void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t i0, int64_t n, uint32_t k0, uint32_t k1,
                     uint32_t thresh, float scale) {
  for (int64_t j = 0; j < n; ++j) {
    const uint64_t i = static_cast<uint64_t>(i0 + j);
    const uint32_t h = mix32(mix32(static_cast<uint32_t>(i) ^ k0) ^ k1 ^ static_cast<uint32_t>(i >> 32));
    const bool keep = (h >> 8) >= thresh;
    mask[j] = keep ? 1 : 0;
    y[j] = keep ? x[j] * scale : 0.0f;
  }
}

void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float scale) {
  for (int64_t j = 0; j < n; ++j) dx[j] = mask[j] ? dy[j] * scale : 0.0f;
}

}  // namespace generic

static uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static float keep_scale(float p) { return p >= 1.0f ? 0.0f : 1.0f / (1.0f - p); }

constexpr int64_t kDropoutGrain = 1 << 15;

void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float p, uint64_t seed) {
  const uint64_t k = splitmix64(seed);
  const uint32_t k0 = static_cast<uint32_t>(k), k1 = static_cast<uint32_t>(k >> 32);
  // p in [0, 1] -> thresh in [0, 2^24]; 2^24 drops every element (bits >> 8 < 2^24).
  const uint32_t thresh = static_cast<uint32_t>(std::lround(static_cast<double>(p) * 16777216.0));
  const float scale = keep_scale(p);
  [[maybe_unused]] const bool v = use_avx2();
  parallel_for(0, n, kDropoutGrain, [&](int64_t lo, int64_t hi) {
#ifdef FASTDL_HAVE_AVX2
    if (v) return avx2::dropout_forward(y + lo, mask + lo, x + lo, lo, hi - lo, k0, k1, thresh, scale);
#endif
    generic::dropout_forward(y + lo, mask + lo, x + lo, lo, hi - lo, k0, k1, thresh, scale);
  });
}

void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float p) {
  const float scale = keep_scale(p);
  [[maybe_unused]] const bool v = use_avx2();
  parallel_for(0, n, kDropoutGrain * 2, [&](int64_t lo, int64_t hi) {
#ifdef FASTDL_HAVE_AVX2
    if (v) return avx2::dropout_backward(dx + lo, dy + lo, mask + lo, hi - lo, scale);
#endif
    generic::dropout_backward(dx + lo, dy + lo, mask + lo, hi - lo, scale);
  });
}

}  // namespace fastdl
