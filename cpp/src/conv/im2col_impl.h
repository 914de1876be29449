// im2col / col2im bodies for one image and one group, included inside an unnamed namespace
// in fastdl::generic (conv_generic.cpp) and fastdl::avx2 (conv_avx2.cpp) so that each ISA gets
// its own compiled copy, reached through the ConvKernels table (conv_kernels.h). Plain loops only: no templates, no includes (ODR: see docs/architecture.md, "The ODR trap").
// Layout: x (Cg, H, W); col (Cg*R*S, P*Q) with row stride ld >= P*Q (several images side by
// side share one column buffer), row index (c*R + r)*S + s, column p*Q + q.

// floor(a / b) for b > 0 and any sign of a.
static inline int64_t im2col_floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static inline int64_t im2col_clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Output columns q in [q_lo, q_hi) read input column iw = q*sw - pw + s*dw inside [0, W).
static inline void im2col_valid_q(const Conv2dParams& p, int64_t s, int64_t* q_lo, int64_t* q_hi) {
  const int64_t off = s * p.dil_w - p.pad_w;  // iw = q*sw + off
  // iw >= 0  <=>  q >= ceil(-off / sw);   iw < W  <=>  q <= floor((W - 1 - off) / sw)
  const int64_t lo = -im2col_floor_div(off, p.stride_w);
  const int64_t hi = im2col_floor_div(p.W - 1 - off, p.stride_w) + 1;
  *q_lo = im2col_clamp(lo, 0, p.Q);
  *q_hi = im2col_clamp(hi, *q_lo, p.Q);
}

void im2col(float* col, const float* x, const Conv2dParams& p, int64_t ld) {
  const int64_t P = p.P, Q = p.Q, H = p.H, W = p.W, R = p.R, S = p.S;
  const int64_t sh = p.stride_h, sw = p.stride_w;
  if (p.pointwise) {  // a column row is a whole plane: one copy per channel (1x1 on 14x14: 3x faster)
    for (int64_t c = 0; c < p.Cg; ++c) {
      const float* __restrict in = x + c * H * W;
      float* __restrict out = col + c * ld;
      for (int64_t i = 0; i < H * W; ++i) out[i] = in[i];
    }
    return;
  }
  for (int64_t c = 0; c < p.Cg; ++c) {
    const float* xc = x + c * H * W;
    for (int64_t r = 0; r < R; ++r) {
      for (int64_t s = 0; s < S; ++s) {
        float* row = col + ((c * R + r) * S + s) * ld;
        int64_t q_lo, q_hi;
        im2col_valid_q(p, s, &q_lo, &q_hi);
        const int64_t woff = s * p.dil_w - p.pad_w;
        for (int64_t oh = 0; oh < P; ++oh) {
          float* __restrict out = row + oh * Q;
          const int64_t ih = oh * sh - p.pad_h + r * p.dil_h;
          if (ih < 0 || ih >= H) {
            for (int64_t q = 0; q < Q; ++q) out[q] = 0.0f;
            continue;
          }
          const float* __restrict in = xc + ih * W;  // output column q reads input column q*sw + woff
          for (int64_t q = 0; q < q_lo; ++q) out[q] = 0.0f;
          if (sw == 1) {
            for (int64_t q = q_lo; q < q_hi; ++q) out[q] = in[q + woff];
          } else {
            for (int64_t q = q_lo; q < q_hi; ++q) out[q] = in[q * sw + woff];
          }
          for (int64_t q = q_hi; q < Q; ++q) out[q] = 0.0f;
        }
      }
    }
  }
}

void col2im(float* dx, const float* col, const Conv2dParams& p, int64_t ld) {
  const int64_t P = p.P, Q = p.Q, H = p.H, W = p.W, R = p.R, S = p.S;
  const int64_t sh = p.stride_h, sw = p.stride_w;
  if (p.pointwise) {  // the transpose of im2col's plane copy
    for (int64_t c = 0; c < p.Cg; ++c) {
      const float* __restrict in = col + c * ld;
      float* __restrict out = dx + c * H * W;
      for (int64_t i = 0; i < H * W; ++i) out[i] = in[i];
    }
    return;
  }
  for (int64_t i = 0; i < p.Cg * H * W; ++i) dx[i] = 0.0f;
  for (int64_t c = 0; c < p.Cg; ++c) {
    float* dxc = dx + c * H * W;
    for (int64_t r = 0; r < R; ++r) {
      for (int64_t s = 0; s < S; ++s) {
        const float* row = col + ((c * R + r) * S + s) * ld;
        int64_t q_lo, q_hi;
        im2col_valid_q(p, s, &q_lo, &q_hi);
        const int64_t woff = s * p.dil_w - p.pad_w;
        for (int64_t oh = 0; oh < P; ++oh) {
          const int64_t ih = oh * sh - p.pad_h + r * p.dil_h;
          if (ih < 0 || ih >= H) continue;
          const float* __restrict g = row + oh * Q;
          float* __restrict out = dxc + ih * W;
          if (sw == 1) {
            for (int64_t q = q_lo; q < q_hi; ++q) out[q + woff] += g[q];
          } else {
            for (int64_t q = q_lo; q < q_hi; ++q) out[q * sw + woff] += g[q];
          }
        }
      }
    }
  }
}
