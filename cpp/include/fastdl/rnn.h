// Recurrent kernels (RNN tanh/relu, LSTM, GRU) and the embedding lookup.
//
// Matches torch.nn.RNN / LSTM / GRU (one layer, one direction per call) and
// torch.nn.functional.embedding. Row-major float32 throughout.
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
// Forward: all input projections as ONE sgemm (T*N x GH), then per step one recurrent sgemm
// (N x GH) and the fused cell (nonlinearities + state update in one pass over the gates).
// Backward through time: per step the fused cell backward and dh_prev = dG_h W_hh (sgemm);
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

// ---- fused cells over rows [n0, n1) of an (N, *) batch; row strides are H or G*H.
// Dispatched (ISA + parallel over rows) versions over all N rows:
//   rnn:  h = act(pre)                           backward: dpre = dh * act'(h)
//   lstm: gates in: pre-activations, out: activated; c_prev may be nullptr
//         backward: dh in, dc in/out (dc_t in, dc_{t-1} out), dgates out (pre-activation grads)
//   gru:  gates in: W_ih x + b_ih, out: r, z, n;  gh = W_hh h' (no bias);  hn out = gh_n + b_hn
//         backward: dgx (grads of W_ih x + b_ih), dgh (grads of W_hh h' + b_hh),
//         dh_prev out = dh * z (the direct part; the caller adds dgh W_hh)
// For every backward, dh = dy + dh_carry (both (N, H)) is summed inside the kernel.
void rnn_cell_forward(bool relu, float* h, const float* pre, int64_t N, int64_t H);
void rnn_cell_backward(bool relu, float* dpre, const float* dy, const float* dh_carry,
                       const float* h, int64_t N, int64_t H);
void lstm_cell_forward(float* h, float* c, float* gates, const float* c_prev, int64_t N, int64_t H);
void lstm_cell_backward(float* dgates, float* dc, const float* dy, const float* dh_carry,
                        const float* gates, const float* c, const float* c_prev, int64_t N, int64_t H);
void gru_cell_forward(float* h, float* gates, float* hn, const float* gh, const float* b_hh,
                      const float* h_prev, int64_t N, int64_t H);
void gru_cell_backward(float* dgx, float* dgh, float* dh_prev, const float* dy, const float* dh_carry,
                       const float* gates, const float* hn, const float* h_prev, int64_t N, int64_t H);

#define FASTDL_RNN_CELL_DECLS                                                                      \
  void rnn_cell_forward(bool relu, float* h, const float* pre, int64_t n0, int64_t n1, int64_t H); \
  void rnn_cell_backward(bool relu, float* dpre, const float* dy, const float* dh_carry,           \
                         const float* h, int64_t n0, int64_t n1, int64_t H);                       \
  void lstm_cell_forward(float* h, float* c, float* gates, const float* c_prev, int64_t n0,        \
                         int64_t n1, int64_t H);                                                   \
  void lstm_cell_backward(float* dgates, float* dc, const float* dy, const float* dh_carry,         \
                          const float* gates, const float* c, const float* c_prev, int64_t n0,     \
                          int64_t n1, int64_t H);                                                  \
  void gru_cell_forward(float* h, float* gates, float* hn, const float* gh, const float* b_hh,     \
                        const float* h_prev, int64_t n0, int64_t n1, int64_t H);                   \
  void gru_cell_backward(float* dgx, float* dgh, float* dh_prev, const float* dy,                  \
                         const float* dh_carry, const float* gates, const float* hn,               \
                         const float* h_prev, int64_t n0, int64_t n1, int64_t H);

namespace generic {
FASTDL_RNN_CELL_DECLS
}
namespace avx2 {
FASTDL_RNN_CELL_DECLS
}
#undef FASTDL_RNN_CELL_DECLS

// ---- embedding (torch.nn.functional.embedding)
// out (n, D) = weight[ids], weight (V, D). Every id must be in [0, V) (checked by the caller).
void embedding_forward(float* out, const int64_t* ids, const float* weight, int64_t n, int64_t V,
                       int64_t D);
// dweight (V, D) = scatter-add of dout (n, D) at ids; duplicates summed in index order (the
// result does not depend on the thread count); row padding_idx gets no gradient (< 0: none).
void embedding_backward(float* dweight, const int64_t* ids, const float* dout, int64_t n, int64_t V,
                        int64_t D, int64_t padding_idx);

}  // namespace fastdl
