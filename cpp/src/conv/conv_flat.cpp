// The flat engine's drivers (conv_flat.h): per image, copy the input into zero-padded wide
// planes (scratch conv_pad), run the ISA's flat kernel into wide output planes (scratch
// conv_col), copy the valid columns out. Images are independent, so any split over threads
// gives the same bits.
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
      for (int64_t j = 0; j < f.J; ++j) {
        const float* s = src + (n * f.J + j) * rows * cols;
        float* d = in + j * f.ldi + f.top * f.Wp + left;
        for (int64_t h = 0; h < rows; ++h) std::memcpy(d + h * f.Wp, s + h * cols, sizeof(float) * cols);
      }
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
    if (std::strcmp(e, "im2col") == 0) return c;
  c.fwd = p.K < 16 && p.W + 2 * p.pad_w <= 2 * p.Q;
  c.dx = p.C < 16 && conv_flat_dx_supported(p) && p.Q + 2 * (p.dil_w * (p.S - 1) - p.pad_w) <= 2 * p.W;
  c.dw = p.K <= 16 && p.C <= 16 && p.W + 2 * p.pad_w <= 2 * p.Q;
  return c;
}

void conv_flat_forward(const ConvKernels& kt, float* y, const float* x, const float* w, const float* b,
                       const Conv2dParams& p) {
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

// The whole batch is laid out once (scratch conv_pad: padded inputs; conv_col: the output
// gradient on the wide planes, zero at the garbage columns), then threads split the weight tiles;
// each tile walks the images in blocks that stay in L2, its accumulators (scratch conv_dw_acc)
// kept between blocks, so every weight sums the images in order on any thread count.
void conv_flat_backward_weights(const ConvKernels& kt, float* dw, const float* dy, const float* x,
                                const Conv2dParams& p) {
  const int64_t Hp = p.H + 2 * p.pad_h, Wp = p.W + 2 * p.pad_w;
  const FlatConv f = make_flat(p, p.K, p.C, Hp, Wp, p.pad_h, p.H, p.P);
  const int64_t in_img = checked_mul(p.C, f.ldi, "conv2d wide plane"), g_img = checked_mul(p.K, f.ldo, "conv2d wide plane");
  float* in = scratch(ScratchKey::conv_pad, checked_mul(p.N, in_img, "conv2d wide planes"));
  float* g = scratch(ScratchKey::conv_col, checked_mul(p.N, g_img, "conv2d wide planes"));
  const int64_t tiles = kt.flat_dw_tiles(f);
  float* acc = scratch(ScratchKey::conv_dw_acc, checked_mul(tiles, kt.flat_dw_acc, "conv2d weight-gradient tiles"));
  parallel_for(0, p.N, 1 + 16384 / std::max<int64_t>(1, in_img + g_img), [&](int64_t lo, int64_t hi) {
    std::memset(in + lo * in_img, 0, sizeof(float) * static_cast<size_t>((hi - lo) * in_img));
    std::memset(g + lo * g_img, 0, sizeof(float) * static_cast<size_t>((hi - lo) * g_img));
    for (int64_t n = lo; n < hi; ++n) {
      for (int64_t c = 0; c < p.C; ++c) {
        const float* s = x + (n * p.C + c) * p.H * p.W;
        float* d = in + n * in_img + c * f.ldi + p.pad_h * Wp + p.pad_w;
        for (int64_t h = 0; h < p.H; ++h) std::memcpy(d + h * Wp, s + h * p.W, sizeof(float) * p.W);
      }
      for (int64_t k = 0; k < p.K; ++k) {
        const float* s = dy + (n * p.K + k) * p.P * p.Q;
        float* d = g + n * g_img + k * f.ldo;
        for (int64_t h = 0; h < p.P; ++h) std::memcpy(d + h * Wp, s + h * p.Q, sizeof(float) * p.Q);
      }
    }
  });
  const int64_t B = std::max<int64_t>(1, (int64_t(1) << 16) / (in_img + g_img));  // ~256 KB of images per block
  parallel_for(0, tiles, 1 + tiles / 64, [&](int64_t lo, int64_t hi) {
    for (int64_t b0 = 0; b0 < p.N; b0 += B) {
      const int64_t nb = std::min(B, p.N - b0);
      for (int64_t t = lo; t < hi; ++t)
        kt.flat_dw(dw, acc + t * kt.flat_dw_acc, g + b0 * g_img, g_img, in + b0 * in_img, in_img, nb, f, t, b0 == 0,
                   b0 + nb == p.N);
    }
  });
}

}  // namespace fastdl
