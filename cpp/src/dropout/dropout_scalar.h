// The scalar dropout RNG and element loop (dropout.h's counter-based scheme), included inside an
// unnamed namespace of dropout_generic.cpp (the whole input) and dropout_avx2.cpp (the tail past
// the last full vector), so each ISA gets its own compiled copy (ODR: docs/architecture.md,
// "The ODR trap") and both produce the same bits. Plain code only: no templates, no includes.
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// Elements [j, n) of one call: element j is global index i0 + j of the stream.
inline void dropout_forward_scalar(float* y, uint8_t* mask, const float* x, int64_t i0, int64_t j, int64_t n,
                                   uint32_t k0, uint32_t k1, uint32_t thresh, float scale) {
  for (; j < n; ++j) {
    const uint64_t i = static_cast<uint64_t>(i0 + j);
    const uint32_t h = mix32(mix32(static_cast<uint32_t>(i) ^ k0) ^ k1 ^ static_cast<uint32_t>(i >> 32));
    const bool keep = (h >> 8) >= thresh;
    mask[j] = keep ? 1 : 0;
    y[j] = keep ? x[j] * scale : 0.0f;
  }
}
