// Activations: dispatch (kernel table read once per call) and threading. The per-ISA chunk
// kernels live in activation_generic.cpp / activation_avx2.cpp (table: activation_kernels.h).
#include "fastdl/activation.h"

#include "../core/dispatch.h"
#include "activation_kernels.h"
#include "fastdl/parallel.h"

namespace fastdl {

const ActivationKernels& activation_kernels(Isa isa) {
  return select_kernels<ActivationKernels>(isa, &generic::activation_kernels,
                                           FASTDL_AVX2_TABLE(avx2::activation_kernels), nullptr);
}

// Work per element is ~1 ns for relu-like ops and ~2-4 ns for exp-based ones (scalar); the
// grain keeps a chunk above ~20 us before a second thread is used.
static int64_t grain_for(Activation act) {
  return (act == Activation::relu || act == Activation::leaky_relu) ? (1 << 16) : (1 << 14);
}

void activation_forward(Activation act, float* y, const float* x, int64_t n, float param) {
  const auto& k = activation_kernels(active_isa());
  parallel_for(0, n, grain_for(act), [&](int64_t lo, int64_t hi) {
    k.forward(act, y + lo, x + lo, hi - lo, param);
  });
}

void activation_backward(Activation act, float* dx, const float* dy, const float* saved, int64_t n, float param) {
  const auto& k = activation_kernels(active_isa());
  parallel_for(0, n, grain_for(act) * 2, [&](int64_t lo, int64_t hi) {
    k.backward(act, dx + lo, dy + lo, saved + lo, hi - lo, param);
  });
}

}  // namespace fastdl
