// The flat engine's drivers (conv_flat.h): per image, copy the input into zero-padded planes
// (scratch conv_pad), run one of the ISA's flat kernels (flat_impl.h), copy the valid outputs
// out. Images are independent (forward, backward-data), and the weight gradient sums image
// chunks fixed by the shape in order, so any split over threads gives the same bits.
#include "conv_flat.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fastdl/common.h"
#include "fastdl/parallel.h"
#include "fastdl/scratch.h"

namespace fastdl {

namespace {

// Images per parallel chunk so that a chunk is worth a thread (~0.2 MFLOP).
int64_t image_grain(const Conv2dParams& p) {
  const double flops = 2.0 * static_cast<double>(p.K) * static_cast<double>(p.col_rows) *
                       static_cast<double>(p.col_cols);
  return 1 + static_cast<int64_t>(std::min(1e9, 2.0e5 / std::max(flops, 1.0)));
}

// A wide plane: rows of Wp floats, and the kernel's reach past the last row (flat_impl.h).
FlatConv make_flat(const Conv2dParams& p, int64_t M, int64_t J, int64_t Hp, int64_t Wp, int64_t top, int64_t live,
                   int64_t out_rows) {
  FlatConv f{};
  f.M = M;
  f.J = J;
  f.R = p.R;
  f.S = p.S;
  f.row_step = p.dil_h * Wp;
  f.col_step = p.dil_w;
  f.Wp = Wp;
  f.dil_h = p.dil_h;
  f.top = top;
  f.live = live;
  f.n = checked_mul(out_rows, Wp, "conv2d wide plane");
  f.ldi = checked_add(checked_mul(Hp, Wp, "conv2d wide plane"), p.dil_w * (p.S - 1) + kFlatSlack, "conv2d wide plane");
  f.ldo = (f.n + 15) / 16 * 16;
  return f;
}

// J planes of rows x cols from src into the planes of dst (ldi floats apart, row stride Wp) at
// (top, left); the rest of dst is left as it is (the zero padding).
void copy_planes(float* dst, int64_t ldi, int64_t Wp, const float* src, int64_t J, int64_t rows, int64_t cols,
                 int64_t top, int64_t left) {
  for (int64_t j = 0; j < J; ++j) {
    const float* s = src + j * rows * cols;
    float* d = dst + j * ldi + top * Wp + left;
    for (int64_t h = 0; h < rows; ++h) std::memcpy(d + h * Wp, s + h * cols, sizeof(float) * cols);
  }
}

// Runs the flat kernel over the N images: src (N, J, rows, cols) is copied into the padded
// planes at (top, left), dst (N, M, out_rows, out_cols) receives the first out_cols columns of
// each wide output row.
void run_images(const ConvKernels& kt, float* dst, const float* src, const float* w, const float* b,
                const FlatConv& f, const Conv2dParams& p, int64_t rows, int64_t cols, int64_t left,
                int64_t out_rows, int64_t out_cols) {
  const int64_t in_floats = checked_mul(f.J, f.ldi, "conv2d wide plane");
  const int64_t out_floats = checked_mul(f.M, f.ldo, "conv2d wide plane");
  parallel_for(0, p.N, image_grain(p), [&](int64_t lo, int64_t hi) {
    float* in = scratch(ScratchKey::conv_pad, in_floats);
    float* out = scratch(ScratchKey::conv_col, out_floats);
    std::memset(in, 0, sizeof(float) * static_cast<size_t>(in_floats));  // the padding stays zero
    for (int64_t n = lo; n < hi; ++n) {
      copy_planes(in, f.ldi, f.Wp, src + n * f.J * rows * cols, f.J, rows, cols, f.top, left);
      kt.flat(out, in, w, b, f);
      for (int64_t m = 0; m < f.M; ++m) {
        float* d = dst + (n * f.M + m) * out_rows * out_cols;
        const float* s = out + m * f.ldo;
        for (int64_t h = 0; h < out_rows; ++h) std::memcpy(d + h * out_cols, s + h * f.Wp, sizeof(float) * out_cols);
      }
    }
  });
}

}  // namespace

// Measured (1 thread, Zen4 avx512 / avx2; bench/RESULTS.md "flat engine"): on LeNet's 1 -> 6
// forward and 16 -> 6 backward-data the flat kernel beats im2col + SGEMM (+ col2im); a layer
// with 16 or more output channels (forward) / input channels (backward-data) goes to the direct
// engine or im2col. The wide rows waste Wp - Q columns, so the planes must be at most twice
// as wide as the output rows; 1x1 convolutions are plain GEMMs.
bool conv_flat_dx_supported(const Conv2dParams& p) {
  return p.stride_h == 1 && p.stride_w == 1 && p.pad_h <= p.dil_h * (p.R - 1) && p.pad_w <= p.dil_w * (p.S - 1);
}

FlatChoice conv_flat_choice(const Conv2dParams& p) {
  FlatChoice c;
  if (p.groups != 1 || p.N == 0 || p.stride_h != 1 || p.stride_w != 1 || p.R * p.S == 1) return c;
  if (const char* e = std::getenv("FASTDL_CONV_ENGINE"))
    if (std::strcmp(e, "im2col") == 0 || std::strcmp(e, "direct") == 0) return c;  // a forced engine
  // Forward: up to 8 output channels on the wide planes (vectors of positions); 9-16 output
  // channels from fewer than 16 input channels vectorised over the channels (forward_by_channels:
  // LeNet's 6 -> 16, 1.6-1.7 vs the direct engine's 2.0-2.1 ms on 14x14, 1.0 vs 1.3 ms on 12x12,
  // avx512, 1 thread; the direct engine's blocks are mostly padding with 6 input channels).
  c.fwd = (p.K < 9 && p.W + 2 * p.pad_w <= 2 * p.Q) || (p.K <= 16 && p.C < 16);
  c.dx = p.C < 16 && conv_flat_dx_supported(p) && p.Q + 2 * (p.dil_w * (p.S - 1) - p.pad_w) <= 2 * p.W;
  // Weight gradient (vectorised over the output channels): from 9 channels on; with fewer, most
  // of a 16-lane vector is idle and the dw_small kernel wins (LeNet conv1, 6 channels: 1.7 vs
  // 3.2 ms, avx512, 1 thread).
  c.dw = p.K >= 9 && p.K <= 16 && p.C <= 16 && p.W + 2 * p.pad_w <= 2 * p.Q;
  return c;
}

namespace {

// Forward vectorised over the output channels (9..fwdv_m of them): per image, x into zero-padded
// planes (scratch conv_pad) wide and tall enough for whole tiles, the flat_fwdv kernel into yT
// (scratch conv_col, position-major), transposed into y. The tile shape wasting the fewest
// positions on P x Q is used. Images are independent: any thread split gives the same bits.
void forward_by_channels(const ConvKernels& kt, float* y, const float* x, const float* w, const float* b,
                         const Conv2dParams& p) {
  auto waste = [&](int s) {
    const int64_t nr = kt.fwdv_tile[s][0], nc = kt.fwdv_tile[s][1];
    return ((p.P + nr - 1) / nr * nr) * ((p.Q + nc - 1) / nc * nc);
  };
  const int shape = waste(1) < waste(0) ? 1 : 0;
  const int64_t nr = kt.fwdv_tile[shape][0], nc = kt.fwdv_tile[shape][1], L = kt.fwdv_m;
  const int64_t Hp = std::max(p.H + 2 * p.pad_h, (p.P + nr - 1) / nr * nr + p.dil_h * (p.R - 1));
  const int64_t Wp = std::max(p.W + 2 * p.pad_w, (p.Q + nc - 1) / nc * nc + p.dil_w * (p.S - 1));
  FlatConv f = make_flat(p, p.K, p.C, Hp, Wp, p.pad_h, p.H, p.P);
  f.ldi = checked_mul(Hp, Wp, "conv2d wide plane");
  const int64_t T = p.C * p.R * p.S, PQ = p.P * p.Q;
  std::vector<float> wT(static_cast<size_t>(T * L), 0.0f), bias(static_cast<size_t>(L), 0.0f);
  std::vector<int64_t> off(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t k = 0; k < p.K; ++k) wT[static_cast<size_t>(t * L + k)] = w[k * T + t];
    off[static_cast<size_t>(t)] = t / (p.R * p.S) * f.ldi + t / p.S % p.R * f.row_step + t % p.S * f.col_step;
  }
  if (b) std::copy(b, b + p.K, bias.begin());
  const int64_t in_floats = checked_mul(p.C, f.ldi, "conv2d wide plane"), y_floats = checked_mul(PQ, L, "conv2d");
  parallel_for(0, p.N, image_grain(p), [&](int64_t lo, int64_t hi) {
    float* in = scratch(ScratchKey::conv_pad, in_floats);
    float* yT = scratch(ScratchKey::conv_col, y_floats);
    std::memset(in, 0, sizeof(float) * static_cast<size_t>(in_floats));  // the padding stays zero
    for (int64_t n = lo; n < hi; ++n) {
      copy_planes(in, f.ldi, Wp, x + n * p.C * p.H * p.W, p.C, p.H, p.W, p.pad_h, p.pad_w);
      kt.flat_fwdv(yT, wT.data(), bias.data(), in, off.data(), T, f, p.P, p.Q, shape);
      float* yn = y + n * p.K * PQ;
      for (int64_t k = 0; k < p.K; ++k)  // contiguous writes; the strided reads hit L1
        for (int64_t i = 0; i < PQ; ++i) yn[k * PQ + i] = yT[i * L + k];
    }
  });
}

}  // namespace

void conv_flat_forward(const ConvKernels& kt, float* y, const float* x, const float* w, const float* b,
                       const Conv2dParams& p) {
  if (p.K >= 9 && p.K <= kt.fwdv_m) return forward_by_channels(kt, y, x, w, b, p);
  const int64_t Hp = p.H + 2 * p.pad_h, Wp = p.W + 2 * p.pad_w;
  const FlatConv f = make_flat(p, p.K, p.C, Hp, Wp, p.pad_h, p.H, p.P);
  run_images(kt, y, x, w, b, f, p, p.H, p.W, p.pad_w, p.P, p.Q);
}

// Per image: dy into zero-padded wide planes of the padded dx's width (scratch conv_pad), the
// scatter kernel into the padded dx planes (scratch conv_col, zeroed), the inner H x W copied
// out. Only real taps are multiplied (flat_impl.h, flat_scatter).
void conv_flat_backward_data(const ConvKernels& kt, float* dx, const float* dy, const float* w,
                             const Conv2dParams& p) {
  const int64_t Hp = p.H + 2 * p.pad_h, Wp = p.W + 2 * p.pad_w;
  FlatConv f = make_flat(p, p.C, p.K, Hp, Wp, 0, Hp, p.P);
  f.ldi = (f.n + 2 * kFlatSlack - 1) / kFlatSlack * kFlatSlack;  // positions up to n's last vector, zero past n
  f.ldo = (checked_mul(Hp, Wp, "conv2d wide plane") + p.dil_w * (p.S - 1) + 2 * kFlatSlack - 1) / kFlatSlack *
          kFlatSlack;
  const int64_t in_floats = checked_mul(f.J, f.ldi, "conv2d wide plane");
  const int64_t out_floats = checked_mul(f.M, f.ldo, "conv2d wide plane");
  parallel_for(0, p.N, image_grain(p), [&](int64_t lo, int64_t hi) {
    float* in = scratch(ScratchKey::conv_pad, in_floats);
    float* out = scratch(ScratchKey::conv_col, out_floats);
    std::memset(in, 0, sizeof(float) * static_cast<size_t>(in_floats));  // garbage columns and the tail stay zero
    for (int64_t n = lo; n < hi; ++n) {
      for (int64_t k = 0; k < p.K; ++k) {
        const float* src = dy + (n * p.K + k) * p.P * p.Q;
        float* d = in + k * f.ldi;
        for (int64_t h = 0; h < p.P; ++h) std::memcpy(d + h * Wp, src + h * p.Q, sizeof(float) * p.Q);
      }
      std::memset(out, 0, sizeof(float) * static_cast<size_t>(out_floats));
      kt.flat_scatter(out, in, w, f);
      for (int64_t c = 0; c < p.C; ++c) {
        float* d = dx + (n * p.C + c) * p.H * p.W;
        const float* src = out + c * f.ldo + p.pad_h * Wp + p.pad_w;
        for (int64_t h = 0; h < p.H; ++h) std::memcpy(d + h * p.W, src + h * Wp, sizeof(float) * p.W);
      }
    }
  });
}

// Images in D chunks fixed by the shape (up to kDwChunks, each worth a thread), each chunk with
// its own accumulators (scratch conv_dw_acc) over its images in order, merged in chunk order:
// the same bits on any thread count. Per image: x into zero-padded planes (scratch conv_pad),
// dy transposed position-major (scratch conv_col; channels past K stay zero), then every tile
// of the flat_dwv kernel while both are in L1.
constexpr int64_t kDwChunks = 6;
void conv_flat_backward_weights(const ConvKernels& kt, float* dw, const float* dy, const float* x,
                                const Conv2dParams& p) {
  const int64_t Hp = p.H + 2 * p.pad_h, Wp = p.W + 2 * p.pad_w, PQ = p.P * p.Q, CR = p.C * p.R;
  FlatConv f = make_flat(p, p.K, p.C, Hp, Wp, p.pad_h, p.H, p.P);
  f.ldi += (kt.dwv_s - 1) * p.dil_w;  // a column block past S reads this far
  const int64_t MB = (p.K + kt.dwv_m - 1) / kt.dwv_m, RB = (CR + kt.dwv_r - 1) / kt.dwv_r;
  const int64_t CB = (p.S + kt.dwv_s - 1) / kt.dwv_s, ldg = MB * kt.dwv_m, tile = kt.dwv_m * kt.dwv_r * kt.dwv_s;
  const int64_t acc_chunk = checked_mul(MB * RB * CB, tile, "conv2d weight-gradient tiles");
  const int64_t in_floats = checked_mul(p.C, f.ldi, "conv2d wide plane"), g_floats = checked_mul(PQ, ldg, "conv2d");
  const int64_t D = std::max<int64_t>(1, std::min(kDwChunks, p.N / image_grain(p)));
  std::vector<int64_t> row_off(static_cast<size_t>(RB * kt.dwv_r));
  for (int64_t i = 0; i < RB * kt.dwv_r; ++i) {
    const int64_t tr = std::min(i, CR - 1);  // tap rows past the last repeat it (dropped below)
    row_off[static_cast<size_t>(i)] = tr / p.R * f.ldi + tr % p.R * f.row_step;
  }
  float* acc = scratch(ScratchKey::conv_dw_acc, checked_mul(D, acc_chunk, "conv2d weight-gradient tiles"));
  parallel_for(ParallelPlan{0, p.N, D}, [&](int64_t lo, int64_t hi, int64_t c) {
    float* in = scratch(ScratchKey::conv_pad, in_floats);
    float* gT = scratch(ScratchKey::conv_col, g_floats);
    float* a = acc + c * acc_chunk;
    std::memset(in, 0, sizeof(float) * static_cast<size_t>(in_floats));  // the padding stays zero
    std::memset(gT, 0, sizeof(float) * static_cast<size_t>(g_floats));  // channels past K stay zero
    std::memset(a, 0, sizeof(float) * static_cast<size_t>(acc_chunk));
    for (int64_t n = lo; n < hi; ++n) {
      copy_planes(in, f.ldi, Wp, x + n * p.C * p.H * p.W, p.C, p.H, p.W, p.pad_h, p.pad_w);
      const float* dyn = dy + n * p.K * PQ;
      for (int64_t i = 0; i < PQ; ++i)
        for (int64_t k = 0; k < p.K; ++k) gT[i * ldg + k] = dyn[k * PQ + i];
      for (int64_t mb = 0; mb < MB; ++mb)
        for (int64_t rb = 0; rb < RB; ++rb)
          for (int64_t cb = 0; cb < CB; ++cb)
            kt.flat_dwv(a + ((mb * RB + rb) * CB + cb) * tile, gT, ldg, in, row_off.data(), f, p.P, p.Q, mb, rb, cb);
    }
  });
  // dw[m][j][r][s] = tap row tr = j*R + r, column s: tile (mb, rb, cb), [v][i][c][lane]; chunks in order.
  const int64_t L = kt.dwv_lanes;
  for (int64_t m = 0; m < p.K; ++m)
    for (int64_t tr = 0; tr < CR; ++tr)
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t mi = m % kt.dwv_m, i = tr % kt.dwv_r, cc = s % kt.dwv_s;
        const int64_t idx = ((m / kt.dwv_m * RB + tr / kt.dwv_r) * CB + s / kt.dwv_s) * tile +
                            (((mi / L) * kt.dwv_r + i) * kt.dwv_s + cc) * L + mi % L;
        float sum = acc[idx];
        for (int64_t c = 1; c < D; ++c) sum += acc[c * acc_chunk + idx];
        dw[(m * CR + tr) * p.S + s] = sum;
      }
}

}  // namespace fastdl
