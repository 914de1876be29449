// The FMA peak loop body, included inside an unnamed namespace in fastdl::avx2 (peak_avx2.cpp)
// and fastdl::avx512 (peak_avx512.cpp), so each ISA gets its own compiled copy (ODR: see
// docs/architecture.md, "The ODR trap"). Plain code only: no templates, no includes.
// The including file defines kLanes, the vector type Vec and
//   Vec vset1(float); Vec vfmadd(Vec a, Vec b, Vec c) /* a*b + c */; Vec vadd(Vec, Vec);
//   void vstore(float* aligned_out, Vec);
// 12 independent FMA chains cover the FMA latency x throughput of current cores (12 chains is
// BLIS's register budget too).
constexpr int kChains = 12;

float fma_loop(int64_t iters, float seed) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = vset1(seed * static_cast<float>(c + 1));
  const Vec a = vset1(0.999999f), b = vset1(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = vfmadd(acc[c], a, b);
  }
  Vec s = acc[0];
  for (int c = 1; c < kChains; ++c) s = vadd(s, acc[c]);
  alignas(64) float out[kLanes];
  vstore(out, s);
  float r = 0;
  for (int l = 0; l < kLanes; ++l) r += out[l];
  return r;
}
