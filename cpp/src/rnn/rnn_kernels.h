// Internal: the per-ISA kernel table of the recurrent family (see core/dispatch.h): the fused
// cells over rows [n0, n1) of an (N, *) batch (row strides H or G*H). rnn.cpp reads the table
// once per sequence call and splits each step's rows over threads. Three tables: generic,
// AVX2 and AVX-512 (rnn_avx512.cpp: 16 lanes, masked tails, scalef exp, rcp14 + Newton).
//   rnn:  h = act(pre)                           backward: dpre = dh * act'(h)
//   lstm: gates in: pre-activations, out: activated; c_prev may be nullptr
//         backward: dh in, dc in/out (dc_t in, dc_{t-1} out), dgates out (pre-activation grads)
//   gru:  gates in: W_ih x + b_ih, out: r, z, n;  gh = W_hh h' (no bias);  hn out = gh_n + b_hn
//         backward: dgx (grads of W_ih x + b_ih), dgh (grads of W_hh h' + b_hh),
//         dh_prev out = dh * z (the direct part; the caller adds dgh W_hh)
// For every backward, dh = dy + dh_carry (both (N, H)) is summed inside the kernel.
#pragma once
#include <cstdint>

#include "fastdl/cpu.h"

namespace fastdl {

struct RnnKernels {
  void (*rnn_cell_forward)(bool relu, float* h, const float* pre, int64_t n0, int64_t n1, int64_t H);
  void (*rnn_cell_backward)(bool relu, float* dpre, const float* dy, const float* dh_carry, const float* h,
                            int64_t n0, int64_t n1, int64_t H);
  // lstm forward on hidden units [j0, j1) of rows [n0, n1) (the fused step runs it per block of
  // gate columns right after their GEMM block); 0, H for whole rows.
  void (*lstm_cell_forward)(float* h, float* c, float* gates, const float* c_prev, int64_t n0, int64_t n1,
                            int64_t j0, int64_t j1, int64_t H);
  void (*lstm_cell_backward)(float* dgates, float* dc, const float* dy, const float* dh_carry, const float* gates,
                             const float* c, const float* c_prev, int64_t n0, int64_t n1, int64_t H);
  // gru forward on hidden units [j0, j1) of rows [n0, n1) (as lstm above).
  void (*gru_cell_forward)(float* h, float* gates, float* hn, const float* gh, const float* b_hh,
                           const float* h_prev, int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H);
  void (*gru_cell_backward)(float* dgx, float* dgh, float* dh_prev, const float* dy, const float* dh_carry,
                            const float* gates, const float* hn, const float* h_prev, int64_t n0, int64_t n1,
                            int64_t H);
};

namespace generic {
const RnnKernels& rnn_kernels();  // rnn_generic.cpp
}
namespace avx2 {
const RnnKernels& rnn_kernels();  // rnn_avx2.cpp
}
namespace avx512 {
const RnnKernels& rnn_kernels();  // rnn_avx512.cpp
}
const RnnKernels& rnn_kernels(Isa isa);  // rnn.cpp

}  // namespace fastdl
