// Direct convolution driver: weight reorders, image groups, reorders at the layer boundary and
// the split of the work across threads (forward / backward-data: images x output-channel block
// groups x output rows; backward-weights: weight blocks x kernel taps, each summed by one thread
// over the images in order).
#include "conv_direct.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fastdl/common.h"
#include "fastdl/parallel.h"
#include "fastdl/scratch.h"

namespace fastdl {

const ConvDirectKernels& conv_direct_kernels(Isa isa) {
  return select_kernels<ConvDirectKernels>(isa, &generic::conv_direct_kernels,
                                           FASTDL_AVX2_TABLE(avx2::conv_direct_kernels),
                                           FASTDL_AVX512_TABLE(avx512::conv_direct_kernels));
}

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Items per parallel chunk so that a chunk is worth a thread (~0.2 MFLOP, as the im2col driver).
int64_t grain_for(double flops_per_item) {
  const double g = 2.0e5 / (flops_per_item > 1.0 ? flops_per_item : 1.0);
  return g < 1.0 ? 1 : (g > 1e9 ? 1000000000 : static_cast<int64_t>(g) + 1);
}

// Blocked activations per image group (floats, ~4 MB): a group's copies stay in L2 / L3 between
// the reorder and the kernels, and the scratch stays small whatever the batch.
constexpr int64_t kGroupFloats = int64_t(1) << 20;

// A forward convolution on the blocked layout: the input rows are padded by pad_w on the left
// and pr on the right (Wp columns), so no tap of any output column falls outside a row.
struct Geo {
  int64_t C, H, W, K, P, Q, R, S, sh, sw, ph, pw, dh, dw;
  int64_t Cb, Kb, pr, Wp;
};

Geo make_geo(const Conv2dParams& p, int64_t vl) {
  Geo g{p.C, p.H, p.W, p.K, p.P, p.Q, p.R, p.S, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w,
        0, 0, 0, 0};
  g.Cb = ceil_div(p.C, vl);
  g.Kb = ceil_div(p.K, vl);
  g.pr = std::max<int64_t>(0, (p.Q - 1) * p.stride_w + (p.S - 1) * p.dil_w + 1 - p.pad_w - p.W);
  g.Wp = p.pad_w + p.W + g.pr;
  return g;
}

// wb[ob][ib][r][s][i][o] in vl x vl blocks, zero past the channel counts. Forward: o, i = the
// output / input channel of w[o][i][r][s]. flip (backward-data as a forward convolution of dy):
// o = input channel c, i = output channel k, taken from w[k][c][R-1-r][S-1-s].
void block_weights(float* wb, const float* w, int64_t K, int64_t C, int64_t R, int64_t S, int64_t vl, bool flip) {
  const int64_t O = flip ? C : K, I = flip ? K : C, Ob = ceil_div(O, vl), Ib = ceil_div(I, vl), RS = R * S;
  const int64_t region = Ib * RS * vl * vl;  // wb of one output block (L2-sized)
  // Per output block; the source is read in runs of R*S (forward: whole rows of w).
  parallel_for(0, Ob, std::max<int64_t>(1, 16384 / region), [&](int64_t lo, int64_t hi) {
    for (int64_t ob = lo; ob < hi; ++ob) {
      float* d = wb + ob * region;
      if (O % vl != 0 || I % vl != 0) std::fill(d, d + region, 0.0f);
      const int64_t nv = std::min(vl, O - ob * vl);
      for (int64_t ic = 0; ic < I; ++ic)
        for (int64_t o = 0; o < nv; ++o) {
          const int64_t oc = ob * vl + o;
          const float* src = flip ? w + (ic * C + oc) * RS : w + (oc * C + ic) * RS;
          float* dst = d + (ic / vl) * RS * vl * vl + (ic % vl) * vl + o;
          for (int64_t t = 0; t < RS; ++t) dst[t * vl * vl] = src[flip ? RS - 1 - t : t];
        }
    }
  });
}

// dw[k][c][r][s] from the blocked gradient dwb[kb][cb][r][s][ci][ko].
void unblock_weights(float* dw, const float* dwb, int64_t K, int64_t C, int64_t R, int64_t S, int64_t vl) {
  const int64_t Cb = ceil_div(C, vl);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s)
          dw[((k * C + c) * R + r) * S + s] =
              dwb[((((k / vl) * Cb + c / vl) * R + r) * S + s) * vl * vl + (c % vl) * vl + k % vl];
}

// Images [0, G) of a group: src (G, C, H, W) plain -> dst blocked with pl / pr zero columns.
void reorder_group(const ConvDirectKernels& kt, float* dst, const float* src, int64_t G, int64_t C, int64_t H,
                   int64_t W, int64_t pl, int64_t pr) {
  const int64_t img = ceil_div(C, kt.vl) * kt.vl * H * (pl + W + pr);
  parallel_for(0, G, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, img)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) kt.to_blocked(dst + i * img, src + i * C * H * W, C, H, W, pl, pr);
  });
}

// y (G, K, P, Q) plain from xb (G images, blocked as g says) and wb; bias padded to Kb * vl or null.
void forward_group(const ConvDirectKernels& kt, float* y, const float* xb, const float* wb, const float* bias,
                   const Geo& g, int64_t G) {
  const int64_t vl = kt.vl, NB = kt.max_nkb, KG = ceil_div(g.Kb, NB), items = G * KG * g.P;
  const double item_flops = 2.0 * NB * vl * g.Q * g.C * g.R * g.S;
  parallel_for(parallel_plan(0, items, grain_for(item_flops)), [&](int64_t lo, int64_t hi) {
    float* row = scratch(ScratchKey::conv_direct_row, NB * vl * g.Q);
    DirectFwdRow a{};
    a.y = row;
    a.S = g.S;
    a.Q = g.Q;
    a.stride_w = g.sw;
    a.dil_w = g.dw;
    a.ncb = g.Cb;
    a.c_last = g.C - (g.Cb - 1) * vl;
    a.x_cb = g.H * g.Wp * vl;
    a.x_r = g.dh * g.Wp * vl;
    a.w_r = g.S * vl * vl;
    a.w_cb = g.R * a.w_r;
    a.w_kb = g.Cb * a.w_cb;
    a.y_kb = g.Q * vl;
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t p = it % g.P, kg = (it / g.P) % KG, n = it / (g.P * KG);
      const int64_t kb0 = NB * kg, ih0 = p * g.sh - g.ph;
      const int64_t r0 = ih0 >= 0 ? 0 : ceil_div(-ih0, g.dh);
      const int64_t r1 = g.H - ih0 > 0 ? std::min(g.R, ceil_div(g.H - ih0, g.dh)) : 0;
      a.nkb = std::min<int64_t>(NB, g.Kb - kb0);
      a.nr = std::max<int64_t>(0, r1 - r0);
      a.x = a.nr > 0 ? xb + ((n * g.Cb * g.H) + ih0 + r0 * g.dh) * g.Wp * vl : xb;
      a.w = wb + kb0 * a.w_kb + r0 * a.w_r;
      a.bias = bias ? bias + kb0 * vl : nullptr;
      kt.fwd_row(a);
      kt.row_to_plain(y + ((n * g.K + kb0 * vl) * g.P + p) * g.Q, row, a.nkb, a.y_kb,
                      std::min(g.K - kb0 * vl, a.nkb * vl), g.Q, g.P * g.Q);
    }
  });
}

// dwb += the weight gradient of images [0, G) of a group; xb blocked as g says, dyb blocked with
// pl_d / Qp (its first real column at pl_d). Item (kb, cb, r, s) owns the tap block
// dwb[kb][cb][r][s] and sums the images in order: the same sums on any thread count.
void weights_group(const ConvDirectKernels& kt, float* dwb, const float* xb, const float* dyb, const Geo& g,
                   int64_t G, int64_t pl_d, int64_t Qp) {
  const int64_t vl = kt.vl, RS = g.R * g.S, items = g.Kb * g.Cb * RS;
  const double item_flops = 2.0 * vl * vl * G * g.P * g.Q;
  parallel_for(parallel_plan(0, items, grain_for(item_flops)), [&](int64_t lo, int64_t hi) {
    DirectBwdWTap t{};
    t.Q = g.Q;
    t.stride_w = g.sw;
    t.x_p = g.sh * g.Wp * vl;
    t.dy_p = Qp * vl;
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t s = it % g.S, r = (it / g.S) % g.R, cb = (it / RS) % g.Cb, kb = it / (RS * g.Cb);
      const int64_t off = g.ph - r * g.dh;  // ih = p * sh - off
      const int64_t p_lo = off > 0 ? ceil_div(off, g.sh) : 0;
      const int64_t top = g.H - 1 + off;  // ih <= H - 1  <=>  p * sh <= top
      const int64_t p_hi = top >= 0 ? std::min(g.P, top / g.sh + 1) : 0;
      if (p_lo >= p_hi) continue;
      t.np = p_hi - p_lo;
      t.nc = std::min(vl, g.C - cb * vl);
      t.dw_tap = dwb + it * vl * vl;
      for (int64_t n = 0; n < G; ++n) {
        t.x = xb + ((n * g.Cb + cb) * g.H + p_lo * g.sh - off) * g.Wp * vl + s * g.dw * vl;
        t.dy = dyb + ((n * g.Kb + kb) * g.P + p_lo) * Qp * vl + pl_d * vl;
        kt.bwd_w_tap(t);
      }
    }
  });
}

int64_t group_size(int64_t N, int64_t floats_per_image) {
  return std::max<int64_t>(1, std::min(N, kGroupFloats / std::max<int64_t>(1, floats_per_image)));
}

// The stride-1 forward convolution that computes dx from dy (see conv_direct_dx_supported).
Conv2dParams transposed_params(const Conv2dParams& p) {
  return make_conv2d_params(p.N, p.K, p.P, p.Q, p.C, p.K, p.R, p.S, 1, 1, p.dil_h * (p.R - 1) - p.pad_h,
                            p.dil_w * (p.S - 1) - p.pad_w, p.dil_h, p.dil_w, 1);
}

}  // namespace

bool conv_direct_dx_supported(const Conv2dParams& p) {
  return p.groups == 1 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h * (p.R - 1) >= p.pad_h &&
         p.dil_w * (p.S - 1) >= p.pad_w;
}

void conv_direct_forward(const ConvDirectKernels& kt, float* y, const float* x, const float* w, const float* b,
                         const Conv2dParams& p) {
  FASTDL_CHECK(p.groups == 1, "conv_direct: groups must be 1");
  if (p.N == 0) return;
  const int64_t vl = kt.vl;
  const Geo g = make_geo(p, vl);
  float* wb = scratch(ScratchKey::conv_direct_w, g.Kb * g.Cb * g.R * g.S * vl * vl);
  block_weights(wb, w, p.K, p.C, p.R, p.S, vl, false);
  std::vector<float> bias;
  if (b) {
    bias.assign(static_cast<size_t>(g.Kb * vl), 0.0f);
    std::copy(b, b + p.K, bias.begin());
  }
  const int64_t img = g.Cb * vl * g.H * g.Wp, G = group_size(p.N, img);
  float* xb = scratch(ScratchKey::conv_direct_x, G * img);
  for (int64_t n0 = 0; n0 < p.N; n0 += G) {
    const int64_t Gi = std::min(G, p.N - n0);
    reorder_group(kt, xb, x + n0 * p.C * p.H * p.W, Gi, p.C, p.H, p.W, p.pad_w, g.pr);
    forward_group(kt, y + n0 * p.K * p.P * p.Q, xb, wb, b ? bias.data() : nullptr, g, Gi);
  }
}

void conv_direct_backward(const ConvDirectKernels& kt, float* dx, float* dw, const float* dy, const float* x,
                          const float* w, const Conv2dParams& p) {
  FASTDL_CHECK(p.groups == 1, "conv_direct: groups must be 1");
  FASTDL_CHECK(!dx || conv_direct_dx_supported(p), "conv_direct: backward-data needs stride 1");
  if (!dx && !dw) return;
  const int64_t vl = kt.vl;
  const Geo g = make_geo(p, vl);
  const int64_t WSb = g.Kb * g.Cb * g.R * g.S * vl * vl;
  if (p.N == 0) {
    if (dw) std::fill(dw, dw + p.K * p.C * p.R * p.S, 0.0f);
    return;
  }
  Geo gt{};
  int64_t pl_d = 0, pr_d = 0;
  if (dx) {
    gt = make_geo(transposed_params(p), vl);
    pl_d = gt.pw;
    pr_d = gt.pr;
  }
  const int64_t Qp = pl_d + p.Q + pr_d;
  float* wbuf = scratch(ScratchKey::conv_direct_w, 2 * WSb);
  float* wbd = wbuf;        // flipped, transposed weights (dx)
  float* dwb = wbuf + WSb;  // blocked weight gradient (dw)
  if (dx) block_weights(wbd, w, p.K, p.C, p.R, p.S, vl, true);
  if (dw) std::fill(dwb, dwb + WSb, 0.0f);
  const int64_t img_x = dw ? g.Cb * vl * g.H * g.Wp : 0, img_dy = g.Kb * vl * p.P * Qp;
  const int64_t G = group_size(p.N, img_x + img_dy);
  float* xb = dw ? scratch(ScratchKey::conv_direct_x, G * img_x) : nullptr;
  float* dyb = scratch(ScratchKey::conv_direct_dy, G * img_dy);
  for (int64_t n0 = 0; n0 < p.N; n0 += G) {
    const int64_t Gi = std::min(G, p.N - n0);
    reorder_group(kt, dyb, dy + n0 * p.K * p.P * p.Q, Gi, p.K, p.P, p.Q, pl_d, pr_d);
    if (dw) {
      reorder_group(kt, xb, x + n0 * p.C * p.H * p.W, Gi, p.C, p.H, p.W, p.pad_w, g.pr);
      weights_group(kt, dwb, xb, dyb, g, Gi, pl_d, Qp);
    }
    if (dx) forward_group(kt, dx + n0 * p.C * p.H * p.W, dyb, wbd, nullptr, gt, Gi);
  }
  if (dw) unblock_weights(dw, dwb, p.K, p.C, p.R, p.S, vl);
}

// Which engine runs a layer (measured on Zen4, bench/RESULTS.md "direct convolution").
// FASTDL_CONV_ENGINE=im2col | direct (benchmarks and tests only; read on every call) forces one
// engine where both apply.
DirectChoice conv_direct_choice(const Conv2dParams& p, Isa isa) {
  DirectChoice c;
  if (p.groups != 1 || p.N == 0) return c;
  if (const char* e = std::getenv("FASTDL_CONV_ENGINE")) {
    if (std::strcmp(e, "im2col") == 0) return c;
    if (std::strcmp(e, "direct") == 0) {
      c.fwd = c.dw = true;
      c.dx = conv_direct_dx_supported(p);
      return c;
    }
  }
  // Measured (1 thread, Zen4, avx512 and avx2): direct wins 1.1-1.5x on every 3x3 / 5x5 layer
  // with >= 16 input and output channels, forward also with few input channels (LeNet's 6->16:
  // the channel loop just runs 6 steps); a 1x1 convolution is a plain GEMM and stays there, and
  // so does a layer with few output channels (a block of 16 would be mostly padding). The
  // generic level has no vector unit to block for.
  if (isa == Isa::generic || p.R * p.S == 1 || p.K < 16) return c;
  // A few input channels (one block, NC accumulators) pay only with stride 1 and C >= 2: a
  // single input channel, or stride 2, leaves im2col's GEMM ahead (ResNet's 1->64 7x7/2 stem:
  // forward 1.9 vs 2.5 ms, weight gradient 2.3 vs 6.3 ms; 8->64 3x3/2 2.8 vs 3.2 and 3.0 vs
  // 3.7; 6->16 5x5/1 direct 2.7 vs 5.1 and 3.6 vs 5.8 ms; avx512, 1 thread).
  const bool few = p.C <= 8;
  if (few && (p.C < 2 || p.stride_w != 1)) return c;
  c.fwd = true;
  // Backward-weights: with stride 2 the avx2 tap kernel (8 accumulators, latency-bound) lost to im2col.
  c.dw = (p.C >= 16 || few) && (p.stride_w == 1 || isa == Isa::avx512);
  c.dx = p.C >= 16 && conv_direct_dx_supported(p);
  return c;
}

}  // namespace fastdl
