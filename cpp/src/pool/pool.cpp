// Pooling: argument checks, ISA dispatch (pool_kernels.h) and the parallel loop over the N*C
// planes; compiled without vector flags.
#include "fastdl/pool.h"

#include <cstdint>
#include <string>

#include "fastdl/common.h"
#include "fastdl/conv.h"
#include "fastdl/cpu.h"
#include "fastdl/parallel.h"

#include "fastdl/scratch.h"
#include "pool_kernels.h"
#include "../activation/activation_kernels.h"

namespace fastdl {

const PoolKernels& pool_kernels(Isa isa) {
  return select_kernels<PoolKernels>(isa, &generic::pool_kernels, FASTDL_AVX2_TABLE(avx2::pool_kernels),
                                     FASTDL_AVX512_TABLE(avx2::pool_kernels));
}

Pool2dParams make_pool2d_params(const char* op, int64_t NC, int64_t H, int64_t W, int64_t kh, int64_t kw,
                                int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                                bool ceil_mode) {
  const std::string name(op);
  auto pair = [](int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; };
  FASTDL_CHECK(kh >= 1 && kw >= 1, name + ": kernel_size must be >= 1, got " + pair(kh, kw));
  FASTDL_CHECK(sh >= 1 && sw >= 1, name + ": stride must be >= 1, got " + pair(sh, sw));
  FASTDL_CHECK(dh >= 1 && dw >= 1, name + ": dilation must be >= 1, got " + pair(dh, dw));
  FASTDL_CHECK(ph >= 0 && pw >= 0, name + ": padding must be >= 0, got " + pair(ph, pw));
  FASTDL_CHECK(ph <= kh / 2 && pw <= kw / 2, name + ": padding should be at most half of kernel size, got padding " +
                                                 pair(ph, pw) + " and kernel_size " + pair(kh, kw));
  FASTDL_CHECK(NC >= 0 && H >= 0 && W >= 0, name + ": negative input size");
  Pool2dParams p{};
  p.NC = NC; p.H = H; p.W = W;
  p.kh = kh; p.kw = kw; p.sh = sh; p.sw = sw; p.ph = ph; p.pw = pw; p.dh = dh; p.dw = dw;
  try {
    p.P = conv_out_size(H, kh, ph, sh, dh, ceil_mode);
    p.Q = conv_out_size(W, kw, pw, sw, dw, ceil_mode);
  } catch (const ArgumentError& e) {
    throw ArgumentError(name + ": input " + std::to_string(H) + "x" + std::to_string(W) + " with kernel " +
                        pair(kh, kw) + ", padding " + pair(ph, pw) + ", stride " + pair(sh, sw) + ", dilation " +
                        pair(dh, dw) + " is too small: " + e.what());
  }
  checked_mul(checked_mul(checked_mul(NC, p.P, "pooling output size"), p.Q, "pooling output size"), 8,
              "pooling output size");
  checked_mul(checked_mul(checked_mul(NC, H, "pooling input size"), W, "pooling input size"), 4,
              "pooling input size");
  return p;
}

namespace {
// Planes per parallel chunk: enough for ~64K touched elements.
int64_t plane_grain(int64_t per_plane) { return 1 + 65536 / (per_plane > 0 ? per_plane : 1); }
}  // namespace

void max_pool2d_forward(float* y, int64_t* idx, const float* x, const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, PQ = p.P * p.Q;
  const PoolKernels& kt = pool_kernels(active_isa());
  parallel_for(0, p.NC, plane_grain(HW + PQ), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo + kt.max_planes8(y + lo * PQ, idx + lo * PQ, x + lo * HW, p, hi - lo); i < hi; ++i)
      kt.max_plane(y + i * PQ, idx + i * PQ, x + i * HW, p);
  });
}

void max_pool2d_backward(float* dx, const float* dy, const int64_t* idx, const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, PQ = p.P * p.Q;
  const auto fn = pool_kernels(active_isa()).max_backward_plane;
  parallel_for(0, p.NC, plane_grain(HW + PQ), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(dx + i * HW, dy + i * PQ, idx + i * PQ, p);
  });
}

void avg_pool2d_forward(float* y, const float* x, const Pool2dParams& p, bool count_include_pad,
                        int64_t divisor_override) {
  const int64_t HW = p.H * p.W, PQ = p.P * p.Q;
  const auto fn = pool_kernels(active_isa()).avg_plane;
  parallel_for(0, p.NC, plane_grain(HW + PQ), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(y + i * PQ, x + i * HW, p, count_include_pad, divisor_override);
  });
}

void avg_pool2d_backward(float* dx, const float* dy, const Pool2dParams& p, bool count_include_pad,
                         int64_t divisor_override) {
  const int64_t HW = p.H * p.W, PQ = p.P * p.Q;
  const auto fn = pool_kernels(active_isa()).avg_backward_plane;
  parallel_for(0, p.NC, plane_grain(HW + PQ), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(dx + i * HW, dy + i * PQ, p, count_include_pad, divisor_override);
  });
}

namespace {
// The activations avg_pool2d_act fuses: those whose backward reads their output.
void check_pooled_activation(Activation act) {
  FASTDL_CHECK(act == Activation::relu || act == Activation::sigmoid || act == Activation::tanh,
               "avg_pool2d_act: activation must be relu, sigmoid or tanh");
}
}  // namespace

// Plane by plane, so the activated plane is still in L1 when it is pooled (forward) and the
// pooled gradient's plane when the activation's backward reads it (backward).
void avg_pool2d_act_forward(float* y, float* s, const float* x, const Pool2dParams& p, bool count_include_pad,
                            int64_t divisor_override, Activation act) {
  check_pooled_activation(act);
  const int64_t HW = p.H * p.W, PQ = p.P * p.Q;
  const auto pool = pool_kernels(active_isa()).avg_plane;
  const auto& ak = activation_kernels(active_isa());
  parallel_for(0, p.NC, plane_grain(2 * HW + PQ), [&](int64_t lo, int64_t hi) {
    float* tmp = s ? nullptr : scratch(ScratchKey::pool_act_plane, HW);
    for (int64_t i = lo; i < hi; ++i) {
      float* si = s ? s + i * HW : tmp;
      ak.forward(act, si, x + i * HW, HW, 0.0f);
      pool(y + i * PQ, si, p, count_include_pad, divisor_override);
    }
  });
}

void avg_pool2d_act_backward(float* dx, const float* dy, const float* s, const Pool2dParams& p,
                             bool count_include_pad, int64_t divisor_override, Activation act) {
  check_pooled_activation(act);
  const int64_t HW = p.H * p.W, PQ = p.P * p.Q;
  const auto pool = pool_kernels(active_isa()).avg_backward_plane;
  const auto& ak = activation_kernels(active_isa());
  parallel_for(0, p.NC, plane_grain(3 * HW + PQ), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      pool(dx + i * HW, dy + i * PQ, p, count_include_pad, divisor_override);
      ak.backward(act, dx + i * HW, dx + i * HW, s + i * HW, HW, 0.0f);  // in place: element-wise
    }
  });
}

void adaptive_avg_pool2d_forward(float* y, const float* x, int64_t NC, int64_t H, int64_t W, int64_t P,
                                 int64_t Q) {
  const auto fn = pool_kernels(active_isa()).adaptive_avg_plane;
  parallel_for(0, NC, plane_grain(H * W + P * Q), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(y + i * P * Q, x + i * H * W, H, W, P, Q);
  });
}

void adaptive_avg_pool2d_backward(float* dx, const float* dy, int64_t NC, int64_t H, int64_t W, int64_t P,
                                  int64_t Q) {
  const auto fn = pool_kernels(active_isa()).adaptive_avg_backward_plane;
  parallel_for(0, NC, plane_grain(H * W + P * Q), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(dx + i * H * W, dy + i * P * Q, H, W, P, Q);
  });
}

}  // namespace fastdl
