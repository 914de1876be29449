// Portable build of the direct convolution kernels (baseline flags, no intrinsics): the same
// layout as avx2 (channel block 8) with an 8-float struct as the "vector", so the generic level
// runs and tests the same loops. Everything here has internal linkage except
// generic::conv_direct_kernels().
#include <cstdint>

#include "conv_direct_kernels.h"

namespace fastdl {
namespace generic {
namespace {
constexpr int VL = 8, NKB = 2, UR1 = 4, UR2 = 4, UR3 = 4, UR4 = 4;
struct V {
  float v[VL];
};
inline V vzero() {
  V r;
  for (int i = 0; i < VL; ++i) r.v[i] = 0.0f;
  return r;
}
inline V vload(const float* p) {
  V r;
  for (int i = 0; i < VL; ++i) r.v[i] = p[i];
  return r;
}
inline void vstore(float* p, V v) {
  for (int i = 0; i < VL; ++i) p[i] = v.v[i];
}
inline V vbcast(float x) {
  V r;
  for (int i = 0; i < VL; ++i) r.v[i] = x;
  return r;
}
// Not fused: the baseline has no FMA instruction (std::fma would be a libm call per lane).
inline V vfma(V a, V b, V c) {
  for (int i = 0; i < VL; ++i) c.v[i] += a.v[i] * b.v[i];
  return c;
}
inline void transpose_tile(const float* src, int64_t lds, float* dst, int64_t ldd) {
  for (int i = 0; i < VL; ++i)
    for (int j = 0; j < VL; ++j) dst[j * ldd + i] = src[i * lds + j];
}
inline V vfma_bcast(const float* x, V b, V c) { return vfma(vbcast(*x), b, c); }
#include "conv_direct_impl.h"
}  // namespace

const ConvDirectKernels& conv_direct_kernels() { return make_table(); }
}  // namespace generic
}  // namespace fastdl
