// Body of the conv family's `flat` kernel, compiled once per ISA: included inside an anonymous
// namespace of conv_generic.cpp / conv_avx2.cpp / conv_avx512.cpp after that file defines the
// vector traits `V`:
//   V::reg; V::kLanes; V::kFM x V::kFV (the register tile: output planes x vectors of output
//   positions); V::zero(); V::set1(f); V::loadu(p), V::storeu(p, v) (kLanes floats); V::fma(a, b, acc) = a * b + acc;
//   V::add(a, b).
//
// A stride-1 convolution of one image on "wide" planes (conv_flat.cpp prepares them): every
// plane is flat, row stride Wp, and an output position i reads input position i + off(r, s)
// with off(r, s) = r*row_step + s*col_step, so the whole plane is one long vector loop with no
// per-row edges (the last dil*(S-1) columns of each output row are garbage the caller drops):
//   out[m, i] = bias[m] + sum_{j < J, r < R, s < S} w[((m*J + j)*R + r)*S + s] * in[j, i + off(r, s)]
// for i in [0, n). The input planes are zero-padded, so no tap needs a bounds check; a kernel
// row r whose input rows are all padding for every output row of a tile is skipped (input rows
// [top, top + live) hold data). Small channel counts (LeNet: 1 -> 6 forward, 16 -> 6 backward-
// data) fill whole vectors this way instead of padding 6 channels to a block of 16. Each output
// is one register sum in the fixed order (j, r, s): results depend on the shape only.

struct FlatTile {
  int64_t i0, nv, n;  // first position, vectors, valid positions of the tile
};

template <int FM, int FV>
void flat_tile(float* out, const float* in, const float* w, const float* bias, const FlatConv& f, int64_t m0,
               const FlatTile& t, int64_t r_lo, int64_t r_hi) {
  typename V::reg acc[FM][FV];
  for (int a = 0; a < FM; ++a) {
    const typename V::reg b0 = bias ? V::set1(bias[m0 + a]) : V::zero();
    for (int v = 0; v < FV; ++v) acc[a][v] = b0;
  }
  const int64_t RS = f.R * f.S;
  for (int64_t j = 0; j < f.J; ++j) {
    const float* ij = in + j * f.ldi + t.i0;
    const float* wj = w + (m0 * f.J + j) * RS;
    for (int64_t r = r_lo; r < r_hi; ++r) {
      for (int64_t s = 0; s < f.S; ++s) {
        const float* src = ij + r * f.row_step + s * f.col_step;
        typename V::reg wv[FM];
#pragma GCC unroll 8
        for (int a = 0; a < FM; ++a) wv[a] = V::set1(wj[a * f.J * RS + r * f.S + s]);
#pragma GCC unroll 4
        for (int v = 0; v < FV; ++v) {
          const typename V::reg x = V::loadu(src + v * V::kLanes);
#pragma GCC unroll 8
          for (int a = 0; a < FM; ++a) acc[a][v] = V::fma(wv[a], x, acc[a][v]);
        }
      }
    }
  }
  // Whole vectors: the output planes are ldo >= n rounded up to 16 floats long.
#pragma GCC unroll 8
  for (int a = 0; a < FM; ++a)
#pragma GCC unroll 4
    for (int v = 0; v < FV; ++v) V::storeu(out + (m0 + a) * f.ldo + t.i0 + v * V::kLanes, acc[a][v]);
}

using FlatTileFn = void (*)(float*, const float*, const float*, const float*, const FlatConv&, int64_t,
                            const FlatTile&, int64_t, int64_t);

template <int FM>
FlatTileFn flat_tile_fv(int64_t fv) {
  switch (fv) {
    case 1: return &flat_tile<FM, 1>;
    case 2: return &flat_tile<FM, (V::kFV >= 2 ? 2 : 1)>;
    case 3: return &flat_tile<FM, (V::kFV >= 3 ? 3 : 1)>;
    default: return &flat_tile<FM, V::kFV>;
  }
}
FlatTileFn flat_tile_for(int64_t fm, int64_t fv) {
  switch (fm) {
    case 1: return flat_tile_fv<1>(fv);
    case 2: return flat_tile_fv<(V::kFM >= 2 ? 2 : 1)>(fv);
    case 3: return flat_tile_fv<(V::kFM >= 3 ? 3 : 1)>(fv);
    case 4: return flat_tile_fv<(V::kFM >= 4 ? 4 : 1)>(fv);
    case 5: return flat_tile_fv<(V::kFM >= 5 ? 5 : 1)>(fv);
    default: return flat_tile_fv<V::kFM>(fv);
  }
}

// Kernel rows [*r_lo, *r_hi) that reach live input rows for output positions [i0, i0 + n):
// output rows h0..h1 read input rows h + r*dil_h; the others read only zero padding.
void flat_live_taps(const FlatConv& f, int64_t i0, int64_t n, int64_t* r_lo, int64_t* r_hi) {
  const int64_t h0 = i0 / f.Wp, h1 = (i0 + n - 1) / f.Wp;
  int64_t lo = 0, hi = f.R;
  while (lo < hi && h1 + lo * f.dil_h < f.top) ++lo;
  while (hi > lo && h0 + (hi - 1) * f.dil_h >= f.top + f.live) --hi;
  *r_lo = lo;
  *r_hi = hi;
}

// out (M planes of ldo >= n rounded up to 16 floats; positions [0, n) are the results, the
// rest of the last vector is overwritten too) from in (J planes of ldi floats,
// readable up to n + (R-1)*row_step + (S-1)*col_step + kFlatSlack) and w (M, J, R, S).
void flat(float* out, const float* in, const float* w, const float* bias, const FlatConv& f) {
  const int64_t step = V::kFV * V::kLanes;
  for (int64_t i0 = 0; i0 < f.n; i0 += step) {
    FlatTile t;
    t.i0 = i0;
    t.n = f.n - i0 < step ? f.n - i0 : step;
    t.nv = (t.n + V::kLanes - 1) / V::kLanes;
    int64_t r_lo, r_hi;
    flat_live_taps(f, i0, t.n, &r_lo, &r_hi);
    for (int64_t m0 = 0; m0 < f.M; m0 += V::kFM) {
      const int64_t fm = f.M - m0 < V::kFM ? f.M - m0 : V::kFM;
      flat_tile_for(fm, t.nv)(out, in, w, bias, f, m0, t, r_lo, r_hi);
    }
  }
}

// Backward-data of a stride-1 convolution as a scatter on wide planes (conv_flat.cpp sets it
// up): in = the output gradient dy (J planes of row stride Wp: the padded dx's width; the
// columns past Q and the positions past n are zero), out = the padded input gradient (M planes
// of ldo floats, zeroed by the caller):
//   out[m, i + off(r, s)] += sum_{j < J} w[((j*M + m)*R + r)*S + s] * in[j, i]   for i in [0, n)
// (w in the forward's (K, C, R, S) order: j = k, m = c). Only real taps are multiplied: the
// backward-data-as-a-forward (`flat` on the flipped weights) also multiplies the taps that
// fall in dy's zero padding, 2.5x the real work on LeNet's 6 -> 16 layer. Each tap's sum over j
// stays in registers; the taps are added to out in the order (r, s): a fixed order.
template <int FM, int FV>
void flat_scatter_tile(float* out, const float* in, const float* w, const FlatConv& f, int64_t m0, int64_t i0) {
  const int64_t RS = f.R * f.S;
  for (int64_t r = 0; r < f.R; ++r)
    for (int64_t s = 0; s < f.S; ++s) {
      typename V::reg acc[FM][FV];
      for (int a = 0; a < FM; ++a)
        for (int v = 0; v < FV; ++v) acc[a][v] = V::zero();
      const float* wt = w + m0 * RS + r * f.S + s;
      for (int64_t j = 0; j < f.J; ++j) {
        const float* src = in + j * f.ldi + i0;
        const float* wj = wt + j * f.M * RS;
        typename V::reg x[FV];
#pragma GCC unroll 4
        for (int v = 0; v < FV; ++v) x[v] = V::loadu(src + v * V::kLanes);
#pragma GCC unroll 8
        for (int a = 0; a < FM; ++a) {
          const typename V::reg wv = V::set1(wj[a * RS]);
#pragma GCC unroll 4
          for (int v = 0; v < FV; ++v) acc[a][v] = V::fma(wv, x[v], acc[a][v]);
        }
      }
      float* dst = out + m0 * f.ldo + i0 + r * f.row_step + s * f.col_step;
#pragma GCC unroll 8
      for (int a = 0; a < FM; ++a)
#pragma GCC unroll 4
        for (int v = 0; v < FV; ++v) {
          float* d = dst + a * f.ldo + v * V::kLanes;
          V::storeu(d, V::add(V::loadu(d), acc[a][v]));
        }
    }
}

using FlatScatterFn = void (*)(float*, const float*, const float*, const FlatConv&, int64_t, int64_t);

template <int FM>
FlatScatterFn flat_scatter_fv(int64_t fv) {
  switch (fv) {
    case 1: return &flat_scatter_tile<FM, 1>;
    case 2: return &flat_scatter_tile<FM, (V::kFV >= 2 ? 2 : 1)>;
    case 3: return &flat_scatter_tile<FM, (V::kFV >= 3 ? 3 : 1)>;
    default: return &flat_scatter_tile<FM, V::kFV>;
  }
}

// The scatter over the whole plane: tiles of kFV vectors of positions x kFM output planes. out
// must hold ldo >= (positions up to n rounded up to whole vectors) + (R-1)*row_step +
// (S-1)*col_step floats per plane; in must be readable (and zero) up to n rounded up likewise.
void flat_scatter(float* out, const float* in, const float* w, const FlatConv& f) {
  const int64_t step = V::kFV * V::kLanes;
  for (int64_t i0 = 0; i0 < f.n; i0 += step) {
    const int64_t n = f.n - i0 < step ? f.n - i0 : step, nv = (n + V::kLanes - 1) / V::kLanes;
    for (int64_t m0 = 0; m0 < f.M; m0 += V::kFM) {
      FlatScatterFn fn;
      switch (f.M - m0 < V::kFM ? f.M - m0 : V::kFM) {
        case 1: fn = flat_scatter_fv<1>(nv); break;
        case 2: fn = flat_scatter_fv<(V::kFM >= 2 ? 2 : 1)>(nv); break;
        case 3: fn = flat_scatter_fv<(V::kFM >= 3 ? 3 : 1)>(nv); break;
        case 4: fn = flat_scatter_fv<(V::kFM >= 4 ? 4 : 1)>(nv); break;
        case 5: fn = flat_scatter_fv<(V::kFM >= 5 ? 5 : 1)>(nv); break;
        default: fn = flat_scatter_fv<V::kFM>(nv); break;
      }
      fn(out, in, w, f, m0, i0);
    }
  }
}

// Forward of one image vectorised over output channels (LeNet's 6 -> 16 layer: 16 channels are
// one avx512 vector, so no output position is wasted on the wide planes' garbage columns): a tile
// of NR output rows x NC output columns from (p0, q0), MV vectors of channels, accumulates over
// the T taps in order (tap t at offset off[t] = j*ldi + r*row_step + s*col_step in `in`, the
// padded planes of row stride Wp):
//   yT[(p*Q + q)*ldw + m] = bias[m] + sum_t wT[t*ldw + m] * in[off[t] + p*Wp + q]
// (wT, bias: ldw = MV*kLanes floats per tap, zero past K). Positions past (np, nq) are computed
// from the planes' slack and not stored.
template <int MV, int NR, int NC>
void flat_fwdv_tile(float* yT, const float* wT, const float* bias, const float* in, const int64_t* off, int64_t T,
                    const FlatConv& f, int64_t Q, int64_t p0, int64_t q0, int64_t np, int64_t nq) {
  constexpr int64_t ldw = MV * V::kLanes;
  typename V::reg a[NR][NC][MV];
  for (int v = 0; v < MV; ++v) {
    const typename V::reg b = V::loadu(bias + v * V::kLanes);
    for (int r = 0; r < NR; ++r)
      for (int c = 0; c < NC; ++c) a[r][c][v] = b;
  }
  const float* base = in + p0 * f.Wp + q0;
  for (int64_t t = 0; t < T; ++t) {
    typename V::reg w[MV];
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) w[v] = V::loadu(wT + t * ldw + v * V::kLanes);
    const float* bt = base + off[t];
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) {
      const float* x = bt + r * f.Wp;
#pragma GCC unroll 16
      for (int c = 0; c < NC; ++c) {
        const typename V::reg xv = V::set1(x[c]);
#pragma GCC unroll 4
        for (int v = 0; v < MV; ++v) a[r][c][v] = V::fma(w[v], xv, a[r][c][v]);
      }
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int c = 0; c < NC; ++c)
      if (r < np && c < nq)
        for (int v = 0; v < MV; ++v) V::storeu(yT + ((p0 + r) * Q + q0 + c) * ldw + v * V::kLanes, a[r][c][v]);
}

// The whole image in tiles of shape `shape` (0: kFwdA rows x columns, 1: kFwdB); in must be
// readable up to ceil(P / rows) * rows - 1 + (R-1)*dil_h rows and ceil(Q / cols) * cols - 1 +
// (S-1)*dil_w columns of row stride Wp.
void flat_fwdv(float* yT, const float* wT, const float* bias, const float* in, const int64_t* off, int64_t T,
               const FlatConv& f, int64_t P, int64_t Q, int shape) {
  const int NR = shape == 0 ? V::kFwdA[0] : V::kFwdB[0], NC = shape == 0 ? V::kFwdA[1] : V::kFwdB[1];
  for (int64_t p0 = 0; p0 < P; p0 += NR)
    for (int64_t q0 = 0; q0 < Q; q0 += NC) {
      const int64_t np = P - p0 < NR ? P - p0 : NR, nq = Q - q0 < NC ? Q - q0 : NC;
      if (shape == 0)
        flat_fwdv_tile<V::kFwdMV, V::kFwdA[0], V::kFwdA[1]>(yT, wT, bias, in, off, T, f, Q, p0, q0, np, nq);
      else
        flat_fwdv_tile<V::kFwdMV, V::kFwdB[0], V::kFwdB[1]>(yT, wT, bias, in, off, T, f, Q, p0, q0, np, nq);
    }
}

// Weight gradient of one image on the zero-padded input planes, vectorised over output
// channels (LeNet's 16 output channels are one 16-lane vector; no position is wasted): gT holds
// the image's output gradient position-major, (P*Q, ldg) with ldg >= the tile's channels and
// zero past K; `in` the J padded input planes (ldi floats, row stride Wp). A tile is MV vectors
// of output channels (from m0) x NR tap rows (row[i]: the offset in `in` of tap row (j, r) =
// j*ldi + r*row_step) x NS columns s0 + s (column offset s*cs; Unit: cs == 1, so the offsets
// are displacements). acc (MV*NR*NS vectors, [v][i][s][lane], kept between images) +=
//   sum over positions (p, q) in order of gT[p*Q + q, m] * in[row[i] + (s0 + s)*cs + p*Wp + q].
// Each accumulator is one running sum in a fixed order: results follow the shape only.
template <int MV, int NR, int NS, bool Unit>
void flat_dwv_tile(typename V::reg* acc, const float* gT, int64_t ldg, const float* in, const int64_t* row,
                   int64_t s0, int64_t cs, const FlatConv& f, int64_t P, int64_t Q, int64_t m0) {
  typename V::reg a[MV][NR][NS];
  for (int v = 0; v < MV; ++v)
    for (int i = 0; i < NR; ++i)
      for (int c = 0; c < NS; ++c) a[v][i][c] = acc[(v * NR + i) * NS + c];
  const float* xp[NR];
  for (int i = 0; i < NR; ++i) xp[i] = in + row[i] + s0 * cs;
  for (int64_t p = 0; p < P; ++p) {
    const float* gr = gT + p * Q * ldg + m0;
    const int64_t xr = p * f.Wp;
    for (int64_t q = 0; q < Q; ++q) {
      typename V::reg g[MV];
#pragma GCC unroll 4
      for (int v = 0; v < MV; ++v) g[v] = V::loadu(gr + q * ldg + v * V::kLanes);
#pragma GCC unroll 8
      for (int i = 0; i < NR; ++i) {
        const float* x = xp[i] + xr + q;
#pragma GCC unroll 8
        for (int c = 0; c < NS; ++c) {
          const typename V::reg xv = V::set1(x[Unit ? c : c * cs]);
#pragma GCC unroll 4
          for (int v = 0; v < MV; ++v) a[v][i][c] = V::fma(g[v], xv, a[v][i][c]);
        }
      }
    }
  }
  for (int v = 0; v < MV; ++v)
    for (int i = 0; i < NR; ++i)
      for (int c = 0; c < NS; ++c) acc[(v * NR + i) * NS + c] = a[v][i][c];
}

// Tile (mb, rb, cb) of one image: output channels [mb*kDwMV*kLanes, +kDwMV*kLanes) x tap rows
// [rb*kDwNR, +kDwNR) (tap row (j, r) = j*R + r; row_off: its offset in `in`, past the last one
// repeated) x columns [cb*kDwNS, +kDwNS) (columns past S read the plane's slack; the caller drops
// them). acc: kDwMV*kDwNR*kDwNS vectors.
void flat_dwv(float* acc_mem, const float* gT, int64_t ldg, const float* in, const int64_t* row_off,
              const FlatConv& f, int64_t P, int64_t Q, int64_t mb, int64_t rb, int64_t cb) {
  auto* acc = reinterpret_cast<typename V::reg*>(acc_mem);
  const int64_t m0 = mb * V::kDwMV * V::kLanes, s0 = cb * V::kDwNS;
  if (f.col_step == 1)
    flat_dwv_tile<V::kDwMV, V::kDwNR, V::kDwNS, true>(acc, gT, ldg, in, row_off + rb * V::kDwNR, s0, 1, f, P, Q, m0);
  else
    flat_dwv_tile<V::kDwMV, V::kDwNR, V::kDwNS, false>(acc, gT, ldg, in, row_off + rb * V::kDwNR, s0, f.col_step, f,
                                                         P, Q, m0);
}
