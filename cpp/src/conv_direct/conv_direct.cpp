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

// The outputs o in [lo, hi) of one axis whose input index o * stride - off lies in [0, size):
// off = padding - tap * dilation for one kernel tap, n_out outputs.
struct Live {
  int64_t lo, hi;
};
Live live_range(int64_t off, int64_t stride, int64_t size, int64_t n_out) {
  const int64_t lo = off > 0 ? ceil_div(off, stride) : 0;
  const int64_t top = size - 1 + off;  // o * stride - off <= size - 1  <=>  o * stride <= top
  const int64_t hi = top >= 0 ? std::min(n_out, top / stride + 1) : 0;
  return {std::min(lo, n_out), std::max(hi, std::min(lo, n_out))};
}

// Blocked activations per image group (floats, ~4 MB): a group's copies stay in L2 / L3 between
// the reorder and the kernels, and the scratch stays small whatever the batch.
constexpr int64_t kGroupFloats = int64_t(1) << 20;

// A forward convolution on the blocked layout. The blocked copies hold only the real columns
// (no zero padding): no kernel ever multiplies a tap that falls in the padding.
struct Geo {
  int64_t C, H, W, K, P, Q, R, S, sh, sw, ph, pw, dh, dw;
  int64_t Cb, Kb;
};

Geo make_geo(const Conv2dParams& p, int64_t vl) {
  return Geo{p.C, p.H, p.W, p.K, p.P, p.Q, p.R, p.S, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w,
             ceil_div(p.C, vl), ceil_div(p.K, vl)};
}

// Where forward_group reads its weights and writes its output: blocked weights w0 + ob * w_kb +
// ib * w_cb + r * w_r + s * w_s; output element (image n, channel k, row p, column q) at
// y0 + n * y_img + k * y_plane + p * y_row + q * y_col.
struct FwdMap {
  int64_t w0, w_kb, w_cb, w_r, w_s;
  int64_t y0, y_img, y_plane, y_row, y_col;
};

// The forward convolution's own map: wb[kb][cb][r][s][vl][vl], y (N, K, P, Q) plain.
FwdMap plain_map(const Geo& g, int64_t vl) {
  const int64_t w_s = vl * vl, w_r = g.S * w_s, w_cb = g.R * w_r;
  return FwdMap{0, g.Cb * w_cb, w_cb, w_r, w_s, 0, g.K * g.P * g.Q, g.P * g.Q, g.Q, 1};
}

// One vector of vl floats (a constant-size copy the compiler inlines for the table widths).
void copy_vec(float* d, const float* s, int64_t vl) {
  if (vl == 16) std::memcpy(d, s, 16 * sizeof(float));
  else if (vl == 8) std::memcpy(d, s, 8 * sizeof(float));
  else std::memcpy(d, s, static_cast<size_t>(vl) * sizeof(float));
}

// wb[ob][ib][r][s][i][o] in vl x vl blocks, zero past the channel counts. Forward: o, i = the
// output / input channel of w[o][i][r][s]. flip (backward-data as a forward convolution of dy):
// o = input channel c, i = output channel k, taken from w[k][c][R-1-r][S-1-s]. The kernel
// table's to_blocked does the element transposes into tmp (vectors of vl o-channels, as large
// as wb); then whole vectors move into place.
void block_weights(const ConvDirectKernels& kt, float* wb, float* tmp, const float* w, int64_t K, int64_t C, int64_t R,
                   int64_t S, bool flip) {
  const int64_t vl = kt.vl, RS = R * S, O = flip ? C : K, I = flip ? K : C, Ob = ceil_div(O, vl), Ib = ceil_div(I, vl);
  const int64_t region = Ib * RS * vl * vl;  // wb of one output block
  // tmp[ob][i][t][lane] (forward: w is O rows of I * RS) or tmp[i][ob][t][lane] (flip: per k, w[k]
  // is C rows of RS).
  if (flip)
    parallel_for(0, K, std::max<int64_t>(1, 16384 / (Ob * vl * RS)), [&](int64_t lo, int64_t hi) {
      for (int64_t k = lo; k < hi; ++k) kt.to_blocked(tmp + k * Ob * RS * vl, w + k * C * RS, C, 1, RS, 0, 0);
    });
  else
    kt.to_blocked(tmp, w, K, 1, C * RS, 0, 0);
  parallel_for(0, Ob, std::max<int64_t>(1, 16384 / region), [&](int64_t lo, int64_t hi) {
    for (int64_t ob = lo; ob < hi; ++ob)
      for (int64_t i = 0; i < Ib * vl; ++i)
        for (int64_t t = 0; t < RS; ++t) {
          float* d = wb + ob * region + (((i / vl) * RS + t) * vl + i % vl) * vl;
          if (i >= I)
            std::fill(d, d + vl, 0.0f);
          else if (flip)
            copy_vec(d, tmp + ((i * Ob + ob) * RS + RS - 1 - t) * vl, vl);
          else
            copy_vec(d, tmp + ((ob * I + i) * RS + t) * vl, vl);
        }
  });
}

// dw[k][c][r][s] from the blocked gradient dwb[kb][cb][r][s][ci][ko]: vectors of vl k-channels
// gathered into tmp[kb][c][r][s][lane], then the table's row_to_plain transposes them.
void unblock_weights(const ConvDirectKernels& kt, float* dw, float* tmp, const float* dwb, int64_t K, int64_t C,
                     int64_t R, int64_t S) {
  const int64_t vl = kt.vl, RS = R * S, Cb = ceil_div(C, vl), Kb = ceil_div(K, vl), row = C * RS * vl;
  parallel_for(0, Kb, std::max<int64_t>(1, 16384 / row), [&](int64_t lo, int64_t hi) {
    for (int64_t kb = lo; kb < hi; ++kb) {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t t = 0; t < RS; ++t)
          copy_vec(tmp + kb * row + (c * RS + t) * vl, dwb + (((kb * Cb + c / vl) * RS + t) * vl + c % vl) * vl, vl);
      kt.row_to_plain(dw + kb * vl * C * RS, tmp + kb * row, 1, row, std::min(vl, K - kb * vl), C * RS, C * RS);
    }
  });
}

// Images [0, G) of a group: src (G, C, H, W) plain -> dst blocked (no padding columns).
void reorder_group(const ConvDirectKernels& kt, float* dst, const float* src, int64_t G, int64_t C, int64_t H,
                   int64_t W) {
  const int64_t img = ceil_div(C, kt.vl) * kt.vl * H * W;
  parallel_for(0, G, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, img)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) kt.to_blocked(dst + i * img, src + i * C * H * W, C, H, W, 0, 0);
  });
}

// The output of G images, mapped by m, from xb (G images blocked as g says) and the blocked
// weights; bias padded to Kb * vl or null. No tap that falls in the zero padding is computed.
// The interior columns [qa, qb) (every tap of the kernel's width inside the input) run as row
// tiles, item (image, output block group, row). Each edge column q (some taps in the padding)
// runs with only its live taps as one tile across the G images (pixel stride = the image
// stride), item (output block group, row, column): on a 1x1 map every pixel is an edge and only
// the centre tap of a 3x3 kernel is multiplied.
void forward_group(const ConvDirectKernels& kt, float* y, const float* xb, const float* wb, const float* bias,
                   const Geo& g, const FwdMap& m, int64_t G) {
  const int64_t vl = kt.vl, NB = kt.max_nkb, KG = ceil_div(g.Kb, NB), img = g.Cb * g.H * g.W * vl;
  const Live first = live_range(g.pw, g.sw, g.W, g.Q), last = live_range(g.pw - (g.S - 1) * g.dw, g.sw, g.W, g.Q);
  const int64_t qa = std::max(first.lo, last.lo), qb = std::max(qa, std::min(first.hi, last.hi));
  const int64_t n_edge = g.Q - (qb - qa);
  const double tap_flops = 2.0 * NB * vl * g.C * g.R * g.S;
  // The fields every tile shares; rows_for and the callers set the rest.
  auto base = [&](float* buf) {
    DirectFwdRow a{};
    a.y = buf;
    a.dil_w = g.dw;
    a.ncb = g.Cb;
    a.c_last = g.C - (g.Cb - 1) * vl;
    a.x_cb = g.H * g.W * vl;
    a.x_r = g.dh * g.W * vl;
    a.w_r = m.w_r;
    a.w_s = m.w_s;
    a.w_cb = m.w_cb;
    a.w_kb = m.w_kb;
    return a;
  };
  // Output row p's live kernel rows for output block group kg; returns the offset in xb of image
  // 0's first live input row (column 0).
  auto rows_for = [&](DirectFwdRow& a, int64_t kg, int64_t p) {
    const int64_t kb0 = NB * kg;
    const Live r = live_range(g.ph - p * g.sh, g.dh, g.H, g.R);
    a.nkb = std::min<int64_t>(NB, g.Kb - kb0);
    a.nr = r.hi - r.lo;
    a.w = wb + m.w0 + kb0 * m.w_kb + r.lo * m.w_r;
    a.bias = bias ? bias + kb0 * vl : nullptr;
    return a.nr > 0 ? (p * g.sh - g.ph + r.lo * g.dh) * g.W * vl : 0;
  };
  // The tile's output (a.y[j * a.y_kb + u * vl + lane]) to y at element (k0, p, q0): pixel u at
  // u * pix (the next column, or the next image).
  auto scatter = [&](const DirectFwdRow& a, int64_t k0, int64_t at, int64_t pix) {
    const int64_t nch = std::min(g.K - k0, a.nkb * vl);
    for (int64_t k = 0; k < nch; ++k) {
      const float* src = a.y + (k / vl) * a.y_kb + k % vl;
      float* dst = y + at + k * m.y_plane;
      for (int64_t u = 0; u < a.Q; ++u) dst[u * pix] = src[u * vl];
    }
  };
  if (qb > qa) {
    const int64_t Qi = qb - qa;
    parallel_for(parallel_plan(0, G * KG * g.P, grain_for(tap_flops * Qi)), [&](int64_t lo, int64_t hi) {
      DirectFwdRow a = base(scratch(ScratchKey::conv_direct_row, NB * vl * Qi));
      a.S = g.S;
      a.Q = Qi;
      a.stride_w = g.sw;
      a.y_kb = Qi * vl;
      for (int64_t it = lo; it < hi; ++it) {
        const int64_t p = it % g.P, kg = (it / g.P) % KG, n = it / (g.P * KG), k0 = kg * NB * vl;
        const int64_t xo = rows_for(a, kg, p);
        a.x = xb + (a.nr > 0 ? n * img + xo + (qa * g.sw - g.pw) * vl : 0);
        kt.fwd_row(a);
        const int64_t at = m.y0 + n * m.y_img + k0 * m.y_plane + p * m.y_row + qa * m.y_col;
        if (m.y_col == 1)
          kt.row_to_plain(y + at, a.y, a.nkb, a.y_kb, std::min(g.K - k0, a.nkb * vl), Qi, m.y_plane);
        else
          scatter(a, k0, at, m.y_col);
      }
    });
  }
  if (n_edge == 0) return;
  parallel_for(parallel_plan(0, KG * g.P * n_edge, grain_for(tap_flops * G)), [&](int64_t lo, int64_t hi) {
    DirectFwdRow a = base(scratch(ScratchKey::conv_direct_row, NB * vl * G));
    a.Q = G;
    a.stride_w = img / vl;  // the "row" is one pixel of each image
    a.y_kb = G * vl;
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t e = it % n_edge, p = (it / n_edge) % g.P, kg = it / (n_edge * g.P), k0 = kg * NB * vl;
      const int64_t q = e < qa ? e : qb + (e - qa);
      const Live s = live_range(g.pw - q * g.sw, g.dw, g.W, g.S);
      const int64_t xo = rows_for(a, kg, p);
      a.S = s.hi - s.lo;
      a.x = xb + (a.nr > 0 && a.S > 0 ? xo + (q * g.sw - g.pw + s.lo * g.dw) * vl : 0);
      a.w += s.lo * m.w_s;
      kt.fwd_row(a);
      scatter(a, k0, m.y0 + k0 * m.y_plane + p * m.y_row + q * m.y_col, m.y_img);
    }
  });
}

// dwb += the weight gradient of images [0, G) of a group; xb and dyb blocked as g says. Item (kb, cb, r, s) owns the tap block
// dwb[kb][cb][r][s] and sums the images in order: the same sums on any thread count.
void weights_group(const ConvDirectKernels& kt, float* dwb, const float* xb, const float* dyb, const Geo& g,
                   int64_t G) {
  const int64_t vl = kt.vl, RS = g.R * g.S, items = g.Kb * g.Cb * RS;
  const double item_flops = 2.0 * vl * vl * G * g.P * g.Q;
  parallel_for(parallel_plan(0, items, grain_for(item_flops)), [&](int64_t lo, int64_t hi) {
    DirectBwdWTap t{};
    t.nimg = G;
    t.stride_w = g.sw;
    t.x_n = g.Cb * g.H * g.W * vl;
    t.dy_n = g.Kb * g.P * g.Q * vl;
    t.x_p = g.sh * g.W * vl;
    t.dy_p = g.Q * vl;
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t s = it % g.S, r = (it / g.S) % g.R, cb = (it / RS) % g.Cb, kb = it / (RS * g.Cb);
      // Only the output rows p and columns q whose tap (r, s) lands inside the input.
      const Live rows = live_range(g.ph - r * g.dh, g.sh, g.H, g.P);
      const Live cols = live_range(g.pw - s * g.dw, g.sw, g.W, g.Q);
      if (rows.lo >= rows.hi || cols.lo >= cols.hi) continue;
      t.np = rows.hi - rows.lo;
      t.Q = cols.hi - cols.lo;
      t.nc = std::min(vl, g.C - cb * vl);
      t.dw_tap = dwb + it * vl * vl;
      t.x = xb + ((cb * g.H + rows.lo * g.sh - g.ph + r * g.dh) * g.W + cols.lo * g.sw - g.pw + s * g.dw) * vl;
      t.dy = dyb + ((kb * g.P + rows.lo) * g.Q + cols.lo) * vl;
      kt.bwd_w_tap(t);
    }
  });
}

int64_t group_size(int64_t N, int64_t floats_per_image) {
  return std::max<int64_t>(1, std::min(N, kGroupFloats / std::max<int64_t>(1, floats_per_image)));
}

// Backward-data as forward convolutions of dy with the flipped, transposed weights, one per
// stride phase: along an axis (input size H, stride sh, padding ph, kernel R, dilation dh) the
// inputs ih = a + sh * i (phase a < sh) receive the taps r = r0 + sh * t, r0 = (a + ph) % sh,
// from dy row p = i + (a + ph - r0) / sh - t: a stride-1 convolution of dy with Ra taps
// (flipped: tap t' = Ra-1-t reads row i - pad + t'). With stride 1 there is one phase and the
// dilation carries over.
struct AxisPhase {
  int64_t n_out, taps, pad, dil, w_first, w_step;  // w_first / w_step: taps of the flipped kernel
};
AxisPhase axis_phase(int64_t a, int64_t H, int64_t s, int64_t pad, int64_t R, int64_t dil) {
  if (s == 1) return {H, R, dil * (R - 1) - pad, dil, 0, 1};
  const int64_t r0 = (a + pad) % s, Ra = r0 < R ? ceil_div(R - r0, s) : 0;
  return {a < H ? ceil_div(H - a, s) : 0, Ra, Ra - 1 - (a + pad - r0) / s, 1, Ra > 0 ? R - 1 - r0 - s * (Ra - 1) : 0, s};
}

// dx of images [0, G) (plain, (G, C, H, W)) from dyb (blocked, unpadded) and wbd (the flipped
// blocked weights wbd[cb][kb][R-1-r][S-1-s][k lane][c lane]).
void backward_data_group(const ConvDirectKernels& kt, float* dx, const float* dyb, const float* wbd,
                         const Conv2dParams& p, int64_t G) {
  const int64_t vl = kt.vl, Cb = ceil_div(p.C, vl), Kb = ceil_div(p.K, vl), HW = p.H * p.W;
  for (int64_t a = 0; a < p.stride_h; ++a)
    for (int64_t b = 0; b < p.stride_w; ++b) {
      const AxisPhase ph = axis_phase(a, p.H, p.stride_h, p.pad_h, p.R, p.dil_h);
      const AxisPhase pw = axis_phase(b, p.W, p.stride_w, p.pad_w, p.S, p.dil_w);
      if (ph.n_out == 0 || pw.n_out == 0) continue;
      const int64_t y0 = a * p.W + b;
      if (ph.taps == 0 || pw.taps == 0) {  // no tap reaches these inputs (e.g. a 1x1 kernel, stride 2)
        for (int64_t n = 0; n < G; ++n)
          for (int64_t c = 0; c < p.C; ++c)
            for (int64_t i = 0; i < ph.n_out; ++i)
              for (int64_t j = 0; j < pw.n_out; ++j)
                dx[y0 + (n * p.C + c) * HW + i * p.stride_h * p.W + j * p.stride_w] = 0.0f;
        continue;
      }
      const Geo g{p.K, p.P, p.Q, p.C, ph.n_out, pw.n_out, ph.taps, pw.taps, 1, 1, ph.pad, pw.pad, ph.dil, pw.dil,
                  Kb, Cb};
      const int64_t w_s = vl * vl, w_cb = p.R * p.S * w_s;
      const FwdMap m{(ph.w_first * p.S + pw.w_first) * w_s, Kb * w_cb, w_cb, ph.w_step * p.S * w_s, pw.w_step * w_s,
                     y0, p.C * HW, HW, p.stride_h * p.W, p.stride_w};
      forward_group(kt, dx, dyb, wbd, nullptr, g, m, G);
    }
}

}  // namespace

bool conv_direct_dx_supported(const Conv2dParams& p) {
  return p.groups == 1 && (p.stride_h == 1 || p.dil_h == 1) && (p.stride_w == 1 || p.dil_w == 1);
}

void conv_direct_forward(const ConvDirectKernels& kt, float* y, const float* x, const float* w, const float* b,
                         const Conv2dParams& p) {
  FASTDL_CHECK(p.groups == 1, "conv_direct: groups must be 1");
  if (p.N == 0) return;
  const int64_t vl = kt.vl;
  const Geo g = make_geo(p, vl);
  const int64_t WSb = g.Kb * g.Cb * g.R * g.S * vl * vl;
  float* wb = scratch(ScratchKey::conv_direct_w, 2 * WSb);  // blocked weights, then the reorder's temporary
  block_weights(kt, wb, wb + WSb, w, p.K, p.C, p.R, p.S, false);
  std::vector<float> bias;
  if (b) {
    bias.assign(static_cast<size_t>(g.Kb * vl), 0.0f);
    std::copy(b, b + p.K, bias.begin());
  }
  const int64_t img = g.Cb * vl * g.H * g.W, G = group_size(p.N, img);
  float* xb = scratch(ScratchKey::conv_direct_x, G * img);
  const FwdMap m = plain_map(g, vl);
  for (int64_t n0 = 0; n0 < p.N; n0 += G) {
    const int64_t Gi = std::min(G, p.N - n0);
    reorder_group(kt, xb, x + n0 * p.C * p.H * p.W, Gi, p.C, p.H, p.W);
    forward_group(kt, y + n0 * p.K * p.P * p.Q, xb, wb, b ? bias.data() : nullptr, g, m, Gi);
  }
}

void conv_direct_backward(const ConvDirectKernels& kt, float* dx, float* dw, const float* dy, const float* x,
                          const float* w, const Conv2dParams& p) {
  FASTDL_CHECK(p.groups == 1, "conv_direct: groups must be 1");
  FASTDL_CHECK(!dx || conv_direct_dx_supported(p), "conv_direct: backward-data needs stride 1 or dilation 1");
  if (!dx && !dw) return;
  const int64_t vl = kt.vl;
  const Geo g = make_geo(p, vl);
  const int64_t WSb = g.Kb * g.Cb * g.R * g.S * vl * vl;
  if (p.N == 0) {
    if (dw) std::fill(dw, dw + p.K * p.C * p.R * p.S, 0.0f);
    return;
  }
  float* wbuf = scratch(ScratchKey::conv_direct_w, 3 * WSb);
  float* tmp = wbuf + 2 * WSb;  // the weight reorders' temporary
  float* wbd = wbuf;        // flipped, transposed weights (dx)
  float* dwb = wbuf + WSb;  // blocked weight gradient (dw)
  if (dx) block_weights(kt, wbd, tmp, w, p.K, p.C, p.R, p.S, true);
  if (dw) std::fill(dwb, dwb + WSb, 0.0f);
  const int64_t img_x = dw ? g.Cb * vl * g.H * g.W : 0, img_dy = g.Kb * vl * p.P * p.Q;
  const int64_t G = group_size(p.N, img_x + img_dy);
  float* xb = dw ? scratch(ScratchKey::conv_direct_x, G * img_x) : nullptr;
  float* dyb = scratch(ScratchKey::conv_direct_dy, G * img_dy);
  for (int64_t n0 = 0; n0 < p.N; n0 += G) {
    const int64_t Gi = std::min(G, p.N - n0);
    reorder_group(kt, dyb, dy + n0 * p.K * p.P * p.Q, Gi, p.K, p.P, p.Q);
    if (dw) {
      reorder_group(kt, xb, x + n0 * p.C * p.H * p.W, Gi, p.C, p.H, p.W);
      weights_group(kt, dwb, xb, dyb, g, Gi);
    }
    if (dx) backward_data_group(kt, dx + n0 * p.C * p.H * p.W, dyb, wbd, p, Gi);
  }
  if (dw) unblock_weights(kt, dw, tmp, dwb, p.K, p.C, p.R, p.S);
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
  // Backward-data with stride 2 runs one convolution per stride phase: on a 1x1 output map (e.g.
  // 256->512 3x3/2 @2) the phases are single pixels and the flipped-weight reorder dominates (4.7
  // vs im2col 3.0 ms); 7->4 1.8 vs 3.0, 4->2 3.7 vs 3.9, 28->14 15.4 vs 16.2 (avx512, 1 thread).
  c.dx = p.C >= 16 && conv_direct_dx_supported(p) && (p.stride_h * p.stride_w == 1 || p.P * p.Q > 1);
  return c;
}

}  // namespace fastdl
