// Recurrent kernels (RNN tanh/relu, LSTM, GRU).
//
// Matches torch.nn.RNN / LSTM / GRU (one layer, one direction per call). Row-major float32 throughout.
//
// Layouts (G = gates per mode: RNN 1, LSTM 4, GRU 3; GH = G * H):
//   x      (T, N, I)   input sequence, time-major
//   y      (T, N, H)   hidden state after every time step (y[t] for the t-th *time*, also when
//                      `reverse` processes t = T-1 .. 0)
//   h0, c0 (N, H)      initial states; nullptr means zeros
//   w_ih   (GH, I), w_hh (GH, H), b_ih (GH), b_hh (GH)  PyTorch's layout and gate order:
//                      LSTM i, f, g, o;  GRU r, z, n;  b_* nullptr means no bias
//   gates  (T, N, GH)  saved for backward: the *activated* gates of every step
//                      (RNN: unused, may be nullptr — the state y is enough)
//   extra  (T, N, H)   saved for backward: LSTM the cell state c_t, GRU W_hn h_{t-1} + b_hn;
//                      RNN unused (nullptr)
//
// Cell equations (PyTorch's):
//   RNN:  h = act(W_ih x + b_ih + W_hh h' + b_hh),  act = tanh or relu
//   LSTM: i,f,g,o = sig, sig, tanh, sig of (W_ih x + b_ih + W_hh h' + b_hh)
//         c = f * c' + i * g;  h = o * tanh(c)
//   GRU:  r, z = sig(W_i{r,z} x + b_i{r,z} + W_h{r,z} h' + b_h{r,z})
//         n = tanh(W_in x + b_in + r * (W_hn h' + b_hn));  h = (1 - z) * n + z * h'
//
// Forward: all input projections as ONE sgemm (T*N x GH), then per step one recurrent product
// (N x GH) with W_hh^T packed once per sequence (gemm_packed.h) and the fused cell
// (nonlinearities + state update in one pass over the gates); LSTM with H a multiple of the
// GEMM panel width fuses the cell into the product per block of hidden units.
// Backward through time: per step the fused cell backward and dh_prev = dG_h W_hh (W_hh packed
// once per sequence);
// after the loop dW_hh (two sgemms over all steps), dW_ih, dx (one sgemm each) and the biases.
#pragma once
#include <cstdint>

namespace fastdl {

enum class RnnMode : int { rnn_tanh = 0, rnn_relu = 1, lstm = 2, gru = 3 };

inline int64_t rnn_num_gates(RnnMode m) {
  return m == RnnMode::lstm ? 4 : (m == RnnMode::gru ? 3 : 1);
}

// One layer, one direction. Writes y, h_n (N, H), c_n (N, H; LSTM only, else nullptr), gates
// and extra (see above). reverse processes the sequence from t = T-1 to 0 (bidirectional).
void rnn_sequence_forward(RnnMode mode, float* y, float* h_n, float* c_n, float* gates, float* extra,
                          const float* x, const float* h0, const float* c0, const float* w_ih,
                          const float* w_hh, const float* b_ih, const float* b_hh, int64_t T,
                          int64_t N, int64_t I, int64_t H, bool reverse);

// Gradients of one layer, one direction; every output is overwritten. dx, dh0, dc0, db_ih,
// db_hh may be nullptr (not wanted); dh_n, dc_n may be nullptr (zero). dy (T, N, H) is required.
void rnn_sequence_backward(RnnMode mode, float* dx, float* dh0, float* dc0, float* dw_ih,
                           float* dw_hh, float* db_ih, float* db_hh, const float* gates,
                           const float* extra, const float* y, const float* x, const float* h0,
                           const float* c0, const float* w_ih, const float* w_hh, const float* dy,
                           const float* dh_n, const float* dc_n, int64_t T, int64_t N, int64_t I,
                           int64_t H, bool reverse);

}  // namespace fastdl
