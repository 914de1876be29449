// Softmax / log-softmax: dispatch (kernel table read once per call) and threading. The
// per-ISA kernels live in softmax_generic.cpp / softmax_avx2.cpp (table: softmax_kernels.h).
#include "fastdl/softmax.h"

#include <algorithm>

#include "../core/dispatch.h"
#include "fastdl/parallel.h"
#include "softmax_kernels.h"

namespace fastdl {

const SoftmaxKernels& softmax_kernels(Isa isa) {
  return select_kernels<SoftmaxKernels>(isa, &generic::softmax_kernels, FASTDL_AVX2_TABLE(avx2::softmax_kernels),
                                        nullptr);
}

namespace {

// Rows (inner == 1) are split over threads; otherwise (outer x column-block) tasks are. A task
// below ~4096 values (~20 us of exp work) is not worth a second thread.
template <class Rows, class Cols>
void run(int64_t outer, int64_t C, int64_t inner, Rows rows, Cols cols) {
  if (outer <= 0 || C <= 0 || inner <= 0) return;
  if (inner == 1) {
    parallel_for(0, outer, std::max<int64_t>(1, 4096 / C), [&](int64_t lo, int64_t hi) { rows(lo, hi); });
    return;
  }
  const int64_t nb = (inner + kSoftmaxColBlock - 1) / kSoftmaxColBlock;
  const int64_t per_task = C * std::min(inner, kSoftmaxColBlock);
  parallel_for(0, outer * nb, std::max<int64_t>(1, 4096 / per_task), [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t o = t / nb, j0 = (t % nb) * kSoftmaxColBlock;
      cols(o * C * inner + j0, std::min(kSoftmaxColBlock, inner - j0));
    }
  });
}

void forward(bool log, float* y, const float* x, int64_t outer, int64_t C, int64_t inner) {
  const auto& k = softmax_kernels(active_isa());
  run(
      outer, C, inner,
      [&](int64_t lo, int64_t hi) {
        k.rows(log, y + lo * C, x + lo * C, hi - lo, C);
      },
      [&](int64_t off, int64_t nc) {
        k.cols(log, y + off, x + off, C, nc, inner);
      });
}

void backward(bool log, float* dx, const float* dy, const float* y, int64_t outer, int64_t C, int64_t inner) {
  const auto& k = softmax_kernels(active_isa());
  run(
      outer, C, inner,
      [&](int64_t lo, int64_t hi) {
        k.backward_rows(log, dx + lo * C, dy + lo * C, y + lo * C, hi - lo, C);
      },
      [&](int64_t off, int64_t nc) {
        k.backward_cols(log, dx + off, dy + off, y + off, C, nc, inner);
      });
}

}  // namespace

void softmax_forward(float* y, const float* x, int64_t outer, int64_t C, int64_t inner) {
  forward(false, y, x, outer, C, inner);
}
void log_softmax_forward(float* y, const float* x, int64_t outer, int64_t C, int64_t inner) {
  forward(true, y, x, outer, C, inner);
}
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t C, int64_t inner) {
  backward(false, dx, dy, y, outer, C, inner);
}
void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t C, int64_t inner) {
  backward(true, dx, dy, y, outer, C, inner);
}

}  // namespace fastdl
