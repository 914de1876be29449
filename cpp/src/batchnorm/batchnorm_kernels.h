// Internal: the per-ISA kernel table of the batchnorm family (see core/dispatch.h; generic in
// batchnorm_generic.cpp, AVX2/FMA in batchnorm_avx2.cpp). The dispatcher batchnorm.cpp splits the work into rows and
// calls these; they never allocate and never spawn threads.
//
// "row" functions take n contiguous values of ONE channel with scalar coefficients (the
// common path, S >= 16). "col" functions take n contiguous values with one coefficient or
// accumulator per element (the small-S path: a row of the (N, C*S) matrix mixes channels and
// the per-channel coefficients are expanded to per-element arrays).
// Notation: m = mean, a = gamma*rstd, b = beta; y = (x - m)*a + b; e = dy, or dy*[y > 0] when
// relu (y recomputed with exactly the forward's float expression).
// The residual join relu(y + r) cannot recompute its mask from x: the forward writes it as a
// bitmask, bit i%8 of byte i/8 of a run of n values (ceil(n/8) bytes; the unused high bits of
// the last byte are 0), set where NOT (y + r <= 0) -- relu_backward's rule (NaN passes dy).
#pragma once
#include <cstdint>

#include "../core/dispatch.h"

namespace fastdl {

struct BatchnormKernels {
  // *s += sum x, *ss += sum x^2, accumulated in float64.
  void (*row_stats)(const float* x, int64_t n, double* s, double* ss);
  // s[j] += x[j], ss[j] += x[j]^2.
  void (*col_stats)(const float* x, int64_t n, double* s, double* ss);
  // y = (x - m)*a + b, then max(y, 0) when relu. y may alias x.
  void (*row_affine)(float* y, const float* x, int64_t n, float m, float a, float b, bool relu);
  void (*col_affine)(float* y, const float* x, int64_t n, const float* m, const float* a, const float* b,
                     bool relu);
  // *sdy += sum e, *sdx += sum e*(x - m)   (float64).
  void (*row_bwd_stats)(const float* dy, const float* x, int64_t n, float m, float a, float b, bool relu,
                        double* sdy, double* sdx);
  void (*col_bwd_stats)(const float* dy, const float* x, int64_t n, const float* m, const float* a,
                        const float* b, bool relu, double* sdy, double* sdx);
  // dx = k1*e + k2*(x - m) + k3. dx may alias dy.
  void (*row_bwd_dx)(float* dx, const float* dy, const float* x, int64_t n, float m, float a, float b,
                     bool relu, float k1, float k2, float k3);
  void (*col_bwd_dx)(float* dx, const float* dy, const float* x, int64_t n, const float* m, const float* a,
                     const float* b, bool relu, const float* k1, const float* k2, const float* k3);
  // out = max((x - m)*a + b + r, 0) (the float sum rounded as y + r), and its bitmask. out may
  // alias x or r.
  void (*row_affine_add_relu)(float* out, uint8_t* bits, const float* x, const float* r, int64_t n, float m,
                              float a, float b);
  void (*col_affine_add_relu)(float* out, uint8_t* bits, const float* x, const float* r, int64_t n,
                              const float* m, const float* a, const float* b);
  // e = dy where the bit is set, else +0. e may alias dy.
  void (*mask_grad)(float* e, const float* dy, const uint8_t* bits, int64_t n);
};

namespace generic {
const BatchnormKernels& batchnorm_kernels();  // batchnorm_generic.cpp
}
#if defined(FASTDL_HAVE_AVX2)
namespace avx2 {
const BatchnormKernels& batchnorm_kernels();  // batchnorm_avx2.cpp
}
#endif

// The table for `isa` (batchnorm.cpp; throws UnsupportedIsa when the CPU lacks it).
const BatchnormKernels& batchnorm_kernels(Isa isa);

}  // namespace fastdl
