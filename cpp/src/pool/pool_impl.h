// Per-plane pooling bodies, included inside an unnamed namespace in fastdl::generic
// (pool_generic.cpp) and fastdl::avx2 (pool_avx2.cpp) so that each ISA gets its own compiled
// copy, reached through the PoolKernels table (pool_kernels.h). Plain loops only:
// no templates, no includes (ODR: see docs/architecture.md, "The ODR trap"). x: (H, W), y/idx: (P, Q).
// The including file defines
//   int64_t max2x2_row_simd(float* y, int64_t* idx, const float* r0, const float* r1,
//                                  int64_t base, int64_t W, int64_t Q)
// which handles a prefix of one output row of the 2x2/2 max-pool (returns how many outputs it
// wrote; the scalar loop below does the rest with identical results), and
//   bool max_window_plane_simd(float* y, int64_t* idx, const float* x, const Pool2dParams& p)
// which computes a whole plane of an undilated max-pool with the same results as the general
// loop below, or returns false to leave it to that loop; and, like max2x2_row_simd,
//   int64_t avg2x2_row_simd(float* y, const float* r0, const float* r1, int64_t Q, float div)
//   int64_t avg2x2_bwd_row_simd(float* row, const float* g, int64_t Q, float div)
// for the 2x2/2 average pool's forward row and backward row, and the table's max_planes8
// (pool_kernels.h).

static inline int64_t pool_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t pool_max(int64_t a, int64_t b) { return a > b ? a : b; }
// floor(a / b) for b > 0 and any sign of a.
static inline int64_t pool_floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// PyTorch's cpu_max_pool: start at the first in-range tap of the window, max starts at -inf
// with that tap's index; a larger value or a NaN replaces it.
void max_pool2d_plane(float* y, int64_t* idx, const float* x, const Pool2dParams& p) {
  const int64_t H = p.H, W = p.W;
  if (p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.ph == 0 && p.pw == 0 && p.dh == 1 && p.dw == 1 &&
      2 * p.P <= H && 2 * p.Q <= W) {
    // Common 2x2/2 case: every window lies inside the plane; taps in row-major order. Starting
    // from the first tap equals starting from -inf (a NaN first tap stays unless a later NaN).
    for (int64_t oh = 0; oh < p.P; ++oh) {
      const float* r0 = x + 2 * oh * W;
      const float* r1 = r0 + W;
      float* yo = y + oh * p.Q;
      int64_t* io = idx + oh * p.Q;
      const int64_t base = 2 * oh * W;
      for (int64_t q = max2x2_row_simd(yo, io, r0, r1, base, W, p.Q); q < p.Q; ++q) {
        const float a = r0[2 * q], b = r0[2 * q + 1], c = r1[2 * q], d = r1[2 * q + 1];
        float m = a;
        int64_t mi = base + 2 * q;
        // branch-free selects: random data would mispredict ~half the branches
        bool t = (b > m) | (b != b);
        m = t ? b : m;
        mi = t ? base + 2 * q + 1 : mi;
        t = (c > m) | (c != c);
        m = t ? c : m;
        mi = t ? base + W + 2 * q : mi;
        t = (d > m) | (d != d);
        m = t ? d : m;
        mi = t ? base + W + 2 * q + 1 : mi;
        yo[q] = m;
        io[q] = mi;
      }
    }
    return;
  }
  if (max_window_plane_simd(y, idx, x, p)) return;
  // General windows, one output row at a time: for each kernel tap (row-major, i.e. the order
  // PyTorch visits a window) update every output column it reaches. Same comparisons per output
  // as PyTorch's per-window loop, but the inner loop runs over output columns (vectorisable).
  for (int64_t oh = 0; oh < p.P; ++oh) {
    int64_t h0 = oh * p.sh - p.ph;
    const int64_t h1 = pool_min(h0 + (p.kh - 1) * p.dh + 1, H);
    if (h0 < 0) h0 += ((-h0 + p.dh - 1) / p.dh) * p.dh;  // first tap inside the plane
    float* yo = y + oh * p.Q;
    int64_t* io = idx + oh * p.Q;
    for (int64_t ow = 0; ow < p.Q; ++ow) {  // max starts at -inf with the first in-plane tap
      int64_t w0 = ow * p.sw - p.pw;
      if (w0 < 0) w0 += ((-w0 + p.dw - 1) / p.dw) * p.dw;
      yo[ow] = -__builtin_inff();
      io[ow] = (h0 < H && w0 < W) ? h0 * W + w0 : -1;
    }
    // Taps that reach the plane for some output column: s*dw - pw <= W - 1 and
    // s*dw - pw + (Q-1)*sw >= 0 (bounds the loop for huge kernels with huge padding).
    const int64_t s_lo = pool_max(0, -pool_floor_div(-(p.pw - (p.Q - 1) * p.sw), p.dw));
    const int64_t s_hi = pool_min(p.kw, pool_floor_div(W - 1 + p.pw, p.dw) + 1);
    for (int64_t ih = h0; ih < h1; ih += p.dh) {
      const float* row = x + ih * W;
      const int64_t rbase = ih * W;
      for (int64_t s = s_lo; s < s_hi; ++s) {
        const int64_t off = s * p.dw - p.pw;  // output column q reads input column q*sw + off
        const int64_t lo = -pool_floor_div(off, p.sw);
        const int64_t hi = pool_floor_div(W - 1 - off, p.sw) + 1;
        const int64_t q0 = pool_max(lo, 0), q1 = pool_min(hi, p.Q);
        if (p.sw == 1) {
          for (int64_t q = q0; q < q1; ++q) {
            const float v = row[q + off];
            const bool t = (v > yo[q]) | (v != v);
            yo[q] = t ? v : yo[q];
            io[q] = t ? rbase + q + off : io[q];
          }
        } else if (p.sw == 2) {
          for (int64_t q = q0; q < q1; ++q) {
            const float v = row[2 * q + off];
            const bool t = (v > yo[q]) | (v != v);
            yo[q] = t ? v : yo[q];
            io[q] = t ? rbase + 2 * q + off : io[q];
          }
        } else {
          for (int64_t q = q0; q < q1; ++q) {
            const float v = row[q * p.sw + off];
            const bool t = (v > yo[q]) | (v != v);
            yo[q] = t ? v : yo[q];
            io[q] = t ? rbase + q * p.sw + off : io[q];
          }
        }
      }
    }
  }
}

void max_pool2d_backward_plane(float* dx, const float* dy, const int64_t* idx, const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, PQ = p.P * p.Q;
  for (int64_t i = 0; i < HW; ++i) dx[i] = 0.0f;
  for (int64_t o = 0; o < PQ; ++o) {
    const int64_t i = idx[o];
    if (i >= 0 && i < HW) dx[i] += dy[o];
  }
}

// PyTorch's cpu_avg_pool window: [h0, h1) clipped to the padded input gives the pool size,
// then clipped to the input gives the summed taps.
static inline int64_t avg_window(const Pool2dParams& p, int64_t oh, int64_t ow, int64_t* h0, int64_t* h1,
                                 int64_t* w0, int64_t* w1, bool count_include_pad, int64_t divisor) {
  int64_t a0 = oh * p.sh - p.ph, b0 = ow * p.sw - p.pw;
  int64_t a1 = pool_min(a0 + p.kh, p.H + p.ph), b1 = pool_min(b0 + p.kw, p.W + p.pw);
  const int64_t pool_size = (a1 - a0) * (b1 - b0);
  a0 = pool_max(a0, 0);
  b0 = pool_max(b0, 0);
  a1 = pool_min(a1, p.H);
  b1 = pool_min(b1, p.W);
  *h0 = a0; *h1 = a1; *w0 = b0; *w1 = b1;
  if (divisor > 0) return divisor;
  return count_include_pad ? pool_size : (a1 - a0) * (b1 - b0);
}

// 2x2 windows with stride 2 and no padding (LeNet's pooling): every window lies inside the
// plane, so the divisor is 4 unless overridden; same summation order as the general path.
static inline bool avg_is_2x2s2(const Pool2dParams& p) {
  return p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.ph == 0 && p.pw == 0 && 2 * p.P <= p.H &&
         2 * p.Q <= p.W;
}

void avg_pool2d_plane(float* y, const float* x, const Pool2dParams& p, bool count_include_pad, int64_t divisor) {
  if (avg_is_2x2s2(p)) {
    const float div = static_cast<float>(divisor > 0 ? divisor : 4);
    for (int64_t oh = 0; oh < p.P; ++oh) {
      const float* r0 = x + 2 * oh * p.W;
      const float* r1 = r0 + p.W;
      float* yo = y + oh * p.Q;
      for (int64_t q = avg2x2_row_simd(yo, r0, r1, p.Q, div); q < p.Q; ++q)
        yo[q] = ((((0.0f + r0[2 * q]) + r0[2 * q + 1]) + r1[2 * q]) + r1[2 * q + 1]) / div;
    }
    return;
  }
  for (int64_t oh = 0; oh < p.P; ++oh) {
    for (int64_t ow = 0; ow < p.Q; ++ow) {
      int64_t h0, h1, w0, w1;
      const int64_t div = avg_window(p, oh, ow, &h0, &h1, &w0, &w1, count_include_pad, divisor);
      float out = 0.0f;
      if (h0 < h1 && w0 < w1) {
        float sum = 0.0f;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) sum += x[ih * p.W + iw];
        out = sum / static_cast<float>(div);
      }
      y[oh * p.Q + ow] = out;
    }
  }
}

void avg_pool2d_backward_plane(float* dx, const float* dy, const Pool2dParams& p, bool count_include_pad,
                               int64_t divisor) {
  if (avg_is_2x2s2(p)) {
    const float div = static_cast<float>(divisor > 0 ? divisor : 4);
    for (int64_t ih = 0; ih < p.H; ++ih) {
      float* row = dx + ih * p.W;
      const int64_t oh = ih / 2;
      if (oh >= p.P) {
        for (int64_t iw = 0; iw < p.W; ++iw) row[iw] = 0.0f;
        continue;
      }
      const float* g = dy + oh * p.Q;
      for (int64_t q = avg2x2_bwd_row_simd(row, g, p.Q, div); q < p.Q; ++q) {
        const float v = g[q] / div;
        row[2 * q] = v;
        row[2 * q + 1] = v;
      }
      for (int64_t iw = 2 * p.Q; iw < p.W; ++iw) row[iw] = 0.0f;
    }
    return;
  }
  for (int64_t i = 0; i < p.H * p.W; ++i) dx[i] = 0.0f;
  for (int64_t oh = 0; oh < p.P; ++oh) {
    for (int64_t ow = 0; ow < p.Q; ++ow) {
      int64_t h0, h1, w0, w1;
      const int64_t div = avg_window(p, oh, ow, &h0, &h1, &w0, &w1, count_include_pad, divisor);
      if (h0 >= h1 || w0 >= w1) continue;
      const float g = dy[oh * p.Q + ow] / static_cast<float>(div);
      for (int64_t ih = h0; ih < h1; ++ih)
        for (int64_t iw = w0; iw < w1; ++iw) dx[ih * p.W + iw] += g;
    }
  }
}

// PyTorch's adaptive pooling bounds: start = floor(o * in / out), end = ceil((o + 1) * in / out).
static inline int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
static inline int64_t adaptive_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

// Sum of n floats with 8 independent partial sums combined in a fixed order (deterministic;
// breaks the add latency chain, e.g. global average pooling of a 7x7 map).
static inline float pool_sum(const float* v, int64_t n) {
  float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += v[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += v[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void adaptive_avg_pool2d_plane(float* y, const float* x, int64_t H, int64_t W, int64_t P, int64_t Q) {
  if (P == 1 && Q == 1) {  // global average pooling: the plane is one contiguous run
    y[0] = pool_sum(x, H * W) / static_cast<float>(H * W);
    return;
  }
  for (int64_t oh = 0; oh < P; ++oh) {
    const int64_t h0 = adaptive_start(oh, H, P), h1 = adaptive_end(oh, H, P);
    for (int64_t ow = 0; ow < Q; ++ow) {
      const int64_t w0 = adaptive_start(ow, W, Q), w1 = adaptive_end(ow, W, Q);
      float sum = 0.0f;
      for (int64_t ih = h0; ih < h1; ++ih) sum += pool_sum(x + ih * W + w0, w1 - w0);
      y[oh * Q + ow] = sum / static_cast<float>((h1 - h0) * (w1 - w0));
    }
  }
}

void adaptive_avg_pool2d_backward_plane(float* dx, const float* dy, int64_t H, int64_t W, int64_t P, int64_t Q) {
  if (P == 1 && Q == 1) {  // global: every input gets dy / (H*W), one pass
    const float g = dy[0] / static_cast<float>(H * W);
    for (int64_t i = 0; i < H * W; ++i) dx[i] = g;
    return;
  }
  for (int64_t i = 0; i < H * W; ++i) dx[i] = 0.0f;
  for (int64_t oh = 0; oh < P; ++oh) {
    const int64_t h0 = adaptive_start(oh, H, P), h1 = adaptive_end(oh, H, P);
    for (int64_t ow = 0; ow < Q; ++ow) {
      const int64_t w0 = adaptive_start(ow, W, Q), w1 = adaptive_end(ow, W, Q);
      const float g = dy[oh * Q + ow] / static_cast<float>((h1 - h0) * (w1 - w0));
      for (int64_t ih = h0; ih < h1; ++ih)
        for (int64_t iw = w0; iw < w1; ++iw) dx[ih * W + iw] += g;
    }
  }
}

// This ISA's table (returned by <isa>::pool_kernels()).
const PoolKernels kPoolKernels{&max_pool2d_plane,          &max_pool2d_backward_plane,
                               &avg_pool2d_plane,          &avg_pool2d_backward_plane,
                               &adaptive_avg_pool2d_plane, &adaptive_avg_pool2d_backward_plane,
                               &max_planes8};
