// Internal to cpp/src/conv: the per-ISA kernel table of the conv family (see core/dispatch.h).
// conv.cpp (shape arithmetic, checks, threading, the im2col + SGEMM driver) reads the table
// once per public call and passes it down; the GEMM itself dispatches through gemm_kernels.
// The bodies are the templates im2col_impl.h and dw_small_impl.h, compiled once per ISA
// (conv_generic.cpp, conv_avx2.cpp, conv_avx512.cpp).
#pragma once
#include <cstdint>

#include "../core/dispatch.h"
#include "fastdl/conv.h"

namespace fastdl {

// One stride-1 convolution of an image on wide planes (flat_impl.h; set up by conv_flat.cpp):
//   out[m, i] = bias[m] + sum_{j, r, s} w[((m*J + j)*R + r)*S + s] * in[j*ldi + i + r*row_step + s*col_step]
// for i in [0, n); input rows (of Wp floats) outside [top, top + live) are zero padding.
struct FlatConv {
  int64_t M, J, R, S;            // output planes, input planes, kernel rows / columns
  int64_t row_step, col_step;    // offset of tap (r, s) = r*row_step + s*col_step (= r*dil_h*Wp + s*dil_w)
  int64_t Wp, dil_h, top, live;  // row stride of the planes, row dilation, live input rows
  int64_t n, ldi, ldo;           // output positions; plane strides of in and out
};
// Floats an input plane must stay readable past its last tap (the vector tail of a tile).
constexpr int64_t kFlatSlack = 16;

struct ConvKernels {
  // col (Cg*R*S, P*Q; row stride ld) from x (Cg, H, W) of one image and one group.
  void (*im2col)(float* col, const float* x, const Conv2dParams& p, int64_t ld);
  // dx (Cg, H, W) overwritten with the scatter-add of col.
  void (*col2im)(float* dx, const float* col, const Conv2dParams& p, int64_t ld);
  // dw (Kg, Cg*R*S) = beta * dw (beta 0 or 1) + the weight gradient of one image and group,
  // dy (Kg, P, Q) against x (Cg, H, W), for stride_w == 1, as dot products over the pixels
  // with no im2col (dw_small_impl.h); pad holds dw_small_pad_floats(p) floats.
  void (*dw_small)(float* dw, float beta, const float* dy, const float* x, const Conv2dParams& p, float* pad);
  // out (M, ldo) from in (J, ldi) and w (M, J, R, S) as FlatConv describes; bias (M) or null.
  void (*flat)(float* out, const float* in, const float* w, const float* bias, const FlatConv& f);
  // Backward-data as a scatter on the wide planes (flat_impl.h): out (M planes of ldo floats,
  // zeroed by the caller) += each tap of w (J, M, R, S) times in (J planes of ldi floats).
  void (*flat_scatter)(float* out, const float* in, const float* w, const FlatConv& f);
  // Weight gradient of one image, tile (mb, rb, cb) = output channels [mb*dwv_m, +dwv_m) x tap
  // rows (j, r) [rb*dwv_r, +dwv_r) (row_off: each tap row's offset in `in`, C*R of them padded to
  // whole blocks) x kernel columns [cb*dwv_s, +dwv_s) (flat_impl.h, flat_dwv): acc
  // (dwv_m*dwv_r*dwv_s floats, 64-byte aligned: [channel vector][tap row][column][lane]) += the
  // image's sums; gT (P*Q, ldg): the output gradient position-major; in: the padded input planes.
  void (*flat_dwv)(float* acc, const float* gT, int64_t ldg, const float* in, const int64_t* row_off,
                   const FlatConv& f, int64_t P, int64_t Q, int64_t mb, int64_t rb, int64_t cb);
  int64_t dwv_m, dwv_r, dwv_s, dwv_lanes;
  // Forward of one image vectorised over output channels (flat_impl.h, flat_fwdv): yT (P*Q,
  // fwdv_m) position-major = bias + conv of the padded planes `in` (tap t at in + off[t]) with
  // wT (T, fwdv_m), in tiles of fwdv_tile[shape] = {rows, columns} of output positions.
  void (*flat_fwdv)(float* yT, const float* wT, const float* bias, const float* in, const int64_t* off, int64_t T,
                    const FlatConv& f, int64_t P, int64_t Q, int shape);
  int64_t fwdv_m;
  int64_t fwdv_tile[2][2];
};

// The zero-padded input rows and columns dw_small reads (stride_w == 1).
inline int64_t dw_small_pad_rows(const Conv2dParams& p) { return (p.P - 1) * p.stride_h + (p.R - 1) * p.dil_h + 1; }
inline int64_t dw_small_pad_cols(const Conv2dParams& p) { return p.Q + (p.S - 1) * p.dil_w; }
inline int64_t dw_small_pad_floats(const Conv2dParams& p) { return p.Cg * dw_small_pad_rows(p) * dw_small_pad_cols(p); }

namespace generic {
const ConvKernels& conv_kernels();
}
#if defined(FASTDL_HAVE_AVX2)
namespace avx2 {
const ConvKernels& conv_kernels();
}
#endif
#if defined(FASTDL_HAVE_AVX512)
namespace avx512 {
const ConvKernels& conv_kernels();
}
#endif

// The table for `isa` (throws UnsupportedIsa when the CPU lacks it).
const ConvKernels& conv_kernels(Isa isa);

}  // namespace fastdl
