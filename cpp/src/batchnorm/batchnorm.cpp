// BatchNorm dispatcher (compiled without vector flags): splits the (N, C, S) tensor into rows,
// runs the per-ISA kernel table of batchnorm_kernels.h (read once per public call) and computes
// the per-channel statistics and coefficients in float64.
//
// Two decompositions (both one parallel_for per pass):
//  * channel path (S >= kSmallS): each channel's N rows of S values are handled by one
//    thread, statistics then normalisation while the channel is still in L2; threads split C.
//    Bitwise identical for every thread count.
//  * column path (S < kSmallS, e.g. (N, C) inputs or 1x1 / 2x2 maps): rows of the (N, C*S)
//    matrix are split across threads; each chunk accumulates per-element float64 partial sums
//    into its own buffer, merged in chunk order (reproducible for a given thread count).
#include "fastdl/batchnorm.h"

#include <cmath>
#include <string>

#include "../activation/activation_kernels.h"
#include "../pool/pool_kernels.h"
#include "batchnorm_kernels.h"
#include "fastdl/common.h"
#include "fastdl/cpu.h"
#include "fastdl/parallel.h"
#include "fastdl/scratch.h"

namespace fastdl {

const BatchnormKernels& batchnorm_kernels(Isa isa) {
  return select_kernels<BatchnormKernels>(isa, &generic::batchnorm_kernels,
                                          FASTDL_AVX2_TABLE(avx2::batchnorm_kernels),
                                          FASTDL_AVX512_TABLE(avx2::batchnorm_kernels));
}

namespace {

constexpr int64_t kSmallS = 16;         // below this the column path is used
constexpr int64_t kGrainElems = 32768;  // ~ tens of microseconds of work per chunk


// The per-channel affine coefficients. Forward and backward both call this with the same
// float inputs, so the recomputed ReLU mask equals the forward's bit for bit.
struct Coef {
  float m, a, b;
};
inline Coef coef(const float* weight, const float* bias, const float* mean, const float* rstd, int64_t c) {
  const float g = weight ? weight[c] : 1.0f;
  const float b = bias ? bias[c] : 0.0f;
  return {mean[c], g * rstd[c], b};
}

void check_sizes(int64_t N, int64_t C, int64_t S) {
  FASTDL_CHECK(N >= 0 && C >= 0 && S >= 0, "batch_norm: negative size");
  checked_mul(checked_mul(checked_mul(N, C, "batch_norm input"), S, "batch_norm input"), 8, "batch_norm input");
}

// Chunks for the column path: T chunks of rows [N*t/T, N*(t+1)/T). T follows the shape only,
// never the thread count, so the float64 sums (merged in chunk order) are bitwise the same on any
// number of threads; kColChunks = 6 balances 1, 2 and 3 threads.
constexpr int64_t kColChunks = 6;
int64_t col_chunks(int64_t N, int64_t L) {
  const int64_t by_work = N / std::max<int64_t>(1, kGrainElems / std::max<int64_t>(L, 1));
  return std::max<int64_t>(1, std::min(by_work, kColChunks));
}

// Column-path float64 sums: out0[j] = sum_n f0, out1[j] = sum_n f1 over the N rows, computed by
// `acc(row, n_rows, p0, p1)` per chunk into private partial buffers, merged in chunk order.
template <class Acc>
void col_reduce(double* out0, double* out1, double* partials, int64_t N, int64_t L, int64_t T, Acc&& acc) {
  parallel_for(0, T, 1, [&](int64_t tlo, int64_t thi) {
    for (int64_t t = tlo; t < thi; ++t) {
      double* p0 = partials + 2 * L * t;
      double* p1 = p0 + L;
      for (int64_t j = 0; j < 2 * L; ++j) p0[j] = 0.0;
      for (int64_t n = N * t / T; n < N * (t + 1) / T; ++n) acc(n, p0, p1);
    }
  });
  for (int64_t j = 0; j < L; ++j) {
    double s0 = 0.0, s1 = 0.0;
    for (int64_t t = 0; t < T; ++t) {
      s0 += partials[2 * L * t + j];
      s1 += partials[2 * L * t + L + j];
    }
    out0[j] = s0;
    out1[j] = s1;
  }
}

// Per-channel statistics from sums; updates running stats. M > 1.
void finish_stats(float* save_mean, float* save_rstd, float* running_mean, float* running_var, int64_t c,
                  double s, double ss, int64_t M, float eps, float momentum) {
  const double mean = s / static_cast<double>(M);
  double var = ss / static_cast<double>(M) - mean * mean;
  if (var < 0.0) var = 0.0;  // rounding
  save_mean[c] = static_cast<float>(mean);
  save_rstd[c] = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  if (running_mean) {
    running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + static_cast<double>(momentum) * mean);
  }
  if (running_var) {
    const double unbiased = var * static_cast<double>(M) / static_cast<double>(M - 1);
    running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + static_cast<double>(momentum) * unbiased);
  }
}

// Backward coefficients of dx = k1*e + k2*(x - m) + k3 (see docs/kernels/batchnorm.md).
inline void bwd_coef(float* k, float g, float r, double sdy, double sdx, int64_t M, bool training) {
  const double gr = static_cast<double>(g) * r;
  k[0] = static_cast<float>(gr);
  if (training && M > 0) {
    k[1] = static_cast<float>(-gr * r * r * sdx / static_cast<double>(M));
    k[2] = static_cast<float>(-gr * sdy / static_cast<double>(M));
  } else {
    k[1] = 0.0f;
    k[2] = 0.0f;
  }
}

// The bytes of the ReLU bitmask of a run of n values (each run starts on a byte, so threads
// writing different runs never share one).
inline int64_t mask_bytes(int64_t n) { return (n + 7) / 8; }

// Where the normalised values go: y = affine (then ReLU when relu), or, when r is non-null,
// the residual join y = relu(affine + r) with its bitmask (runs: rows (n, c) of S values on
// the channel path, rows n of C*S values on the column path).
// With `sig`, y = sigmoid(affine) through the activation family's kernel, applied to each run
// while it is in cache (bitwise the unfused BatchNorm -> Sigmoid).
// Average pooling of the output planes (batch_norm_sigmoid_avg_pool2d): forward, y_pool from
// each (H, W) plane of y; backward, each plane of dy from the pooled gradient dy_pool.
struct PoolPlanes {
  const PoolKernels* kt;
  const Pool2dParams* p;
  bool cip;
  int64_t div;
  float* y_pool;
  const float* dy_pool;
  void forward(const float* y, int64_t plane) const {
    kt->avg_plane(y_pool + plane * p->P * p->Q, y + plane * p->H * p->W, *p, cip, div);
  }
  void backward(float* dy, int64_t plane) const {
    kt->avg_backward_plane(dy + plane * p->H * p->W, dy_pool + plane * p->P * p->Q, *p, cip, div);
  }
};

struct Out {
  float* y;
  const float* r;
  uint8_t* bits;
  bool relu;
  const ActivationKernels* sig = nullptr;
  const PoolPlanes* pool = nullptr;  // channel path only: each row (a plane) pooled while in cache
  // channel path: row (n, c) of S values, row = n*C + c
  void row(const BatchnormKernels& kt, const float* x, int64_t row, int64_t S, const Coef& k) const {
    const int64_t off = row * S;
    if (r) kt.row_affine_add_relu(y + off, bits + row * mask_bytes(S), x + off, r + off, S, k.m, k.a, k.b);
    else kt.row_affine(y + off, x + off, S, k.m, k.a, k.b, relu);
    if (sig) sig->forward(Activation::sigmoid, y + off, y + off, S, 0.0f);
    if (pool) pool->forward(y, row);
  }
  // column path: row n of L = C*S values with per-element coefficients
  void col(const BatchnormKernels& kt, const float* x, int64_t n, int64_t L, const float* em, const float* ea,
           const float* eb) const {
    const int64_t off = n * L;
    if (r) kt.col_affine_add_relu(y + off, bits + n * mask_bytes(L), x + off, r + off, L, em, ea, eb);
    else kt.col_affine(y + off, x + off, L, em, ea, eb, relu);
    if (sig) sig->forward(Activation::sigmoid, y + off, y + off, L, 0.0f);
  }
};

void forward_train(const Out& out, float* save_mean, float* save_rstd, float* running_mean, float* running_var,
                   const float* x, const float* weight, const float* bias, int64_t N, int64_t C, int64_t S, float eps,
                   float momentum) {
  check_sizes(N, C, S);
  if (C == 0) return;
  const int64_t M = N * S;
  if (M == 0) {
    for (int64_t c = 0; c < C; ++c) save_mean[c] = save_rstd[c] = 0.0f;
    return;
  }
  FASTDL_CHECK(M > 1, "batch_norm: expected more than 1 value per channel when training, got " +
                          std::to_string(M));
  const BatchnormKernels& kt = batchnorm_kernels(active_isa());
  if (S >= kSmallS) {
    const int64_t grain = std::max<int64_t>(1, kGrainElems / M);
    parallel_for(0, C, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        double s = 0.0, ss = 0.0;
        for (int64_t n = 0; n < N; ++n) kt.row_stats(x + (n * C + c) * S, S, &s, &ss);
        finish_stats(save_mean, save_rstd, running_mean, running_var, c, s, ss, M, eps, momentum);
        const Coef k = coef(weight, bias, save_mean, save_rstd, c);
        for (int64_t n = 0; n < N; ++n) out.row(kt, x, n * C + c, S, k);
      }
    });
    return;
  }
  // column path
  const int64_t L = C * S;
  const int64_t T = col_chunks(N, L);
  // workspace: partials 2*L*T doubles, sums 2*L doubles, coefficients 3*L floats
  const int64_t nd = checked_add(checked_mul(checked_mul(2, L), T), 2 * L);
  float* ws = scratch(ScratchKey::batchnorm_work, checked_add(checked_mul(nd, 2), 3 * L));
  double* partials = reinterpret_cast<double*>(ws);
  double* sum = partials + 2 * L * T;
  double* sq = sum + L;
  float* em = ws + 2 * nd;
  float* ea = em + L;
  float* eb = ea + L;
  col_reduce(sum, sq, partials, N, L, T, [&](int64_t n, double* p0, double* p1) { kt.col_stats(x + n * L, L, p0, p1); });
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0, ss = 0.0;
    for (int64_t k = 0; k < S; ++k) {
      s += sum[c * S + k];
      ss += sq[c * S + k];
    }
    finish_stats(save_mean, save_rstd, running_mean, running_var, c, s, ss, M, eps, momentum);
    const Coef k = coef(weight, bias, save_mean, save_rstd, c);
    for (int64_t j = c * S; j < (c + 1) * S; ++j) {
      em[j] = k.m;
      ea[j] = k.a;
      eb[j] = k.b;
    }
  }
  parallel_for(0, N, std::max<int64_t>(1, kGrainElems / L), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) out.col(kt, x, n, L, em, ea, eb);
  });
}

void forward_eval(const Out& out, float* save_mean, float* save_rstd, const float* x, const float* weight,
                  const float* bias, const float* running_mean, const float* running_var, int64_t N, int64_t C,
                  int64_t S, float eps) {
  check_sizes(N, C, S);
  if (C == 0) return;
  for (int64_t c = 0; c < C; ++c) {
    save_mean[c] = running_mean[c];
    save_rstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps)));
  }
  const BatchnormKernels& kt = batchnorm_kernels(active_isa());
  if (S >= kSmallS) {
    parallel_for(0, N * C, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(S, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) out.row(kt, x, r, S, coef(weight, bias, save_mean, save_rstd, r % C));
    });
    return;
  }
  const int64_t L = C * S;
  float* em = scratch(ScratchKey::batchnorm_work, checked_mul(3, L));
  float* ea = em + L;
  float* eb = ea + L;
  for (int64_t c = 0; c < C; ++c) {
    const Coef k = coef(weight, bias, save_mean, save_rstd, c);
    for (int64_t j = c * S; j < (c + 1) * S; ++j) {
      em[j] = k.m;
      ea[j] = k.a;
      eb[j] = k.b;
    }
  }
  parallel_for(0, N, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(L, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) out.col(kt, x, n, L, em, ea, eb);
  });
}

}  // namespace

void batch_norm_forward_train(float* y, float* save_mean, float* save_rstd, float* running_mean,
                              float* running_var, const float* x, const float* weight,
                              const float* bias, int64_t N, int64_t C, int64_t S, float eps,
                              float momentum, bool relu) {
  forward_train({y, nullptr, nullptr, relu}, save_mean, save_rstd, running_mean, running_var, x, weight, bias, N, C,
                S, eps, momentum);
}

void batch_norm_forward_eval(float* y, float* save_mean, float* save_rstd, const float* x,
                             const float* weight, const float* bias, const float* running_mean,
                             const float* running_var, int64_t N, int64_t C, int64_t S, float eps,
                             bool relu) {
  forward_eval({y, nullptr, nullptr, relu}, save_mean, save_rstd, x, weight, bias, running_mean, running_var, N, C, S,
               eps);
}

int64_t batch_norm_mask_bytes(int64_t N, int64_t C, int64_t S) {
  check_sizes(N, C, S);
  return S >= kSmallS ? N * C * mask_bytes(S) : N * mask_bytes(C * S);
}

void batch_norm_add_relu_forward(float* y, uint8_t* mask, float* save_mean, float* save_rstd, float* running_mean,
                                 float* running_var, const float* x, const float* residual, const float* weight,
                                 const float* bias, int64_t N, int64_t C, int64_t S, float eps, float momentum,
                                 bool training) {
  const Out out{y, residual, mask, true};
  if (training)
    forward_train(out, save_mean, save_rstd, running_mean, running_var, x, weight, bias, N, C, S, eps, momentum);
  else
    forward_eval(out, save_mean, save_rstd, x, weight, bias, running_mean, running_var, N, C, S, eps);
}

void batch_norm_add_relu_backward(float* dx, float* dweight, float* dbias, float* dresidual, const float* dy,
                                  const uint8_t* mask, const float* x, const float* weight, const float* mean,
                                  const float* rstd, int64_t N, int64_t C, int64_t S, bool training) {
  check_sizes(N, C, S);
  const BatchnormKernels& kt = batchnorm_kernels(active_isa());
  const int64_t rows = S >= kSmallS ? N * C : N, len = S >= kSmallS ? S : C * S;
  parallel_for(0, rows, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(len, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) kt.mask_grad(dresidual + r * len, dy + r * len, mask + r * mask_bytes(len), len);
  });
  // the BatchNorm part is the plain backward of dy*mask (bitwise the unfused chain's numbers)
  batch_norm_backward(dx, dweight, dbias, dresidual, x, weight, nullptr, mean, rstd, N, C, S, training, false);
}

namespace {

// batch_norm_backward; with `sig`, of s = sigmoid(batch_norm(x)) (s: the forward's output):
// dy is first turned into e = dy * s * (1 - s) in dx by the sigmoid's backward kernel, a
// channel row at a time, and summed while the row is in cache; then the plain backward of e.
void backward_impl(float* dx, float* dweight, float* dbias, const float* dy, const float* x, const float* weight,
                   const float* bias, const float* mean, const float* rstd, int64_t N, int64_t C, int64_t S,
                   bool training, bool relu, const ActivationKernels* sig, const float* s_out,
                   const PoolPlanes* pool = nullptr) {
  check_sizes(N, C, S);
  if (C == 0) return;
  const int64_t M = N * S;
  const BatchnormKernels& kt = batchnorm_kernels(active_isa());
  const bool need_sums = training || dweight || dbias;
  if (pool && S < kSmallS) {  // column path: the pooled gradient's planes into dx first, then from dx
    parallel_for(0, N * C, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(S, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) pool->backward(dx, r);
    });
    dy = dx;
    pool = nullptr;
  }
  if (S >= kSmallS || M == 0) {
    const int64_t grain = std::max<int64_t>(1, kGrainElems / std::max<int64_t>(M, 1));
    parallel_for(0, C, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        const Coef k = coef(weight, bias, mean, rstd, c);
        double sdy = 0.0, sdx = 0.0;
        const float* e = sig ? dx : dy;
        for (int64_t n = 0; n < N; ++n) {
          const int64_t off = (n * C + c) * S;
          if (pool) pool->backward(dx, n * C + c);  // dy's plane from the pooled gradient, in dx
          if (sig) sig->backward(Activation::sigmoid, dx + off, (pool ? dx : dy) + off, s_out + off, S, 0.0f);
          if (need_sums) kt.row_bwd_stats(e + off, x + off, S, k.m, k.a, k.b, relu, &sdy, &sdx);
        }
        if (dbias) dbias[c] = static_cast<float>(sdy);
        if (dweight) dweight[c] = static_cast<float>(sdx * rstd[c]);
        float kk[3];
        bwd_coef(kk, weight ? weight[c] : 1.0f, rstd[c], sdy, sdx, M, training);
        for (int64_t n = 0; n < N; ++n)
          kt.row_bwd_dx(dx + (n * C + c) * S, e + (n * C + c) * S, x + (n * C + c) * S, S, k.m, k.a, k.b, relu,
                       kk[0], kk[1], kk[2]);
      }
    });
    return;
  }
  // column path
  const int64_t L = C * S;
  const int64_t T = col_chunks(N, L);
  const int64_t nd = checked_add(checked_mul(checked_mul(2, L), T), 2 * L);
  float* ws = scratch(ScratchKey::batchnorm_work, checked_add(checked_mul(nd, 2), 6 * L));
  double* partials = reinterpret_cast<double*>(ws);
  double* sdy = partials + 2 * L * T;
  double* sdx = sdy + L;
  float* em = ws + 2 * nd;
  float* ea = em + L;
  float* eb = ea + L;
  float* k1 = eb + L;
  float* k2 = k1 + L;
  float* k3 = k2 + L;
  for (int64_t c = 0; c < C; ++c) {
    const Coef k = coef(weight, bias, mean, rstd, c);
    for (int64_t j = c * S; j < (c + 1) * S; ++j) {
      em[j] = k.m;
      ea[j] = k.a;
      eb[j] = k.b;
    }
  }
  if (sig) {
    parallel_for(0, N, std::max<int64_t>(1, kGrainElems / L), [&](int64_t lo, int64_t hi) {
      for (int64_t n = lo; n < hi; ++n) sig->backward(Activation::sigmoid, dx + n * L, dy + n * L, s_out + n * L, L, 0.0f);
    });
    dy = dx;
  }
  if (need_sums) {
    col_reduce(sdy, sdx, partials, N, L, T, [&](int64_t n, double* p0, double* p1) {
      kt.col_bwd_stats(dy + n * L, x + n * L, L, em, ea, eb, relu, p0, p1);
    });
  } else {
    for (int64_t j = 0; j < 2 * L; ++j) sdy[j] = 0.0;
  }
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0, t = 0.0;
    for (int64_t j = c * S; j < (c + 1) * S; ++j) {
      s += sdy[j];
      t += sdx[j];
    }
    if (dbias) dbias[c] = static_cast<float>(s);
    if (dweight) dweight[c] = static_cast<float>(t * rstd[c]);
    float kk[3];
    bwd_coef(kk, weight ? weight[c] : 1.0f, rstd[c], s, t, M, training);
    for (int64_t j = c * S; j < (c + 1) * S; ++j) {
      k1[j] = kk[0];
      k2[j] = kk[1];
      k3[j] = kk[2];
    }
  }
  parallel_for(0, N, std::max<int64_t>(1, kGrainElems / L), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) kt.col_bwd_dx(dx + n * L, dy + n * L, x + n * L, L, em, ea, eb, relu, k1, k2, k3);
  });
}

}  // namespace

void batch_norm_backward(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
                         const float* weight, const float* bias, const float* mean,
                         const float* rstd, int64_t N, int64_t C, int64_t S, bool training,
                         bool relu) {
  backward_impl(dx, dweight, dbias, dy, x, weight, bias, mean, rstd, N, C, S, training, relu, nullptr, nullptr);
}

void batch_norm_sigmoid_forward(float* y, float* save_mean, float* save_rstd, float* running_mean, float* running_var,
                                const float* x, const float* weight, const float* bias, int64_t N, int64_t C,
                                int64_t S, float eps, float momentum, bool training) {
  Out out{y, nullptr, nullptr, false};
  out.sig = &activation_kernels(active_isa());
  if (training)
    forward_train(out, save_mean, save_rstd, running_mean, running_var, x, weight, bias, N, C, S, eps, momentum);
  else
    forward_eval(out, save_mean, save_rstd, x, weight, bias, running_mean, running_var, N, C, S, eps);
}

void batch_norm_sigmoid_backward(float* dx, float* dweight, float* dbias, const float* dy, const float* y,
                                 const float* x, const float* weight, const float* bias, const float* mean,
                                 const float* rstd, int64_t N, int64_t C, int64_t S, bool training) {
  backward_impl(dx, dweight, dbias, dy, x, weight, bias, mean, rstd, N, C, S, training, false,
                &activation_kernels(active_isa()), y);
}

void batch_norm_sigmoid_avg_pool2d_forward(float* y_pool, float* y, float* save_mean, float* save_rstd,
                                           float* running_mean, float* running_var, const float* x,
                                           const float* weight, const float* bias, int64_t N, int64_t C,
                                           const Pool2dParams& pp, bool count_include_pad, int64_t divisor_override,
                                           float eps, float momentum, bool training) {
  const int64_t S = pp.H * pp.W;
  const PoolPlanes pool{&pool_kernels(active_isa()), &pp, count_include_pad, divisor_override, y_pool, nullptr};
  Out out{y, nullptr, nullptr, false};
  out.sig = &activation_kernels(active_isa());
  if (training && S >= kSmallS) out.pool = &pool;  // pooled row by row (forward_train's channel path)
  if (training)
    forward_train(out, save_mean, save_rstd, running_mean, running_var, x, weight, bias, N, C, S, eps, momentum);
  else
    forward_eval(out, save_mean, save_rstd, x, weight, bias, running_mean, running_var, N, C, S, eps);
  if (!out.pool)
    parallel_for(0, N * C, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(S, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) pool.forward(y, r);
    });
}

void batch_norm_sigmoid_avg_pool2d_backward(float* dx, float* dweight, float* dbias, const float* dy_pool,
                                            const float* y, const float* x, const float* weight, const float* bias,
                                            const float* mean, const float* rstd, int64_t N, int64_t C,
                                            const Pool2dParams& pp, bool count_include_pad, int64_t divisor_override,
                                            bool training) {
  const PoolPlanes pool{&pool_kernels(active_isa()), &pp, count_include_pad, divisor_override, nullptr, dy_pool};
  backward_impl(dx, dweight, dbias, nullptr, x, weight, bias, mean, rstd, N, C, pp.H * pp.W, training, false,
                &activation_kernels(active_isa()), y, &pool);
}

}  // namespace fastdl
