// Internal to cpp/src/conv_direct: the per-ISA kernel table of the direct convolution family
// (see core/dispatch.h and docs/kernels.md §1b). conv_direct.cpp (layout arithmetic, weight
// reorders, threading) reads the table once per call and passes it down.
//
// Layouts (VL = the table's vl: 16 on avx512, 8 on avx2 and generic):
//   activations NCHW[VL]: xb[n][cb][h][w][c], cb = channel / VL, c = channel % VL; channels
//     past C in the last block are zero. No padding is stored: the driver hands the kernels only
//     taps that land inside the input (edge output columns run with their live taps only).
//     (to_blocked can still add zero columns: pl / pr.)
//   weights OIhw[VL]i[VL]o: wb[kb][cb][r][s][ci][ko] (forward and backward-weights), zero past
//     K / C.
// The bodies are the one set of templates in conv_direct_impl.h, compiled once per ISA inside an
// anonymous namespace (internal linkage: the ODR trap of docs/kernels.md §3 cannot bite).
#pragma once
#include <cstdint>

#include "../core/dispatch.h"

namespace fastdl {

// One output row of a forward convolution on the blocked layouts, for nkb (1..max_nkb) output
// channel blocks, summed over all input channel blocks and the nr live kernel rows.
struct DirectFwdRow {
  const float* x;     // xb at (n, cb 0, input row of the first live kernel row, first tap's column of pixel 0)
  const float* w;     // wb at (kb0, cb 0, first live kernel row, s 0)
  float* y;           // output row, blocked: y[j * y_kb + q * VL + lane], j < nkb
  const float* bias;  // nkb * VL values, or null (zeros)
  int64_t nkb, nr, S, Q, stride_w, dil_w;
  int64_t ncb, c_last;          // input channel blocks; channels in the last one (1..VL)
  int64_t x_cb, x_r;            // xb strides (floats): per channel block, per kernel row
  int64_t w_kb, w_cb, w_r, w_s;  // wb strides: per output block, input block, kernel row, kernel column
  int64_t y_kb;                 // output row stride per output block
};

// dw_tap[ci][ko] (VL x VL, row-major; rows ci < nc) += sum over nimg images i, np rows p and Q
// columns q (in that order, i outermost) of
// x[i * x_n + p * x_p + q * stride_w * VL + ci] * dy[i * dy_n + p * dy_p + q * VL + ko].
struct DirectBwdWTap {
  float* dw_tap;
  const float* x;   // xb at (image 0, cb, input row of the first row, input column of the first column)
  const float* dy;  // blocked dy at (image 0, kb, first row, first column)
  int64_t nimg, np, Q, stride_w, x_n, dy_n, x_p, dy_p;
  int64_t nc;  // input channels of the block (1..VL)
};

struct ConvDirectKernels {
  int64_t vl;       // channel block (vector width in floats)
  int64_t max_nkb;  // output-channel blocks one forward tile holds (fwd_row takes nkb <= max_nkb)
  void (*fwd_row)(const DirectFwdRow& a);
  void (*bwd_w_tap)(const DirectBwdWTap& a);
  // One image: src (C, H, W) plain -> dst (ceil(C/vl), H, pl + W + pr, vl) blocked, zero padded.
  void (*to_blocked)(float* dst, const float* src, int64_t C, int64_t H, int64_t W, int64_t pl, int64_t pr);
  // One output row of nkb blocks (row[j * row_kb + q * vl + lane]) scattered to plain rows:
  // dst[(j * vl + lane) * plane + q] for channels j * vl + lane < nch, q < Q.
  void (*row_to_plain)(float* dst, const float* row, int64_t nkb, int64_t row_kb, int64_t nch, int64_t Q,
                       int64_t plane);
};

namespace generic {
const ConvDirectKernels& conv_direct_kernels();
}
#if defined(FASTDL_HAVE_AVX2)
namespace avx2 {
const ConvDirectKernels& conv_direct_kernels();
}
#endif
#if defined(FASTDL_HAVE_AVX512)
namespace avx512 {
const ConvDirectKernels& conv_direct_kernels();
}
#endif

// The table for `isa` (throws UnsupportedIsa when the CPU lacks it).
const ConvDirectKernels& conv_direct_kernels(Isa isa);

}  // namespace fastdl
