// Recurrent fused cells: the portable generic path (rows [n0, n1)) and its kernel table.
#include <algorithm>
#include <cmath>

#include "rnn_kernels.h"

namespace fastdl {
namespace generic {

static inline float sigm(float x) { return 1.0f / (1.0f + std::exp(-x)); }

static void rnn_cell_forward(bool relu, float* h, const float* pre, int64_t n0, int64_t n1, int64_t H) {
  for (int64_t i = n0 * H; i < n1 * H; ++i) h[i] = relu ? (pre[i] > 0.0f ? pre[i] : 0.0f) : std::tanh(pre[i]);
}

static void rnn_cell_backward(bool relu, float* dpre, const float* dy, const float* dhc, const float* h,
                       int64_t n0, int64_t n1, int64_t H) {
  for (int64_t i = n0 * H; i < n1 * H; ++i) {
    const float dh = dy[i] + dhc[i];
    dpre[i] = relu ? (h[i] > 0.0f ? dh : 0.0f) : dh * (1.0f - h[i] * h[i]);
  }
}

static void lstm_cell_forward(float* h, float* c, float* gates, const float* c_prev, int64_t n0, int64_t n1,
                              int64_t j0, int64_t j1, int64_t H) {
  for (int64_t n = n0; n < n1; ++n) {
    float* g = gates + n * 4 * H;
    for (int64_t j = j0; j < j1; ++j) {
      const float i = sigm(g[j]), f = sigm(g[H + j]), gg = std::tanh(g[2 * H + j]), o = sigm(g[3 * H + j]);
      const float cp = c_prev ? c_prev[n * H + j] : 0.0f;
      const float cn = f * cp + i * gg;
      g[j] = i;
      g[H + j] = f;
      g[2 * H + j] = gg;
      g[3 * H + j] = o;
      c[n * H + j] = cn;
      h[n * H + j] = o * std::tanh(cn);
    }
  }
}

static void lstm_cell_backward(float* dgates, float* dc, const float* dy, const float* dhc, const float* gates,
                        const float* c, const float* c_prev, int64_t n0, int64_t n1, int64_t H) {
  for (int64_t n = n0; n < n1; ++n) {
    const float* g = gates + n * 4 * H;
    float* dg = dgates + n * 4 * H;
    for (int64_t j = 0; j < H; ++j) {
      const int64_t k = n * H + j;
      const float i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
      const float tc = std::tanh(c[k]);
      const float dh = dy[k] + dhc[k];
      const float dct = dc[k] + dh * o * (1.0f - tc * tc);
      const float cp = c_prev ? c_prev[k] : 0.0f;
      dg[j] = dct * gg * i * (1.0f - i);
      dg[H + j] = dct * cp * f * (1.0f - f);
      dg[2 * H + j] = dct * i * (1.0f - gg * gg);
      dg[3 * H + j] = dh * tc * o * (1.0f - o);
      dc[k] = dct * f;
    }
  }
}

static void gru_cell_forward(float* h, float* gates, float* hn, const float* gh, const float* b_hh,
                             const float* h_prev, int64_t n0, int64_t n1, int64_t j0, int64_t j1, int64_t H) {
  for (int64_t n = n0; n < n1; ++n) {
    float* g = gates + n * 3 * H;
    const float* q = gh + n * 3 * H;
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t k = n * H + j;
      const float br = b_hh ? b_hh[j] : 0.0f, bz = b_hh ? b_hh[H + j] : 0.0f, bn = b_hh ? b_hh[2 * H + j] : 0.0f;
      const float r = sigm(g[j] + q[j] + br);
      const float z = sigm(g[H + j] + q[H + j] + bz);
      const float hl = q[2 * H + j] + bn;
      const float nn = std::tanh(g[2 * H + j] + r * hl);
      const float hp = h_prev ? h_prev[k] : 0.0f;
      g[j] = r;
      g[H + j] = z;
      g[2 * H + j] = nn;
      hn[k] = hl;
      h[k] = (1.0f - z) * nn + z * hp;
    }
  }
}

static void gru_cell_backward(float* dgx, float* dgh, float* dh_prev, const float* dy, const float* dhc,
                       const float* gates, const float* hn, const float* h_prev, int64_t n0, int64_t n1,
                       int64_t H) {
  for (int64_t n = n0; n < n1; ++n) {
    const float* g = gates + n * 3 * H;
    float* dx = dgx + n * 3 * H;
    float* dh_ = dgh + n * 3 * H;
    for (int64_t j = 0; j < H; ++j) {
      const int64_t k = n * H + j;
      const float r = g[j], z = g[H + j], nn = g[2 * H + j];
      const float hp = h_prev ? h_prev[k] : 0.0f;
      const float dh = dy[k] + dhc[k];
      const float dnp = dh * (1.0f - z) * (1.0f - nn * nn);
      const float drp = dnp * hn[k] * r * (1.0f - r);
      const float dzp = dh * (hp - nn) * z * (1.0f - z);
      dx[j] = drp;
      dx[H + j] = dzp;
      dx[2 * H + j] = dnp;
      dh_[j] = drp;
      dh_[H + j] = dzp;
      dh_[2 * H + j] = dnp * r;
      dh_prev[k] = dh * z;
    }
  }
}

}  // namespace generic

namespace generic {
const RnnKernels& rnn_kernels() {
  static const RnnKernels k{&rnn_cell_forward, &rnn_cell_backward, &lstm_cell_forward, &lstm_cell_backward, &gru_cell_forward,
                          &gru_cell_backward};
  return k;
}
}  // namespace generic

}  // namespace fastdl
