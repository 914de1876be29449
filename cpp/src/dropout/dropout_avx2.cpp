// Dropout: AVX2 path (8 hashes per step with 32-bit vector multiplies; same bits as generic).
#include <immintrin.h>

#include "../core/simd_avx2.h"
#include "dropout_kernels.h"

namespace fastdl {
namespace avx2 {
namespace {

inline __m256i mix32(__m256i x) {
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x7feb352d));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int32_t>(0x846ca68bU)));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  return x;
}

#include "dropout_scalar.h"

}  // namespace

static void dropout_forward(float* y, uint8_t* mask, const float* x, int64_t i0, int64_t n, uint32_t k0, uint32_t k1,
                     uint32_t thresh, float scale) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i vk0 = _mm256_set1_epi32(static_cast<int32_t>(k0));
  const __m256i tm1 = _mm256_set1_epi32(static_cast<int32_t>(thresh) - 1);  // (h >> 8) > thresh - 1
  const __m256 sv = _mm256_set1_ps(scale);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const uint64_t i = static_cast<uint64_t>(i0 + j);
    // the 8 counters share hi32(i) unless the low half wraps inside the vector: use the scalar
    // path for that (rare) block so both paths give identical bits.
    if (static_cast<uint32_t>(i) > 0xFFFFFFF7U) break;
    const __m256i lo = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(static_cast<uint32_t>(i))), lane);
    const __m256i k1h = _mm256_set1_epi32(static_cast<int32_t>(k1 ^ static_cast<uint32_t>(i >> 32)));
    const __m256i h = mix32(_mm256_xor_si256(mix32(_mm256_xor_si256(lo, vk0)), k1h));
    const __m256i keep = _mm256_cmpgt_epi32(_mm256_srli_epi32(h, 8), tm1);
    const __m256 kf = _mm256_castsi256_ps(keep);
    _mm256_storeu_ps(y + j, _mm256_and_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), sv), kf));
    const int bits = _mm256_movemask_ps(kf);
    for (int b = 0; b < 8; ++b) mask[j + b] = static_cast<uint8_t>((bits >> b) & 1);
  }
  dropout_forward_scalar(y, mask, x, i0, j, n, k0, k1, thresh, scale);
}

static void dropout_backward(float* dx, const float* dy, const uint8_t* mask, int64_t n, float scale) {
  const __m256 sv = _mm256_set1_ps(scale);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m128i mb = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mask + j));
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_cvtepu8_epi32(mb), _mm256_setzero_si256()));
    _mm256_storeu_ps(dx + j, _mm256_and_ps(_mm256_mul_ps(_mm256_loadu_ps(dy + j), sv), keep));
  }
  for (; j < n; ++j) dx[j] = mask[j] ? dy[j] * scale : 0.0f;
}

const DropoutKernels& dropout_kernels() {
  static const DropoutKernels k{&dropout_forward, &dropout_backward};
  return k;
}

}  // namespace avx2
}  // namespace fastdl
