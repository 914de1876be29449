// Recurrent layers: the sequence forward / backward drivers (GEMM-shaped: one input-projection
// sgemm, one recurrent sgemm per step) with the fused cells of the kernel table read once per
// call (rnn_kernels.h; per-ISA cells in rnn_generic.cpp / rnn_avx2.cpp / rnn_avx512.cpp).
#include "fastdl/rnn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "fastdl/common.h"
#include "../core/dispatch.h"
#include "fastdl/gemm.h"
#include "fastdl/gemm_packed.h"
#include "fastdl/parallel.h"
#include "rnn_kernels.h"

namespace fastdl {

// ---- dispatch: parallel over rows when the step is large enough to pay for the fork.
static inline int64_t row_grain(int64_t width) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1)); }

const RnnKernels& rnn_kernels(Isa isa) {
  return select_kernels<RnnKernels>(isa, &generic::rnn_kernels, FASTDL_AVX2_TABLE(avx2::rnn_kernels),
                                  FASTDL_AVX512_TABLE(avx512::rnn_kernels));
}

// The fused cells over all N rows (table k, parallel over rows).

static void rnn_cell_forward(const RnnKernels& k, bool relu, float* h, const float* pre, int64_t N, int64_t H) {
  parallel_for(0, N, row_grain(H), [&](int64_t a, int64_t b) { k.rnn_cell_forward(relu, h, pre, a, b, H); });
}
static void lstm_cell_forward(const RnnKernels& k, float* h, float* c, float* gates, const float* c_prev, int64_t N, int64_t H) {
  parallel_for(0, N, row_grain(8 * H), [&](int64_t a, int64_t b) {
    k.lstm_cell_forward(h, c, gates, c_prev, a, b, 0, H, H);
  });
}
static void gru_cell_forward(const RnnKernels& k, float* h, float* gates, float* hn, const float* gh, const float* b_hh,
                      const float* h_prev, int64_t N, int64_t H) {
  parallel_for(0, N, row_grain(6 * H), [&](int64_t a, int64_t b) {
    k.gru_cell_forward(h, gates, hn, gh, b_hh, h_prev, a, b, 0, H, H);
  });
}

inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A buffer of n floats left uninitialised (at least one), for one that is written in full
// before it is read: a std::vector would first zero its megabytes (W_cat, the step inputs and
// the weight gradients of the LSTM LM: 3.6 MB per training step).
static std::unique_ptr<float[]> uninit(int64_t n) {
  return std::unique_ptr<float[]>(new float[static_cast<size_t>(std::max<int64_t>(n, 1))]);
}

// W_hh^T packed once per sequence, one pack per gate: pack g holds op(B)_g = W_hh[gH:(g+1)H, :]^T
// (H x H), so hidden units [u0, u1) of gate g are columns [u0, u1) of pack g for any H (the
// last block of units may be narrower than the panel width; the micro-kernel masks it).
static std::vector<PackedB> pack_gates_t(Isa isa, const float* w_hh, int64_t G, int64_t H) {
  std::vector<PackedB> p;
  for (int64_t g = 0; g < G; ++g) p.push_back(pack_b(isa, true, H, H, w_hh + g * H * H, H));
  return p;
}

// One forward step, fused (every mode): per block of hidden units [u0, u1) (the panel width),
// the gate column blocks of h_prev W_hh^T (RNN / LSTM: beta 1 onto the input projection in
// pre_t, or beta 0 with the whole [x_t | h_prev | 1] [W_ih | W_hh | b]^T of fused_input; GRU:
// beta 0 into gh) and, while they are in L1, the cell on that block. Ah = h_prev packed
// once for all blocks. Blocks are split over threads (one parallel_for per step, no barrier
// inside); each element is computed the same way on any thread count.
static void step_fused(const RnnKernels& k, RnnMode mode, const std::vector<PackedB>& whg, const float* Ah,
                       float beta, float* pre_t, float* y_t, float* extra_t, const float* c_prev, float* gh,
                       const float* b_hh, const float* h_prev, int64_t N, int64_t H) {
  const int64_t G = static_cast<int64_t>(whg.size()), UB = whg[0].nr, nb = cdiv(H, UB);
  const bool gru = mode == RnnMode::gru, relu = mode == RnnMode::rnn_relu;
  const double flops = 2.0 * double(G) * double(N) * double(H) * double(H);
  const int64_t grain = flops < double(gemm_config().thread_flops) ? nb : 1;
  parallel_for(0, nb, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; ++blk) {
      const int64_t u0 = blk * UB, u1 = std::min(u0 + UB, H);
      for (int64_t g = 0; g < G; ++g)
        sgemm_prepacked(N, 1.0f, Ah, whg[g], u0, u1, beta, (gru ? gh : pre_t) + g * H, G * H);
      if (mode == RnnMode::lstm)
        k.lstm_cell_forward(y_t, extra_t, pre_t, c_prev, 0, N, u0, u1, H);
      else if (gru)
        k.gru_cell_forward(y_t, pre_t, extra_t, gh, b_hh, h_prev, 0, N, u0, u1, H);
      else  // RNN: pre_t is y_t (h = act(pre) in place), one row segment at a time
        for (int64_t n = 0; n < N; ++n) k.rnn_cell_forward(relu, y_t + n * H + u0, y_t + n * H + u0, 0, 1, u1 - u0);
    }
  });
}

// One backward step, fused per band of batch rows (one parallel_for per step, no barrier
// inside: every row of dh_{t-1} needs only the same row of the gate gradients): the cell
// backward of the band (gate gradients into dG_t, dc updated), then, while those rows are
// cache-hot, dh_{t-1} of the band = dGh_t W_hh (+ the GRU's direct part the cell left in dhc).
// Bands are 4-row units, so the micro-kernel tiles and the summation order of every element
// are those of one thread.
static void step_backward(const RnnKernels& k, RnnMode mode, const PackedB& whh, float* dG_t, float* dGh_t,
                          float* dc, float* dhc, const float* dy_t, const float* gates_t, const float* extra_t,
                          const float* c_prev, const float* h_prev, const float* y_t, int64_t N, int64_t H) {
  const int64_t G = rnn_num_gates(mode), GH = G * H, units = cdiv(N, 4);
  const bool gru = mode == RnnMode::gru;
  const double flops = 2.0 * double(N) * double(GH) * double(H);
  const int64_t grain = flops < double(gemm_config().thread_flops) ? units : 1;
  parallel_for(0, units, grain, [&](int64_t lo, int64_t hi) {
    const int64_t n0 = lo * 4, n1 = std::min(hi * 4, N);
    if (mode == RnnMode::lstm)
      k.lstm_cell_backward(dG_t, dc, dy_t, dhc, gates_t, extra_t, c_prev, n0, n1, H);
    else if (gru)
      k.gru_cell_backward(dG_t, dGh_t, dhc, dy_t, dhc, gates_t, extra_t, h_prev, n0, n1, H);
    else
      k.rnn_cell_backward(mode == RnnMode::rnn_relu, dG_t, dy_t, dhc, y_t, n0, n1, H);
    sgemm_packed(false, n1 - n0, 1.0f, dGh_t + n0 * GH, GH, whh, gru ? 1.0f : 0.0f, dhc + n0 * H, H,
                 /*allow_threads=*/false);
  });
}

// ---- sequence drivers

// out[j] = sum over rows of a (rows x cols, row stride lda), column blocks in parallel.
static void column_sums(float* out, const float* a, int64_t rows, int64_t cols, int64_t lda) {
  parallel_for(0, cols, 256, [&](int64_t c0, int64_t c1) {
    for (int64_t j = c0; j < c1; ++j) out[j] = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = a + r * lda;
#pragma omp simd
      for (int64_t j = c0; j < c1; ++j) out[j] += row[j];
    }
  });
}

// dW_ih (GH x I) = dG^T x over all TN rows (and db_ih = the column sums of dG when db_ih is
// given; returns whether it computed them). For a narrow input (a one-hot vocabulary, I = 28)
// dG^T x has N = I columns and runs on sgemm's direct path, which streams the cold dG (TN x GH,
// MBs) with a GH stride: 1.7-2.2 ms for the LSTM LM's 64 MFLOP (thread CPU time). Below
// kNarrowInput columns (also the bound of fused_input below) the transposed product
// [x | 1]^T dG ((I + 1) x GH, the ones column giving db_ih) runs instead on dG packed once (a
// sequential copy; the product then runs at the micro-kernel's speed: 1.3-1.5 ms) and is
// transposed into dw_ih.
constexpr int64_t kNarrowInput = 64;
static bool dw_input(float* dw_ih, float* db_ih, const float* dG, const float* x, int64_t TN, int64_t GH, int64_t I) {
  if (I >= kNarrowInput || TN == 0) {
    sgemm(true, false, GH, I, TN, 1.0f, dG, GH, x, I, 0.0f, dw_ih, I);
    return false;
  }
  const int64_t K = db_ih ? I + 1 : I;
  std::vector<float> xa;
  if (db_ih) {
    xa.resize(static_cast<size_t>(TN * K));
    for (int64_t r = 0; r < TN; ++r) {
      std::memcpy(xa.data() + r * K, x + r * I, sizeof(float) * I);
      xa[r * K + I] = 1.0f;
    }
  }
  std::vector<float> t(static_cast<size_t>(K * GH));
  const PackedB dg = pack_b(active_isa(), false, TN, GH, dG, GH);
  sgemm_packed(true, K, 1.0f, db_ih ? xa.data() : x, K, dg, 0.0f, t.data(), GH);
  for (int64_t i = 0; i < I; ++i)
    for (int64_t j = 0; j < GH; ++j) dw_ih[j * I + i] = t[i * GH + j];
  if (db_ih) std::memcpy(db_ih, t.data() + I * GH, sizeof(float) * GH);
  return db_ih != nullptr;
}

// The forward time loop after the input projection of all steps (one sgemm over T * N rows,
// the biases written first and accumulated onto): per step h_prev packed once, the fused step.
static void forward_projected(const RnnKernels& k, RnnMode mode, float* pre, float* y, float* extra, const float* x,
                              const float* h0, const float* c0, const float* w_ih, const float* w_hh,
                              const float* bias, const float* b_hh, int64_t T, int64_t N, int64_t I, int64_t H,
                              bool reverse) {
  const int64_t G = rnn_num_gates(mode), GH = G * H, NH = N * H, TN = T * N;
  const bool is_rnn = mode == RnnMode::rnn_tanh || mode == RnnMode::rnn_relu;
  if (bias)
    parallel_for(0, TN, std::max<int64_t>(1, 65536 / GH), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::memcpy(pre + r * GH, bias, sizeof(float) * GH);
    });
  sgemm(false, true, TN, GH, I, 1.0f, x, I, w_ih, I, bias ? 1.0f : 0.0f, pre, GH);
  std::vector<float> gh;
  if (mode == RnnMode::gru) gh.resize(static_cast<size_t>(N * GH));
  // W_hh^T packed once for all steps, per gate; h_prev packed once per step for all blocks.
  const std::vector<PackedB> whg =
      (T > 1 || (T > 0 && h0)) ? pack_gates_t(active_isa(), w_hh, G, H) : std::vector<PackedB>{};
  std::vector<float> Ah(whg.empty() ? 0 : static_cast<size_t>(packed_a_floats(whg[0], N)));
  const float* h_prev = h0;
  const float* c_prev = c0;
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    float* pre_t = pre + t * N * GH;
    float* y_t = y + t * NH;
    if (h_prev) {
      pack_a_for(whg[0], false, N, h_prev, H, Ah.data());
      step_fused(k, mode, whg, Ah.data(), mode == RnnMode::gru ? 0.0f : 1.0f, pre_t, y_t, extra + t * NH, c_prev,
                 gh.data(), b_hh, h_prev, N, H);
    } else if (mode == RnnMode::gru) {  // first step from a zero state: no recurrent product
      std::fill(gh.begin(), gh.end(), 0.0f);
      gru_cell_forward(k, y_t, pre_t, extra + t * NH, gh.data(), b_hh, nullptr, N, H);
    } else if (is_rnn) {
      rnn_cell_forward(k, mode == RnnMode::rnn_relu, y_t, pre_t, N, H);
    } else {
      lstm_cell_forward(k, y_t, extra + t * NH, pre_t, c_prev, N, H);
    }
    if (mode == RnnMode::lstm) c_prev = extra + t * NH;
    h_prev = y_t;
  }
}

// A narrow input (a one-hot vocabulary: I = 28) makes the input projection of all steps a
// product with K = I that is bound by writing and re-reading its (T N x G H) result (and the
// bias rows) in memory: 1.4 ms of the LSTM LM's 9.8 ms forward for 64 MFLOP. RNN and LSTM then
// run it inside the step instead: one product per step [x_t | h_{t-1} | 1] [W_ih | W_hh | b]^T
// (K = I + H + 1, the bias as a weight column against a column of ones) written straight into
// the step's cache-hot pre-activations (beta 0). The GRU keeps its two products apart (r gates
// only the hidden part of the n gate).
static bool fused_input(RnnMode mode, int64_t I) { return mode != RnnMode::gru && I < kNarrowInput; }

// The N rows [x_t | h_prev | 1] (K = I + H + 1 floats each) of one step; h_prev null: zeros.
static void step_inputs(float* out, const float* x_t, const float* h_prev, int64_t N, int64_t I, int64_t H) {
  const int64_t K = I + H + 1;
  for (int64_t n = 0; n < N; ++n) {
    float* row = out + n * K;
    std::memcpy(row, x_t + n * I, sizeof(float) * I);
    if (h_prev)
      std::memcpy(row + I, h_prev + n * H, sizeof(float) * H);
    else
      std::fill(row + I, row + I + H, 0.0f);
    row[I + H] = 1.0f;
  }
}

static void forward_fused_input(const RnnKernels& k, RnnMode mode, float* pre, float* y, float* extra,
                                const float* x, const float* h0, const float* c0, const float* w_ih,
                                const float* w_hh, const float* bias, int64_t T, int64_t N, int64_t I, int64_t H,
                                bool reverse) {
  const int64_t G = rnn_num_gates(mode), GH = G * H, NH = N * H, K = I + H + 1;
  // [W_ih | W_hh | b] (GH x K), packed once per gate as its transpose.
  const auto wcat = uninit(checked_mul(GH, K, "weights"));
  parallel_for(0, GH, row_grain(K), [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      float* row = wcat.get() + j * K;
      std::memcpy(row, w_ih + j * I, sizeof(float) * I);
      std::memcpy(row + I, w_hh + j * H, sizeof(float) * H);
      row[I + H] = bias ? bias[j] : 0.0f;
    }
  });
  std::vector<PackedB> whg;
  for (int64_t g = 0; g < G; ++g) whg.push_back(pack_b(active_isa(), true, K, H, wcat.get() + g * H * K, K));
  std::vector<float> acat(static_cast<size_t>(N * K));
  std::vector<float> Ah(static_cast<size_t>(packed_a_floats(whg[0], N)));
  const float* h_prev = h0;
  const float* c_prev = c0;
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    float* y_t = y + t * NH;
    step_inputs(acat.data(), x + t * N * I, h_prev, N, I, H);
    pack_a_for(whg[0], false, N, acat.data(), K, Ah.data());
    step_fused(k, mode, whg, Ah.data(), 0.0f, pre + t * N * GH, y_t, extra + t * NH, c_prev, nullptr, nullptr,
               h_prev, N, H);
    if (mode == RnnMode::lstm) c_prev = extra + t * NH;
    h_prev = y_t;
  }
}

void rnn_sequence_forward(RnnMode mode, float* y, float* h_n, float* c_n, float* gates, float* extra,
                          const float* x, const float* h0, const float* c0, const float* w_ih,
                          const float* w_hh, const float* b_ih, const float* b_hh, int64_t T,
                          int64_t N, int64_t I, int64_t H, bool reverse) {
  const auto& k = rnn_kernels(active_isa());
  const int64_t G = rnn_num_gates(mode);
  const int64_t GH = checked_mul(G, H, "gates");
  const int64_t NH = checked_mul(N, H, "state");
  const int64_t TN = checked_mul(T, N, "steps");
  checked_mul(TN, GH, "gate buffer");
  const bool is_rnn = mode == RnnMode::rnn_tanh || mode == RnnMode::rnn_relu;
  // RNN keeps its pre-activations in y (h = act(pre) in place), so it needs no gate buffer.
  float* pre = is_rnn ? y : gates;
  // Biases folded into the pre-activations (GRU: only b_ih; b_hn sits inside r * (.)).
  const bool has_bias = b_ih || (b_hh && mode != RnnMode::gru);
  std::vector<float> bias(has_bias ? static_cast<size_t>(GH) : 0);
  for (int64_t j = 0; has_bias && j < GH; ++j)
    bias[j] = (b_ih ? b_ih[j] : 0.0f) + ((b_hh && mode != RnnMode::gru) ? b_hh[j] : 0.0f);
  if (fused_input(mode, I) && T > 0) {
    forward_fused_input(k, mode, pre, y, extra, x, h0, c0, w_ih, w_hh, has_bias ? bias.data() : nullptr, T, N, I,
                        H, reverse);
  } else {
    forward_projected(k, mode, pre, y, extra, x, h0, c0, w_ih, w_hh, has_bias ? bias.data() : nullptr, b_hh, T, N,
                      I, H, reverse);
  }
  const float* h_prev = T > 0 ? y + (reverse ? 0 : (T - 1) * NH) : h0;
  const float* c_prev = mode != RnnMode::lstm ? nullptr : T > 0 ? extra + (reverse ? 0 : (T - 1) * NH) : c0;
  if (h_n) {
    if (h_prev)
      std::memcpy(h_n, h_prev, sizeof(float) * NH);
    else
      std::fill(h_n, h_n + NH, 0.0f);
  }
  if (c_n && mode == RnnMode::lstm) {
    if (c_prev)
      std::memcpy(c_n, c_prev, sizeof(float) * NH);
    else
      std::fill(c_n, c_n + NH, 0.0f);
  }
}

// The weight gradients of RNN / LSTM with a narrow input (the inputs of the steps' products in
// forward_fused_input): [dW_ih | dW_hh | db] = dG^T [x | h_prev | 1] as one product over all
// steps (K = T N), so dG^T is packed once for all three and the bias sums ride along as a
// column, instead of dW_hh, a narrow dW_ih and two column sums over dG.
static void dw_fused_input(float* dw_ih, float* dw_hh, float* db_ih, float* db_hh, const float* dG, const float* x,
                           const float* y, const float* h0, int64_t T, int64_t N, int64_t I, int64_t H, int64_t GH,
                           bool reverse) {
  const int64_t K = I + H + 1, NH = N * H;
  const auto z = uninit(checked_mul(T * N, K, "step inputs"));
  parallel_for(0, T, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const bool first = reverse ? t == T - 1 : t == 0;
      const float* hp = first ? h0 : y + (reverse ? t + 1 : t - 1) * NH;
      step_inputs(z.get() + t * N * K, x + t * N * I, hp, N, I, H);
    }
  });
  const auto dw = uninit(GH * K);
  sgemm(true, false, GH, K, T * N, 1.0f, dG, GH, z.get(), K, 0.0f, dw.get(), K);
  parallel_for(0, GH, row_grain(K), [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const float* row = dw.get() + j * K;
      std::memcpy(dw_ih + j * I, row, sizeof(float) * I);
      std::memcpy(dw_hh + j * H, row + I, sizeof(float) * H);
      if (db_ih) db_ih[j] = row[I + H];
      if (db_hh) db_hh[j] = row[I + H];
    }
  });
}

void rnn_sequence_backward(RnnMode mode, float* dx, float* dh0, float* dc0, float* dw_ih,
                           float* dw_hh, float* db_ih, float* db_hh, const float* gates,
                           const float* extra, const float* y, const float* x, const float* h0,
                           const float* c0, const float* w_ih, const float* w_hh, const float* dy,
                           const float* dh_n, const float* dc_n, int64_t T, int64_t N, int64_t I,
                           int64_t H, bool reverse) {
  const auto& k = rnn_kernels(active_isa());
  const int64_t G = rnn_num_gates(mode);
  const int64_t GH = checked_mul(G, H, "gates");
  const int64_t NH = checked_mul(N, H, "state");
  const int64_t TN = checked_mul(T, N, "steps");
  const bool gru = mode == RnnMode::gru;
  // dG: gradients of the input-side pre-activations; dGh: of the hidden-side ones (GRU only differ).
  // (every element is written by the cell backward before it is read: no zero fill)
  const int64_t n_gates = checked_mul(TN, GH, "gate buffer");
  const auto dG = uninit(n_gates);
  const auto dGh_buf = gru ? uninit(n_gates) : nullptr;
  float* dGh = gru ? dGh_buf.get() : dG.get();
  std::vector<float> dhc(static_cast<size_t>(NH), 0.0f), dc(static_cast<size_t>(NH), 0.0f);
  if (dh_n) std::memcpy(dhc.data(), dh_n, sizeof(float) * NH);
  if (dc_n && mode == RnnMode::lstm) std::memcpy(dc.data(), dc_n, sizeof(float) * NH);
  // W_hh (GH x H) packed once for the per-step dh_{t-1} = dGh_t W_hh.
  const PackedB whh = T > 0 ? pack_b(active_isa(), false, GH, H, w_hh, H) : PackedB{};
  for (int64_t s = T - 1; s >= 0; --s) {
    const int64_t t = reverse ? T - 1 - s : s;
    const int64_t tp = reverse ? t + 1 : t - 1;  // time index of the previous step's state
    const float* h_prev = s == 0 ? h0 : y + tp * NH;
    const float* c_prev = mode != RnnMode::lstm ? nullptr : s == 0 ? c0 : extra + tp * NH;
    step_backward(k, mode, whh, dG.get() + t * N * GH, dGh + t * N * GH, dc.data(), dhc.data(), dy + t * NH,
                  gates + t * N * GH, extra + t * NH, c_prev, h_prev, y + t * NH, N, H);
  }
  if (T == 0) {
    if (dh_n) std::memcpy(dhc.data(), dh_n, sizeof(float) * NH);
  }
  if (dh0) std::memcpy(dh0, dhc.data(), sizeof(float) * NH);
  if (dc0) {
    if (mode == RnnMode::lstm)
      std::memcpy(dc0, dc.data(), sizeof(float) * NH);
    else
      std::fill(dc0, dc0 + NH, 0.0f);
  }
  if (dx) sgemm(false, false, TN, I, GH, 1.0f, dG.get(), GH, w_ih, I, 0.0f, dx, I);
  if (fused_input(mode, I) && T > 0) {
    dw_fused_input(dw_ih, dw_hh, db_ih, db_hh, dG.get(), x, y, h0, T, N, I, H, GH, reverse);
    return;
  }
  // dW_hh = sum_t dGh_t^T h_{t-1}: the steps whose previous state is in y in one sgemm, the
  // first step (previous state h0) in another.
  {
    const float* dgh_y = reverse ? dGh : dGh + N * GH;           // steps with h_prev in y
    const float* y_prev = reverse ? y + NH : y;                  // their previous states
    const float* dgh_first = reverse ? dGh + (T - 1) * N * GH : dGh;
    float beta = 0.0f;
    if (T > 1) {
      sgemm(true, false, GH, H, (T - 1) * N, 1.0f, dgh_y, GH, y_prev, H, 0.0f, dw_hh, H);
      beta = 1.0f;
    }
    if (T > 0 && h0) {
      sgemm(true, false, GH, H, N, 1.0f, dgh_first, GH, h0, H, beta, dw_hh, H);
      beta = 1.0f;
    }
    if (beta == 0.0f) std::fill(dw_hh, dw_hh + GH * H, 0.0f);
  }
  const bool db_done = dw_input(dw_ih, db_ih, dG.get(), x, TN, GH, I);
  if (db_ih && !db_done) column_sums(db_ih, dG.get(), TN, GH, GH);
  if (db_hh) {
    if (gru && db_ih) {
      // r and z: the hidden-side pre-activation gradients equal the input-side ones (the
      // cell writes the same values to both), so only the n columns of dGh are summed.
      std::memcpy(db_hh, db_ih, sizeof(float) * 2 * H);
      column_sums(db_hh + 2 * H, dGh + 2 * H, TN, H, GH);
    } else if (gru) {
      column_sums(db_hh, dGh, TN, GH, GH);
    } else if (db_ih) {
      std::memcpy(db_hh, db_ih, sizeof(float) * GH);
    } else {
      column_sums(db_hh, dG.get(), TN, GH, GH);
    }
  }
}

}  // namespace fastdl
