// The bodies of the direct convolution kernels (conv_direct_kernels.h), compiled once per ISA:
// conv_direct_<isa>.cpp includes this file INSIDE its anonymous namespace after defining
//   constexpr int VL;                      // floats per vector = the channel block
//   constexpr int NKB;                     // output-channel blocks per forward tile (<= 4)
//   constexpr int UR1, UR2, UR3, UR4;      // widest register tile (output pixels) for 1..4 blocks
//   V; V vzero(); V vload(const float*); void vstore(float*, V); V vbcast(float);
//   V vfma(V a, V b, V c);                 // a * b + c, fused
//   V vfma_bcast(const float* x, V b, V c);  // broadcast(*x) * b + c
//   void transpose_tile(const float* src, int64_t lds, float* dst, int64_t ldd);  // VL x VL
// No includes here, and everything has internal linkage (docs/kernels.md §3).
//
// Forward register tile (the loop order of oneDNN's jit_avx512_common_conv_kernel, written
// anew): UR output pixels x NKB blocks of VL output channels in NKB * UR accumulators; for each
// input channel block, live kernel row, kernel column and input channel: NKB weight vectors
// loaded, one input value broadcast per pixel, NKB * UR FMAs.

// One input channel c of the tile: NKB weight vectors, UR broadcasts, NKB * UR FMAs. SW > 0 is
// the stride as a compile-time constant (every address a constant offset from xq); SW == 0 reads
// it from xs_u.
template <int UR, int NKB, int SW>
inline __attribute__((always_inline)) void fwd_step(V (&acc)[NKB][UR], const float* xq, const float* wq,
                                                    int64_t w_kb, int64_t xs_u, int64_t c) {
  V wv[NKB];
#pragma GCC unroll 4
  for (int j = 0; j < NKB; ++j) wv[j] = vload(wq + j * w_kb + c * VL);
#pragma GCC unroll 32
  for (int u = 0; u < UR; ++u) {
    const float* xu = xq + u * (SW > 0 ? SW * VL : xs_u) + c;
    if constexpr (NKB >= 4) {  // broadcast inside each FMA: no register for it
#pragma GCC unroll 4
      for (int j = 0; j < NKB; ++j) acc[j][u] = vfma_bcast(xu, wv[j], acc[j][u]);
    } else {
      const V xv = vbcast(*xu);
#pragma GCC unroll 4
      for (int j = 0; j < NKB; ++j) acc[j][u] = vfma(xv, wv[j], acc[j][u]);
    }
  }
}

template <int UR, int NKB, int SW>
inline __attribute__((always_inline)) void fwd_tile(const DirectFwdRow& a, int64_t q0) {
  V acc[NKB][UR];
#pragma GCC unroll 4
  for (int j = 0; j < NKB; ++j) {
    const V b = a.bias ? vload(a.bias + j * VL) : vzero();
#pragma GCC unroll 32
    for (int u = 0; u < UR; ++u) acc[j][u] = b;
  }
  const int64_t xs_u = a.stride_w * VL, xs_s = a.dil_w * VL;
  for (int64_t cb = 0; cb < a.ncb; ++cb) {
    const int64_t nc = cb + 1 == a.ncb ? a.c_last : VL;
    for (int64_t r = 0; r < a.nr; ++r) {
      const float* xr = a.x + cb * a.x_cb + r * a.x_r + q0 * xs_u;
      const float* wr = a.w + cb * a.w_cb + r * a.w_r;
      for (int64_t s = 0; s < a.S; ++s) {
        const float* xq = xr + s * xs_s;
        const float* wq = wr + s * a.w_s;
        if (nc == VL) {
#pragma GCC unroll 4
          for (int c = 0; c < VL; ++c) fwd_step<UR, NKB, SW>(acc, xq, wq, a.w_kb, xs_u, c);
        } else {
          for (int64_t c = 0; c < nc; ++c) fwd_step<UR, NKB, SW>(acc, xq, wq, a.w_kb, xs_u, c);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < NKB; ++j)
#pragma GCC unroll 32
    for (int u = 0; u < UR; ++u) vstore(a.y + j * a.y_kb + (q0 + u) * VL, acc[j][u]);
}

// The tile of width ur (1 <= ur <= U) as a chain of compile-time widths.
template <int U, int NKB, int SW>
void fwd_tile_n(const DirectFwdRow& a, int64_t q0, int64_t ur) {
  if constexpr (U > 1) {
    if (ur < U) return fwd_tile_n<U - 1, NKB, SW>(a, q0, ur);
  }
  fwd_tile<U, NKB, SW>(a, q0);
}

// The row in ceil(Q / URMAX) tiles of near-equal width (Q = 28 on avx512: 2 x 14).
template <int URMAX, int NKB, int SW>
void fwd_row_n(const DirectFwdRow& a) {
  const int64_t tiles = (a.Q + URMAX - 1) / URMAX, ur = (a.Q + tiles - 1) / tiles;
  for (int64_t q0 = 0; q0 < a.Q; q0 += ur) fwd_tile_n<URMAX, NKB, SW>(a, q0, a.Q - q0 < ur ? a.Q - q0 : ur);
}

template <int NKB, int URMAX>
void fwd_row_sw(const DirectFwdRow& a) {
  if (a.stride_w == 1) fwd_row_n<URMAX, NKB, 1>(a);
  else if (a.stride_w == 2) fwd_row_n<URMAX, NKB, 2>(a);
  else fwd_row_n<URMAX, NKB, 0>(a);
}

void fwd_row(const DirectFwdRow& a) {
  if constexpr (NKB >= 4) {
    if (a.nkb == 4) return fwd_row_sw<4, UR4>(a);
  }
  if constexpr (NKB >= 3) {
    if (a.nkb == 3) return fwd_row_sw<3, UR3>(a);
  }
  if (a.nkb == 2) return fwd_row_sw<2, UR2>(a);
  fwd_row_sw<1, UR1>(a);
}

// Backward-weights tap: NC accumulators (one vector of output channels per input channel of the
// block that exists: LeNet's 6 input channels take 6, not 16), the dy vector loaded once per
// pixel and each input channel broadcast into its FMA.
template <int NC>
void bwd_w_tap_n(const DirectBwdWTap& a) {
  V acc[NC];
#pragma GCC unroll 16
  for (int c = 0; c < NC; ++c) acc[c] = vload(a.dw_tap + c * VL);
  const int64_t xs_q = a.stride_w * VL;
  for (int64_t i = 0; i < a.nimg; ++i)
    for (int64_t p = 0; p < a.np; ++p) {
      const float* xp = a.x + i * a.x_n + p * a.x_p;
      const float* dp = a.dy + i * a.dy_n + p * a.dy_p;
      for (int64_t q = 0; q < a.Q; ++q) {
        const V d = vload(dp + q * VL);
        const float* xq = xp + q * xs_q;
#pragma GCC unroll 16
        for (int c = 0; c < NC; ++c) acc[c] = vfma(vbcast(xq[c]), d, acc[c]);
      }
    }
#pragma GCC unroll 16
  for (int c = 0; c < NC; ++c) vstore(a.dw_tap + c * VL, acc[c]);
}

template <int NC>
void bwd_w_tap_nc(const DirectBwdWTap& a) {
  if constexpr (NC > 1) {
    if (a.nc < NC) return bwd_w_tap_nc<NC - 1>(a);
  }
  bwd_w_tap_n<NC>(a);
}

void bwd_w_tap(const DirectBwdWTap& a) { bwd_w_tap_nc<VL>(a); }

// Full VL x VL tiles (VL channels x VL columns) go through transpose_tile; the edges by element.
void to_blocked(float* dst, const float* src, int64_t C, int64_t H, int64_t W, int64_t pl, int64_t pr) {
  const int64_t Cb = (C + VL - 1) / VL, Wp = pl + W + pr;
  for (int64_t cb = 0; cb < Cb; ++cb) {
    const int64_t nc = C - cb * VL < VL ? C - cb * VL : VL;
    for (int64_t h = 0; h < H; ++h) {
      float* d = dst + (cb * H + h) * Wp * VL;
      for (int64_t i = 0; i < pl * VL; ++i) d[i] = 0.0f;
      for (int64_t i = (pl + W) * VL; i < Wp * VL; ++i) d[i] = 0.0f;
      float* dm = d + pl * VL;
      const float* s = src + (cb * VL * H + h) * W;
      int64_t w0 = 0;
      if (nc == VL)
        for (; w0 + VL <= W; w0 += VL) transpose_tile(s + w0, H * W, dm + w0 * VL, VL);
      for (int64_t w = w0; w < W; ++w)
        for (int64_t c = 0; c < VL; ++c) dm[w * VL + c] = c < nc ? s[c * H * W + w] : 0.0f;
    }
  }
}

void row_to_plain(float* dst, const float* row, int64_t nkb, int64_t row_kb, int64_t nch, int64_t Q, int64_t plane) {
  for (int64_t j = 0; j < nkb; ++j) {
    const float* s = row + j * row_kb;
    float* d = dst + j * VL * plane;
    const int64_t nc = nch - j * VL < VL ? nch - j * VL : VL;
    int64_t q0 = 0;
    if (nc == VL)
      for (; q0 + VL <= Q; q0 += VL) transpose_tile(s + q0 * VL, VL, d + q0, plane);
    for (int64_t l = 0; l < nc; ++l)
      for (int64_t q = q0; q < Q; ++q) d[l * plane + q] = s[q * VL + l];
  }
}

const ConvDirectKernels& make_table() {
  static const ConvDirectKernels k{VL, NKB, &fwd_row, &bwd_w_tap, &to_blocked, &row_to_plain};
  return k;
}
