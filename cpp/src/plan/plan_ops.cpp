// The op table of compiled plans (fastdl/plan.h): each op is one call (or a short fixed
// sequence of calls) into the pointer-based kernels of cpp/include/fastdl, with the same
// arguments the eager bindings pass, so a replayed step computes what the eager step computes.
//
// Each entry: name, number of buffers, integer arguments, float constants, per-call scalars.
// Buffer order follows the kernel convention: outputs first, then inputs.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fastdl/activation.h"
#include "fastdl/batchnorm.h"
#include "fastdl/common.h"
#include "fastdl/conv.h"
#include "fastdl/dropout.h"
#include "fastdl/gemm.h"
#include "fastdl/linear.h"
#include "fastdl/loss.h"
#include "fastdl/optim.h"
#include "fastdl/plan.h"
#include "fastdl/pool.h"

namespace fastdl {
namespace {

enum Op : int {
  kLinearForward,   // buf [y, x, w, b?]                i [M, N, K]
  kGemm,            // buf [C, A, B]                    i [ta, tb, M, N, K, lda, ldb, ldc]  f [alpha, beta]
  kSumRows,         // buf [out, x]                     i [M, N]
  kActForward,      // buf [y, x]                       i [act, n]  f [param]
  kActBackward,     // buf [dx, dy, saved]              i [act, n]  f [param]
  kAdd,             // buf [y, a, b]  y = a + b         i [n]
  kCopy,            // buf [y, x]                       i [n_bytes]
  kCrossEntropy,    // buf [loss, dlogits?, prob, logits, target, weight?]  i [N, C, ignore, sum]  f [smoothing]
  kMseLoss,         // buf [loss, dx?, x, y]            i [n, sum]
  kSgd,             // buf [(param, momentum_buf?, grad) x k]  i [n_j x k]  s [lr, momentum, dampening, wd, nesterov, maximize]
  kAdam,            // buf [(param, m, v, vmax?, grad) x k]    i [n_j x k]  s [lr, b1, b2, eps, wd, decoupled, maximize, step_j x k]
  kConvForward,     // buf [y, x, w, b?]                i [N C H W K Wc R S sh sw ph pw dh dw groups]
  kConvBackward,    // buf [dx?, dw?, db?, dy, x, w]    i (as kConvForward)
  kMaxPoolForward,  // buf [y, idx (int64), x]          i [NC H W kh kw sh sw ph pw dh dw ceil]
  kMaxPoolBackward, // buf [dx, dy, idx]                i (as kMaxPoolForward)
  kAvgPoolForward,  // buf [y, x]                       i [NC H W kh kw sh sw ph pw ceil count_include_pad divisor]
  kAvgPoolBackward, // buf [dx, dy]                     i (as kAvgPoolForward)
  kAdaptiveAvgForward,   // buf [y, x]                  i [NC H W P Q]
  kAdaptiveAvgBackward,  // buf [dx, dy]                i [NC H W P Q]
  kBatchNormForward,     // buf [y, mean, rstd, running_mean?, running_var?, x, w?, b?]  i [N C S training relu]  f [eps, momentum]
  kBatchNormBackward,    // buf [dx, dw?, db?, dy, x, w?, b?, mean, rstd]                i [N C S training relu]
  kDropoutForward,  // buf [y, mask (uint8), x]  i [n]  f [p]  s [seed: an int64 stored in the double slot]
  kDropoutBackward, // buf [dx, dy, mask]        i [n]  f [p]
  // ResNet's join relu(batch_norm(x) + residual): mask = batch_norm_mask_bytes(N, C, S) bytes
  kBnAddReluForward,   // buf [y, mask, mean, rstd, running_mean?, running_var?, x, residual, w?, b?]  i [N C S training]  f [eps, momentum]
  kBnAddReluBackward,  // buf [dx, dw?, db?, dresidual, dy, mask, x, w?, mean, rstd]                 i [N C S training]
  // LeNet's activation -> average pool (avg_pool2d_act_*): s = act(x) kept for the backward
  kActAvgPoolForward,   // buf [y, s, x]    i (as kAvgPoolForward) + [activation code]
  kActAvgPoolBackward,  // buf [dx, dy, s]  i (as kActAvgPoolForward)
  kCount
};

struct OpInfo {
  const char* name;
  int n_buf;     // -1: a multiple of `group` buffers
  int n_i;       // -1: free
  int n_f;
  int n_s;       // -1: free
};

const OpInfo kOps[kCount] = {
    {"linear_forward", 4, 3, 0, 0},  {"gemm", 3, 8, 2, 0},           {"sum_rows", 2, 2, 0, 0},
    {"act_forward", 2, 2, 1, 0},     {"act_backward", 3, 2, 1, 0},   {"add", 3, 1, 0, 0},
    {"copy", 2, 1, 0, 0},            {"cross_entropy", 6, 4, 1, 0},  {"mse_loss", 4, 2, 0, 0},
    {"sgd", -1, -1, 0, 6},           {"adam", -1, -1, 0, -1},        {"conv2d_forward", 4, 15, 0, 0},
    {"conv2d_backward", 6, 15, 0, 0},
    {"max_pool2d_forward", 3, 12, 0, 0},  {"max_pool2d_backward", 3, 12, 0, 0},
    {"avg_pool2d_forward", 2, 12, 0, 0},  {"avg_pool2d_backward", 2, 12, 0, 0},
    {"adaptive_avg_pool2d_forward", 2, 5, 0, 0},  {"adaptive_avg_pool2d_backward", 2, 5, 0, 0},
    {"batch_norm_forward", 8, 5, 2, 0},   {"batch_norm_backward", 9, 5, 0, 0},
    {"dropout_forward", 3, 1, 1, 1},      {"dropout_backward", 3, 1, 1, 0},
    {"batch_norm_add_relu_forward", 10, 4, 2, 0},  {"batch_norm_add_relu_backward", 10, 4, 0, 0},
    {"avg_pool2d_act_forward", 3, 13, 0, 0},       {"avg_pool2d_act_backward", 3, 13, 0, 0},
};

template <class T>
T* P(void* const* ptr, int b) {
  return b < 0 ? nullptr : static_cast<T*>(ptr[b]);
}

Conv2dParams conv_params(const std::vector<int64_t>& i) {
  return make_conv2d_params(i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7], i[8], i[9], i[10], i[11], i[12], i[13],
                            i[14]);
}

Pool2dParams max_pool_params(const std::vector<int64_t>& i) {
  return make_pool2d_params("max_pool2d", i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7], i[8], i[9], i[10], i[11] != 0);
}

Pool2dParams avg_pool_params(const std::vector<int64_t>& i) {
  return make_pool2d_params("avg_pool2d", i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7], i[8], 1, 1, i[9] != 0);
}

}  // namespace

int plan_op_code(const std::string& name) {
  for (int k = 0; k < kCount; ++k)
    if (name == kOps[k].name) return k;
  return -1;
}

std::vector<std::string> plan_op_names() {
  std::vector<std::string> out;
  for (const OpInfo& o : kOps) out.push_back(o.name);
  return out;
}

void plan_check_step(const PlanStep& st) {
  FASTDL_CHECK(st.op >= 0 && st.op < kCount, "Plan.add_step: unknown op code " + std::to_string(st.op));
  const OpInfo& o = kOps[st.op];
  const std::string name = o.name;
  const auto nb = static_cast<int64_t>(st.buf.size()), ni = static_cast<int64_t>(st.i.size());
  if (st.op == kSgd || st.op == kAdam) {
    const int64_t per = st.op == kSgd ? 3 : 5;
    FASTDL_CHECK(nb % per == 0 && ni == nb / per,
                 name + ": expected " + std::to_string(per) + " buffers and one size per parameter, got " +
                     std::to_string(nb) + " buffers and " + std::to_string(ni) + " sizes");
    const int64_t ns = st.op == kSgd ? 6 : 7 + ni;
    FASTDL_CHECK(static_cast<int64_t>(st.s.size()) == ns,
                 name + ": expected " + std::to_string(ns) + " scalars, got " + std::to_string(st.s.size()));
  } else {
    FASTDL_CHECK(nb == o.n_buf && ni == o.n_i && static_cast<int>(st.f.size()) == o.n_f &&
                     static_cast<int>(st.s.size()) == o.n_s,
                 name + ": wrong number of buffers / integer / float / scalar arguments");
  }
  for (int64_t v : st.i)
    if (st.op == kLinearForward || st.op == kSumRows || st.op == kActForward || st.op == kActBackward || st.op == kAdd ||
        st.op == kCopy || st.op == kMseLoss || st.op == kSgd || st.op == kAdam || st.op == kDropoutForward ||
        st.op == kDropoutBackward)
      FASTDL_CHECK(v >= 0, name + ": negative size " + std::to_string(v));
  if (st.op == kConvForward || st.op == kConvBackward) conv_params(st.i);  // validates
  if (st.op == kBnAddReluForward || st.op == kBnAddReluBackward || st.op == kBatchNormForward ||
      st.op == kBatchNormBackward)
    batch_norm_mask_bytes(st.i[0], st.i[1], st.i[2]);  // validates N, C, S
  if (st.op == kMaxPoolForward || st.op == kMaxPoolBackward) max_pool_params(st.i);
  if (st.op == kAvgPoolForward || st.op == kAvgPoolBackward || st.op == kActAvgPoolForward ||
      st.op == kActAvgPoolBackward)
    avg_pool_params(st.i);
}

void plan_run_step(const PlanStep& st, void* const* ptr, const double* sc) {
  const std::vector<int>& b = st.buf;
  const std::vector<int64_t>& i = st.i;
  switch (st.op) {
    case kLinearForward:
      linear_forward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<float>(ptr, b[2]), P<float>(ptr, b[3]), i[0], i[1],
                     i[2]);
      break;
    case kGemm:
      sgemm(i[0] != 0, i[1] != 0, i[2], i[3], i[4], static_cast<float>(st.f[0]), P<float>(ptr, b[1]), i[5],
            P<float>(ptr, b[2]), i[6], static_cast<float>(st.f[1]), P<float>(ptr, b[0]), i[7]);
      break;
    case kSumRows:
      sum_rows(P<float>(ptr, b[0]), P<float>(ptr, b[1]), i[0], i[1]);
      break;
    case kActForward:
      activation_forward(static_cast<Activation>(i[0]), P<float>(ptr, b[0]), P<float>(ptr, b[1]), i[1],
                         static_cast<float>(st.f[0]));
      break;
    case kActBackward:
      activation_backward(static_cast<Activation>(i[0]), P<float>(ptr, b[0]), P<float>(ptr, b[1]),
                          P<float>(ptr, b[2]), i[1], static_cast<float>(st.f[0]));
      break;
    case kAdd: {
      float* y = P<float>(ptr, b[0]);
      const float* x1 = P<float>(ptr, b[1]);
      const float* x2 = P<float>(ptr, b[2]);
      for (int64_t k = 0; k < i[0]; ++k) y[k] = x1[k] + x2[k];
      break;
    }
    case kCopy: {
      char* y = P<char>(ptr, b[0]);
      const char* x = P<char>(ptr, b[1]);
      if (y != x)
        for (int64_t k = 0; k < i[0]; ++k) y[k] = x[k];
      break;
    }
    case kCrossEntropy: {  // loss (0-d) and, when wanted, its gradient seeded with 1
      double tot[2] = {0.0, 0.0};
      const int64_t N = i[0], C = i[1];
      const bool sum = i[3] != 0;
      const float ls = static_cast<float>(st.f[0]);
      float* prob = P<float>(ptr, b[2]);
      const int64_t* t = P<int64_t>(ptr, b[4]);
      const float* w = P<float>(ptr, b[5]);
      cross_entropy_forward(nullptr, prob, tot, P<float>(ptr, b[3]), t, w, N, C, i[2], ls);
      *P<float>(ptr, b[0]) = static_cast<float>(sum ? tot[0] : tot[0] / tot[1]);
      if (b[1] >= 0) {
        const float one = 1.0f;
        const float scale = sum ? 1.0f : static_cast<float>(1.0 / tot[1]);
        cross_entropy_backward(P<float>(ptr, b[1]), &one, 0, scale, prob, t, w, N, C, i[2], ls);
      }
      break;
    }
    case kMseLoss: {
      double tot[1] = {0.0};
      const int64_t n = i[0];
      const bool sum = i[1] != 0;
      mse_loss_forward(nullptr, tot, P<float>(ptr, b[2]), P<float>(ptr, b[3]), n);
      *P<float>(ptr, b[0]) = static_cast<float>(sum ? tot[0] : tot[0] / static_cast<double>(n));
      if (b[1] >= 0) {
        const float one = 1.0f;
        const float scale = sum ? 1.0f : static_cast<float>(1.0 / static_cast<double>(n));
        mse_loss_backward(P<float>(ptr, b[1]), nullptr, &one, 0, scale, P<float>(ptr, b[2]), P<float>(ptr, b[3]), n);
      }
      break;
    }
    case kSgd: {
      const int* s = st.s.data();
      const double momentum = sc[s[1]];
      for (size_t k = 0; k < i.size(); ++k)
        sgd_update(P<float>(ptr, b[3 * k]), momentum != 0 ? P<float>(ptr, b[3 * k + 1]) : nullptr,
                   P<float>(ptr, b[3 * k + 2]), i[k], sc[s[0]], momentum, sc[s[2]], sc[s[3]], sc[s[4]] != 0,
                   sc[s[5]] != 0, false);
      break;
    }
    case kAdam: {
      const int* s = st.s.data();
      for (size_t k = 0; k < i.size(); ++k)
        adam_update(P<float>(ptr, b[5 * k]), P<float>(ptr, b[5 * k + 1]), P<float>(ptr, b[5 * k + 2]),
                    P<float>(ptr, b[5 * k + 3]), P<float>(ptr, b[5 * k + 4]), i[k],
                    static_cast<int64_t>(sc[s[7 + k]]), sc[s[0]], sc[s[1]], sc[s[2]], sc[s[3]], sc[s[4]],
                    sc[s[5]] != 0, sc[s[6]] != 0);
      break;
    }
    case kConvForward:
      conv2d_forward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<float>(ptr, b[2]), P<float>(ptr, b[3]),
                     conv_params(i));
      break;
    case kConvBackward:
      conv2d_backward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<float>(ptr, b[2]), P<float>(ptr, b[3]),
                      P<float>(ptr, b[4]), P<float>(ptr, b[5]), conv_params(i));
      break;
    case kMaxPoolForward:
      max_pool2d_forward(P<float>(ptr, b[0]), P<int64_t>(ptr, b[1]), P<float>(ptr, b[2]), max_pool_params(i));
      break;
    case kMaxPoolBackward:
      max_pool2d_backward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<int64_t>(ptr, b[2]), max_pool_params(i));
      break;
    case kAvgPoolForward:
      avg_pool2d_forward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), avg_pool_params(i), i[10] != 0, i[11]);
      break;
    case kAvgPoolBackward:
      avg_pool2d_backward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), avg_pool_params(i), i[10] != 0, i[11]);
      break;
    case kAdaptiveAvgForward:
      adaptive_avg_pool2d_forward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), i[0], i[1], i[2], i[3], i[4]);
      break;
    case kAdaptiveAvgBackward:
      adaptive_avg_pool2d_backward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), i[0], i[1], i[2], i[3], i[4]);
      break;
    case kBatchNormForward:
      if (i[3])
        batch_norm_forward_train(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<float>(ptr, b[2]), P<float>(ptr, b[3]),
                                 P<float>(ptr, b[4]), P<float>(ptr, b[5]), P<float>(ptr, b[6]), P<float>(ptr, b[7]),
                                 i[0], i[1], i[2], static_cast<float>(st.f[0]), static_cast<float>(st.f[1]), i[4] != 0);
      else
        batch_norm_forward_eval(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<float>(ptr, b[2]), P<float>(ptr, b[5]),
                                P<float>(ptr, b[6]), P<float>(ptr, b[7]), P<float>(ptr, b[3]), P<float>(ptr, b[4]),
                                i[0], i[1], i[2], static_cast<float>(st.f[0]), i[4] != 0);
      break;
    case kBatchNormBackward:
      batch_norm_backward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<float>(ptr, b[2]), P<float>(ptr, b[3]),
                          P<float>(ptr, b[4]), P<float>(ptr, b[5]), P<float>(ptr, b[6]), P<float>(ptr, b[7]),
                          P<float>(ptr, b[8]), i[0], i[1], i[2], i[3] != 0, i[4] != 0);
      break;
    case kDropoutForward: {
      int64_t seed;  // the caller stores the int64 seed's bits in the double slot
      std::memcpy(&seed, &sc[st.s[0]], sizeof seed);
      dropout_forward(P<float>(ptr, b[0]), P<uint8_t>(ptr, b[1]), P<float>(ptr, b[2]), i[0],
                      static_cast<float>(st.f[0]), static_cast<uint64_t>(seed));
      break;
    }
    case kBnAddReluForward:
      batch_norm_add_relu_forward(P<float>(ptr, b[0]), P<uint8_t>(ptr, b[1]), P<float>(ptr, b[2]), P<float>(ptr, b[3]),
                                  P<float>(ptr, b[4]), P<float>(ptr, b[5]), P<float>(ptr, b[6]), P<float>(ptr, b[7]),
                                  P<float>(ptr, b[8]), P<float>(ptr, b[9]), i[0], i[1], i[2],
                                  static_cast<float>(st.f[0]), static_cast<float>(st.f[1]), i[3] != 0);
      break;
    case kBnAddReluBackward:
      batch_norm_add_relu_backward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<float>(ptr, b[2]), P<float>(ptr, b[3]),
                                   P<float>(ptr, b[4]), P<uint8_t>(ptr, b[5]), P<float>(ptr, b[6]),
                                   P<float>(ptr, b[7]), P<float>(ptr, b[8]), P<float>(ptr, b[9]), i[0], i[1], i[2],
                                   i[3] != 0);
      break;
    case kActAvgPoolForward:
      avg_pool2d_act_forward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<float>(ptr, b[2]), avg_pool_params(i),
                             i[10] != 0, i[11], static_cast<Activation>(i[12]));
      break;
    case kActAvgPoolBackward:
      avg_pool2d_act_backward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<float>(ptr, b[2]), avg_pool_params(i),
                              i[10] != 0, i[11], static_cast<Activation>(i[12]));
      break;
    case kDropoutBackward:
      dropout_backward(P<float>(ptr, b[0]), P<float>(ptr, b[1]), P<uint8_t>(ptr, b[2]), i[0],
                       static_cast<float>(st.f[0]));
      break;
    default:
      throw ArgumentError("Plan.run: unknown op code " + std::to_string(st.op));
  }
}

}  // namespace fastdl
