// Dropout: dispatch (kernel table read once per call), seed -> key derivation and threading;
// the per-ISA chunk kernels are dropout_generic.cpp / dropout_avx2.cpp (dropout_kernels.h).
//
// RNG: counter-based, so element i's decision depends only on (seed, i) — deterministic for any
// thread count and identical on both ISA paths. bits(i) = mix(mix(lo32(i) ^ k0) ^ k1 ^ hi32(i)),
// with mix = the "lowbias32" integer hash (xorshift-multiply, full avalanche) and (k0, k1) the
// two halves of splitmix64(seed). The top 24 bits decide: keep when (bits >> 8) >= thresh.
#include "fastdl/dropout.h"

#include <cmath>

#include "../core/dispatch.h"
#include "dropout_kernels.h"
#include "fastdl/parallel.h"

namespace fastdl {

const DropoutKernels& dropout_kernels(Isa isa) {
  return select_kernels<DropoutKernels>(isa, &generic::dropout_kernels, FASTDL_AVX2_TABLE(avx2::dropout_kernels),
                                        nullptr);
}

static uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static float keep_scale(float p) { return p >= 1.0f ? 0.0f : 1.0f / (1.0f - p); }

constexpr int64_t kDropoutGrain = 1 << 15;

void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t n, float p, uint64_t seed) {
  const uint64_t key = splitmix64(seed);
  const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  // p in [0, 1] -> thresh in [0, 2^24]; 2^24 drops every element (bits >> 8 < 2^24).
  const uint32_t thresh = static_cast<uint32_t>(std::lround(static_cast<double>(p) * 16777216.0));
  const float scale = keep_scale(p);
  const auto& k = dropout_kernels(active_isa());
  parallel_for(0, n, kDropoutGrain, [&](int64_t lo, int64_t hi) {
    k.forward(y + lo, mask + lo, x + lo, lo, hi - lo, k0, k1, thresh, scale);
  });
}

void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float p) {
  const float scale = keep_scale(p);
  const auto& k = dropout_kernels(active_isa());
  parallel_for(0, n, kDropoutGrain * 2, [&](int64_t lo, int64_t hi) {
    k.backward(dx + lo, dy + lo, mask + lo, hi - lo, scale);
  });
}

}  // namespace fastdl
