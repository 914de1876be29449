// The FMA peak loop, written once for every vector width. Include it ONLY inside an anonymous
// namespace of a per-ISA file, with `Vec` a traits struct of that file (set1, fmadd, add,
// store, kLanes): everything then has internal linkage, so the AVX2 and AVX-512 instantiations
// are never merged across translation units compiled with different flags.
constexpr int kChains = 12;  // independent chains: covers FMA latency x throughput (BLIS: 12 too)

template <class Vec>
float fma_loop_impl(int64_t iters, float seed) {
  typename Vec::type acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = Vec::set1(seed * static_cast<float>(c + 1));
  const auto a = Vec::set1(0.999999f), b = Vec::set1(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = Vec::fmadd(acc[c], a, b);
  }
  auto s = acc[0];
  for (int c = 1; c < kChains; ++c) s = Vec::add(s, acc[c]);
  alignas(64) float out[Vec::kLanes];
  Vec::store(out, s);
  float r = 0;
  for (int l = 0; l < Vec::kLanes; ++l) r += out[l];
  return r;
}
