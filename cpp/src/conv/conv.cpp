// conv2d: shape arithmetic, dispatch, and the batch-parallel im2col + SGEMM driver.
#include "fastdl/conv.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fastdl/common.h"
#include "fastdl/cpu.h"
#include "fastdl/gemm.h"
#include "fastdl/parallel.h"
#include "fastdl/scratch.h"
#include "conv_epilogue.h"
#include "conv_flat.h"
#include "conv_kernels.h"
#include "tap_classes.h"
#include "../conv_direct/conv_direct.h"

namespace fastdl {

const ConvKernels& conv_kernels(Isa isa) {
  return select_kernels<ConvKernels>(isa, &generic::conv_kernels, FASTDL_AVX2_TABLE(avx2::conv_kernels),
                                     FASTDL_AVX512_TABLE(avx512::conv_kernels));
}

int64_t conv_out_size(int64_t size, int64_t kernel, int64_t padding, int64_t stride, int64_t dilation,
                      bool ceil_mode) {
  FASTDL_CHECK(kernel >= 1, "kernel size must be >= 1, got " + std::to_string(kernel));
  FASTDL_CHECK(stride >= 1, "stride must be >= 1, got " + std::to_string(stride));
  FASTDL_CHECK(dilation >= 1, "dilation must be >= 1, got " + std::to_string(dilation));
  FASTDL_CHECK(padding >= 0, "padding must be >= 0, got " + std::to_string(padding));
  FASTDL_CHECK(size >= 0, "input size must be >= 0, got " + std::to_string(size));
  const int64_t span = checked_add(checked_mul(dilation, kernel - 1, "kernel extent"), 1, "kernel extent");
  const int64_t padded = checked_add(size, checked_mul(2, padding, "padded size"), "padded size");
  const int64_t num = padded - span;  // both non-negative: cannot overflow
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  int64_t out;
  if (ceil_mode) {
    out = num >= 0 ? -floor_div(-num, stride) + 1 : floor_div(num, stride) + 1;
    // PyTorch: the last window must start inside the input or the left padding.
    if (out >= 1 && (out - 1) * stride >= size + padding) out -= 1;
  } else {
    out = floor_div(num, stride) + 1;
  }
  if (out < 1)
    throw ArgumentError("input " + std::to_string(size) + " with kernel " + std::to_string(kernel) +
                        ", padding " + std::to_string(padding) + ", stride " + std::to_string(stride) +
                        ", dilation " + std::to_string(dilation) + " gives output size " + std::to_string(out));
  return out;
}

Conv2dParams make_conv2d_params(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t Wc,
                                int64_t R, int64_t S, int64_t stride_h, int64_t stride_w,
                                int64_t pad_h, int64_t pad_w, int64_t dil_h, int64_t dil_w,
                                int64_t groups) {
  auto pair = [](int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; };
  FASTDL_CHECK(stride_h >= 1 && stride_w >= 1, "conv2d: stride must be >= 1, got " + pair(stride_h, stride_w));
  FASTDL_CHECK(dil_h >= 1 && dil_w >= 1, "conv2d: dilation must be >= 1, got " + pair(dil_h, dil_w));
  FASTDL_CHECK(pad_h >= 0 && pad_w >= 0, "conv2d: padding must be >= 0, got " + pair(pad_h, pad_w));
  FASTDL_CHECK(groups >= 1, "conv2d: groups must be >= 1, got " + std::to_string(groups));
  FASTDL_CHECK(N >= 0 && C >= 0 && H >= 0 && W >= 0 && K >= 0 && Wc >= 0 && R >= 0 && S >= 0,
               "conv2d: negative size");
  FASTDL_CHECK(K >= 1 && R >= 1 && S >= 1 && Wc >= 1,
               "conv2d: weight must have non-zero sizes, got (" + std::to_string(K) + ", " + std::to_string(Wc) +
                   ", " + std::to_string(R) + ", " + std::to_string(S) + ")");
  FASTDL_CHECK(K % groups == 0, "conv2d: out_channels " + std::to_string(K) + " is not divisible by groups=" +
                                    std::to_string(groups));
  const int64_t expected_c = checked_mul(Wc, groups, "channels");
  FASTDL_CHECK(C == expected_c, "conv2d: weight of shape (" + std::to_string(K) + ", " + std::to_string(Wc) + ", " +
                                    std::to_string(R) + ", " + std::to_string(S) + ") with groups=" +
                                    std::to_string(groups) + " expected input with " + std::to_string(expected_c) +
                                    " channels, got " + std::to_string(C));
  Conv2dParams p{};
  p.N = N; p.C = C; p.H = H; p.W = W; p.K = K; p.R = R; p.S = S;
  p.stride_h = stride_h; p.stride_w = stride_w; p.pad_h = pad_h; p.pad_w = pad_w;
  p.dil_h = dil_h; p.dil_w = dil_w; p.groups = groups;
  p.Cg = Wc;
  p.Kg = K / groups;
  try {
    p.P = conv_out_size(H, R, pad_h, stride_h, dil_h);
    p.Q = conv_out_size(W, S, pad_w, stride_w, dil_w);
  } catch (const ArgumentError& e) {
    throw ArgumentError("conv2d: input " + std::to_string(H) + "x" + std::to_string(W) + " with kernel " +
                        std::to_string(R) + "x" + std::to_string(S) + ", padding " + pair(pad_h, pad_w) +
                        ", stride " + pair(stride_h, stride_w) + ", dilation " + pair(dil_h, dil_w) +
                        " is too small: " + e.what());
  }
  // Every buffer this call can touch, overflow-checked (in bytes) before anything is allocated.
  const int64_t PQ = checked_mul(p.P, p.Q, "conv2d output size");
  checked_mul(checked_mul(checked_mul(N, K, "conv2d output size"), PQ, "conv2d output size"), 4, "conv2d output size");
  checked_mul(checked_mul(checked_mul(N, C, "conv2d input size"), checked_mul(H, W, "conv2d input size"),
                          "conv2d input size"), 4, "conv2d input size");
  p.col_rows = checked_mul(checked_mul(Wc, R, "conv2d weight size"), S, "conv2d weight size");
  checked_mul(checked_mul(K, p.col_rows, "conv2d weight size"), 4, "conv2d weight size");
  p.col_cols = PQ;
  checked_mul(checked_mul(p.col_rows, PQ, "conv2d column buffer"), 4, "conv2d column buffer");
  checked_mul(checked_mul(p.col_rows, p.Kg, "conv2d work"), PQ, "conv2d work");
  p.pointwise = R == 1 && S == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  return p;
}

void im2col(float* col, const float* x, const Conv2dParams& p, int64_t ld) {
  conv_kernels(active_isa()).im2col(col, x, p, ld);
}

void col2im(float* dx, const float* col, const Conv2dParams& p, int64_t ld) {
  conv_kernels(active_isa()).col2im(dx, col, p, ld);
}

namespace {

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                        int64_t, float, float*, int64_t);

// Images per parallel chunk so that a chunk is worth a thread (~0.2 MFLOP).
int64_t batch_grain(const Conv2dParams& p) {
  const double flops = 2.0 * static_cast<double>(p.K) * static_cast<double>(p.col_rows) *
                       static_cast<double>(p.col_cols);
  const double g = 2.0e5 / (flops > 1.0 ? flops : 1.0);
  return g < 1.0 ? 1 : (g > 1e9 ? 1000000000 : static_cast<int64_t>(g) + 1);
}

// True when the NB image blocks are split across threads (each runs sgemm_serial); false when
// they run one after another with the threaded sgemm (fewer blocks than threads).
bool split_batch(int64_t NB) { return NB >= get_num_threads(); }

// Small feature maps give skinny per-image GEMMs (N = P*Q = 49 for 7x7) that repack the weights
// for every image. Fold G images side by side into one column buffer (G*P*Q >= kFoldColumns
// columns), bounded so the buffer stays cache-sized.
constexpr int64_t kFoldColumns = 256;
constexpr int64_t kFoldBytes = int64_t(4) << 20;
int64_t fold_count(const Conv2dParams& p) {
  const int64_t PQ = p.col_cols;
  if (PQ >= kFoldColumns) return 1;
  const int64_t want = (kFoldColumns + PQ - 1) / PQ;
  const int64_t cap = kFoldBytes / (4 * (p.col_rows + p.Kg) * PQ);
  return std::max<int64_t>(1, std::min(want, cap));
}

// Forward of images [n0, n0 + G).
void forward_block(float* y, const float* x, const float* w, const float* b, const Conv2dParams& p, int64_t n0,
                   int64_t G, GemmFn gemm, const ConvKernels& kt) {
  const int64_t HW = p.H * p.W, PQ = p.col_cols, CRS = p.col_rows;
  if (G == 1) {  // straight into y: it starts as the bias and the GEMM accumulates onto it
    float* col = p.pointwise ? nullptr : scratch(ScratchKey::conv_col, CRS * PQ);
    for (int64_t g = 0; g < p.groups; ++g) {
      const float* xg = x + (n0 * p.C + g * p.Cg) * HW;
      float* yg = y + (n0 * p.K + g * p.Kg) * PQ;
      const float* wg = w + g * p.Kg * CRS;
      float beta = 0.0f;
      if (b) {
        for (int64_t k = 0; k < p.Kg; ++k) {
          const float bk = b[g * p.Kg + k];
          float* yr = yg + k * PQ;
          for (int64_t i = 0; i < PQ; ++i) yr[i] = bk;
        }
        beta = 1.0f;
      }
      const float* B = xg;
      if (!p.pointwise) {
        kt.im2col(col, xg, p, PQ);
        B = col;
      }
      gemm(false, false, p.Kg, PQ, CRS, 1.0f, wg, CRS, B, PQ, beta, yg, PQ);
    }
    return;
  }
  // G images side by side: col (CRS, G*PQ), tmp (Kg, G*PQ), then tmp + bias scattered to y.
  const int64_t ld = G * PQ;
  float* col = scratch(ScratchKey::conv_col, (CRS + p.Kg) * ld);
  float* tmp = col + CRS * ld;
  for (int64_t g = 0; g < p.groups; ++g) {
    for (int64_t j = 0; j < G; ++j) kt.im2col(col + j * PQ, x + ((n0 + j) * p.C + g * p.Cg) * HW, p, ld);
    gemm(false, false, p.Kg, ld, CRS, 1.0f, w + g * p.Kg * CRS, CRS, col, ld, 0.0f, tmp, ld);
    for (int64_t j = 0; j < G; ++j)
      for (int64_t k = 0; k < p.Kg; ++k) {
        const float bk = b ? b[g * p.Kg + k] : 0.0f;
        const float* src = tmp + k * ld + j * PQ;
        float* dst = y + ((n0 + j) * p.K + g * p.Kg + k) * PQ;
        for (int64_t i = 0; i < PQ; ++i) dst[i] = src[i] + bk;
      }
  }
}

// Weight gradients of at most this many floats per group (LeNet's 6x1x5x5 = 150) with unit
// column stride come from the dw_small kernel (dot products over the pixels, no im2col): an
// SGEMM tile would mostly be wasted on so small an M x N (Kg x Cg*R*S), and im2col's short
// rows cost more than the product. LeNet conv1 backward-weights, N = 256: see bench/RESULTS.md.
constexpr int64_t kDwSmallMaxWeights = 512;
bool use_dw_small(const Conv2dParams& p) { return p.stride_w == 1 && p.Kg * p.col_rows <= kDwSmallMaxWeights; }

// Backward of images [n0, n0 + G): dx (when non-null) overwritten for those images, dw_acc
// (when non-null) scaled by dw_beta (0: overwritten, 1: accumulated) and added to.
void backward_block(float* dx, float* dw_acc, float dw_beta, const float* dy, const float* x, const float* w,
                    const Conv2dParams& p, int64_t n0, int64_t G, GemmFn gemm, const ConvKernels& kt) {
  const int64_t HW = p.H * p.W, PQ = p.col_cols, CRS = p.col_rows;
  if (G == 1) {
    float* col = p.pointwise ? nullptr : scratch(ScratchKey::conv_col, CRS * PQ);
    for (int64_t g = 0; g < p.groups; ++g) {
      const float* dyg = dy + (n0 * p.K + g * p.Kg) * PQ;
      const float* wg = w + g * p.Kg * CRS;
      if (dw_acc) {  // dw_g += dy_g (Kg x PQ) * col^T (PQ x CRS)
        const float* xg = x + (n0 * p.C + g * p.Cg) * HW;
        if (use_dw_small(p)) {
          kt.dw_small(dw_acc + g * p.Kg * CRS, dw_beta, dyg, xg, p, scratch(ScratchKey::conv_pad, dw_small_pad_floats(p)));
        } else {
          const float* B = xg;
          if (!p.pointwise) {
            kt.im2col(col, xg, p, PQ);
            B = col;
          }
          gemm(false, true, p.Kg, CRS, PQ, 1.0f, dyg, PQ, B, PQ, dw_beta, dw_acc + g * p.Kg * CRS, CRS);
        }
      }
      if (dx) {  // dcol = w_g^T (CRS x Kg) * dy_g (Kg x PQ), then col2im (the col buffer is reused)
        float* dxg = dx + (n0 * p.C + g * p.Cg) * HW;
        if (p.pointwise) {
          gemm(true, false, CRS, PQ, p.Kg, 1.0f, wg, CRS, dyg, PQ, 0.0f, dxg, PQ);
        } else {
          gemm(true, false, CRS, PQ, p.Kg, 1.0f, wg, CRS, dyg, PQ, 0.0f, col, PQ);
          kt.col2im(dxg, col, p, PQ);
        }
      }
    }
    return;
  }
  // G images side by side: dyt (Kg, G*PQ) gathered from dy, col (CRS, G*PQ).
  const int64_t ld = G * PQ;
  float* col = scratch(ScratchKey::conv_col, (CRS + p.Kg) * ld);
  float* dyt = col + CRS * ld;
  for (int64_t g = 0; g < p.groups; ++g) {
    for (int64_t j = 0; j < G; ++j)
      for (int64_t k = 0; k < p.Kg; ++k) {
        const float* src = dy + ((n0 + j) * p.K + g * p.Kg + k) * PQ;
        float* dst = dyt + k * ld + j * PQ;
        for (int64_t i = 0; i < PQ; ++i) dst[i] = src[i];
      }
    const float* wg = w + g * p.Kg * CRS;
    if (dw_acc && use_dw_small(p)) {
      float* pad = scratch(ScratchKey::conv_pad, dw_small_pad_floats(p));
      for (int64_t j = 0; j < G; ++j)
        kt.dw_small(dw_acc + g * p.Kg * CRS, j == 0 ? dw_beta : 1.0f, dy + ((n0 + j) * p.K + g * p.Kg) * PQ,
                    x + ((n0 + j) * p.C + g * p.Cg) * HW, p, pad);
    } else if (dw_acc) {
      for (int64_t j = 0; j < G; ++j) kt.im2col(col + j * PQ, x + ((n0 + j) * p.C + g * p.Cg) * HW, p, ld);
      gemm(false, true, p.Kg, CRS, ld, 1.0f, dyt, ld, col, ld, dw_beta, dw_acc + g * p.Kg * CRS, CRS);
    }
    if (dx) {
      gemm(true, false, CRS, ld, p.Kg, 1.0f, wg, CRS, dyt, ld, 0.0f, col, ld);
      for (int64_t j = 0; j < G; ++j) kt.col2im(dx + ((n0 + j) * p.C + g * p.Cg) * HW, col + j * PQ, p, ld);
    }
  }
}

// Blocks of G images per parallel chunk so that a chunk is worth a thread.
int64_t block_grain(const Conv2dParams& p, int64_t G) { return std::max<int64_t>(1, batch_grain(p) / G); }

// Chunks (of the NB image blocks) of the backward-weights reduction: a function of the shape
// only. Up to 6 chunks (balanced on 1, 2 and 3 threads) while the private accumulators stay
// under 1 MB each, else 2; never more than a thread's worth of work per chunk (block_grain)
// allows. Each extra chunk costs one accumulator pass on 1 thread and its memory, so large
// weights get 2 (the machine has 2 cores; a third thread does not speed up those layers).
constexpr int64_t kDwChunksSmall = 6, kDwChunksLarge = 2, kDwSmallFloats = int64_t(1) << 18;
int64_t dw_chunks(const Conv2dParams& p, int64_t NB, int64_t G) {
  const int64_t WS = p.K * p.col_rows;
  const int64_t cap = WS <= kDwSmallFloats ? kDwChunksSmall : kDwChunksLarge;
  return std::max<int64_t>(1, std::min(NB / block_grain(p, G), cap));
}

}  // namespace

static void forward_impl(float* y, const float* x, const float* w, const float* b, const Conv2dParams& p) {
  const Isa isa = active_isa();
  const ConvKernels& kt = conv_kernels(isa);
  if (p.N == 0) return;
  if (conv_flat_choice(p).fwd) return conv_flat_forward(kt, y, x, w, b, p);  // few channels: before direct
  if (conv_direct_choice(p, isa).fwd) return conv_direct_forward(conv_direct_kernels(isa), y, x, w, b, p);
  // Work in blocks of G images fixed by the shape (block j = images [jG, min(N, (j+1)G))), so
  // every GEMM has the same size on any thread count and y is bitwise the same.
  const int64_t G = fold_count(p), NB = (p.N + G - 1) / G;
  auto block = [&](int64_t j, GemmFn gemm) { forward_block(y, x, w, b, p, j * G, std::min(G, p.N - j * G), gemm, kt); };
  if (split_batch(NB)) {
    // Blocks split across threads, each with its own column buffer and a serial GEMM.
    parallel_for(0, NB, block_grain(p, G), [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j) block(j, &sgemm_serial);
    });
  } else {
    for (int64_t j = 0; j < NB; ++j) block(j, &sgemm);
  }
}

static void backward_impl(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                          const Conv2dParams& p) {
  const Isa isa = active_isa();
  const ConvKernels& kt = conv_kernels(isa);
  const int64_t WS = p.K * p.col_rows;
  if (db) conv_bias_gradient(db, dy, p);
  if (dw && p.N == 0)
    for (int64_t i = 0; i < WS; ++i) dw[i] = 0.0f;
  if (p.N == 0 || (!dx && !dw)) return;
  // The flat engine's weight gradient (small layers), then the direct engine takes the
  // gradients it wins on; im2col + SGEMM computes the rest.
  const FlatChoice fc = conv_flat_choice(p);
  if (dw && fc.dw) {
    conv_flat_backward_weights(kt, dw, dy, x, p);
    dw = nullptr;
    if (!dx) return;
  }
  const DirectChoice dc = conv_direct_choice(p, isa);
  float* dx_direct = dx && dc.dx ? dx : nullptr;
  float* dw_direct = dw && dc.dw ? dw : nullptr;
  if (dx_direct || dw_direct) {
    conv_direct_backward(conv_direct_kernels(isa), dx_direct, dw_direct, dy, x, w, p);
    if (dx_direct) dx = nullptr;
    if (dw_direct) dw = nullptr;
    if (!dx && !dw) return;
  }
  if (dx && fc.dx) {
    conv_flat_backward_data(kt, dx, dy, w, p);
    dx = nullptr;
    if (!dw) return;
  }

  // Blocks of G images fixed by the shape, as in the forward. The blocks are cut into D chunks
  // that follow the shape only (dw_chunks), never the thread count: chunk 0 accumulates into dw
  // itself (overwriting it), chunk c > 0 into its slice of one buffer (scratch conv_dw_acc, allocated before the
  // region); the slices are added in chunk order afterwards. So no two threads write one
  // gradient and dw is bitwise the same on any number of threads (the threaded sgemm splits
  // M / N only, never the reduction).
  const int64_t G = fold_count(p), NB = (p.N + G - 1) / G;
  // The first block of a chunk overwrites its accumulator (GEMM beta 0), the others add to it.
  auto block = [&](int64_t j, float* acc, bool first, GemmFn gemm) {
    backward_block(dx, acc, first ? 0.0f : 1.0f, dy, x, w, p, j * G, std::min(G, p.N - j * G), gemm, kt);
  };
  const int64_t D = dw ? dw_chunks(p, NB, G) : (split_batch(NB) ? parallel_plan(0, NB, block_grain(p, G)).chunks : 1);
  if (D == 1) {
    for (int64_t j = 0; j < NB; ++j) block(j, dw, j == 0, &sgemm);
    return;
  }
  const ParallelPlan plan{0, NB, D};
  float* parts = dw ? scratch(ScratchKey::conv_dw_acc, checked_mul(D - 1, WS, "conv_dw_acc")) : nullptr;
  parallel_for(plan, [&](int64_t lo, int64_t hi, int64_t t) {
    float* acc = dw ? (t == 0 ? dw : parts + (t - 1) * WS) : nullptr;
    for (int64_t j = lo; j < hi; ++j) block(j, acc, j == lo, &sgemm_serial);
  });
  if (parts) {
    parallel_for(0, WS, 16384, [&](int64_t lo, int64_t hi) {
      for (int64_t t = 1; t < D; ++t) {
        const float* src = parts + (t - 1) * WS;
        for (int64_t i = lo; i < hi; ++i) dw[i] += src[i];
      }
    });
  }
}

// ---- taps in the padding --------------------------------------------------------------------
// A kernel row (column) whose taps land in the zero padding for every output position adds
// nothing to y, dx or dw. When the live rows [r0, r1) and columns [s0, s1) are a strict part of
// the kernel (3x3 convolutions on 1x1 maps: only the centre is live; 3x3 stride 2 on 2x2 maps:
// 2x2 taps), the call runs as the smaller convolution with kernel (r1-r0, s1-s0) and padding
// (pad_h - r0*dil_h, pad_w - s0*dil_w) on the weight slice, which maps every output position
// to the same input taps (checked: same P and Q, padding >= 0); dw outside the slice is zero.
namespace {

struct Trim {
  bool on = false;
  int64_t r0 = 0, s0 = 0;
  Conv2dParams q{};
};

// Live kernel offsets [lo, hi) along one dimension (lo >= hi: none).
void live_taps(int64_t size, int64_t kernel, int64_t pad, int64_t stride, int64_t dil, int64_t out, int64_t* lo,
               int64_t* hi) {
  *lo = kernel;
  *hi = 0;
  for (int64_t r = 0; r < kernel; ++r) {
    const int64_t off = r * dil - pad;  // input index of output 0's tap r
    const int64_t o = off >= 0 ? 0 : (-off + stride - 1) / stride;  // first output with a tap >= 0
    if (o < out && o * stride + off < size) {
      *lo = std::min(*lo, r);
      *hi = r + 1;
    }
  }
}

Trim trim_padding_taps(const Conv2dParams& p) {
  Trim t;
  int64_t r0, r1, s0, s1;
  live_taps(p.H, p.R, p.pad_h, p.stride_h, p.dil_h, p.P, &r0, &r1);
  live_taps(p.W, p.S, p.pad_w, p.stride_w, p.dil_w, p.Q, &s0, &s1);
  if (r0 >= r1 || s0 >= s1 || (r1 - r0 == p.R && s1 - s0 == p.S)) return t;
  const int64_t ph = p.pad_h - r0 * p.dil_h, pw = p.pad_w - s0 * p.dil_w;
  if (ph < 0 || pw < 0) return t;
  const Conv2dParams q = make_conv2d_params(p.N, p.C, p.H, p.W, p.K, p.Cg, r1 - r0, s1 - s0, p.stride_h, p.stride_w,
                                            ph, pw, p.dil_h, p.dil_w, p.groups);
  if (q.P != p.P || q.Q != p.Q) return t;
  t.on = true;
  t.r0 = r0;
  t.s0 = s0;
  t.q = q;
  return t;
}

// Copies between the full weight (K*Cg, R, S) and its slice (K*Cg, R', S'): full -> slice
// (ToSlice), or slice -> the slice's taps of a full weight.
template <bool ToSlice>
void copy_slice(const float* src, float* dst, const Conv2dParams& p, const Trim& t) {
  const int64_t R2 = t.q.R, S2 = t.q.S;
  for (int64_t kc = 0; kc < p.K * p.Cg; ++kc)
    for (int64_t r = 0; r < R2; ++r)
      for (int64_t s = 0; s < S2; ++s) {
        const int64_t full = (kc * p.R + t.r0 + r) * p.S + t.s0 + s, slice = (kc * R2 + r) * S2 + s;
        if (ToSlice) dst[slice] = src[full]; else dst[full] = src[slice];
      }
}

}  // namespace

// Tap classes skip every padding tap, also those trimming would: they take the map whole (a
// trimmed shape never qualifies when the whole one does not: same P, Q, fewer padding taps).
static void forward_any(float* y, const float* x, const float* w, const float* b, const Conv2dParams& p) {
  if (tap_classes_apply(p)) return tap_classes_forward(y, x, w, b, p);
  const Trim t = trim_padding_taps(p);
  if (!t.on) return forward_impl(y, x, w, b, p);
  float* ws = scratch(ScratchKey::conv_trim, p.K * t.q.col_rows);
  copy_slice<true>(w, ws, p, t);
  forward_impl(y, x, ws, b, t.q);
}

void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dParams& p, bool relu) {
  forward_any(y, x, w, b, p);
  if (relu) conv_relu_inplace(y, p);
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     const Conv2dParams& p, const float* relu_y) {
  if (relu_y && p.N > 0) {  // dy through the fused ReLU's mask (and db from it) in one pass
    const int64_t n_out = p.N * p.K * p.col_cols;
    float* dym = scratch(ScratchKey::conv_relu_dy, n_out + p.N * p.K);
    conv_relu_mask(dym, db, dym + n_out, dy, relu_y, p);
    dy = dym;
    db = nullptr;
  }
  if (tap_classes_apply(p)) {  // N > 0
    if (db) conv_bias_gradient(db, dy, p);
    if (dx || dw) tap_classes_backward(dx, dw, dy, x, w, p);
    return;
  }
  const Trim t = trim_padding_taps(p);
  if (!t.on) return backward_impl(dx, dw, db, dy, x, w, p);
  const int64_t WS2 = p.K * t.q.col_rows;
  float* ws = scratch(ScratchKey::conv_trim, 2 * WS2);
  float* dws = ws + WS2;
  copy_slice<true>(w, ws, p, t);
  backward_impl(dx, dw ? dws : nullptr, db, dy, x, ws, t.q);
  if (dw) {
    for (int64_t i = 0; i < p.K * p.col_rows; ++i) dw[i] = 0.0f;
    copy_slice<false>(dws, dw, p, t);
  }
}

}  // namespace fastdl
