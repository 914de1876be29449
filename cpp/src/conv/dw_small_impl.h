// Body of the conv family's dw_small kernel, compiled once per ISA: included inside an
// anonymous namespace of conv_generic.cpp / conv_avx2.cpp / conv_avx512.cpp after that file
// defines the vector traits `V`:
//   V::reg; V::kLanes; V::kMR x V::kNR (the register tile: output channels x taps, at most
//   4 x 5, sized to the ISA's vector registers); V::zero(); V::load_n(p, n) (n <= kLanes
//   floats, the other lanes 0); V::fma(a, b, acc) = a * b + acc; V::hsum(v) (a fixed order).
//
// Weight gradient of one image and one group for a convolution with few weights and unit
// column stride, without im2col:
//   dw[k, c, r, s] (= or +=) sum_{p, q} dy[k, p, q] * xp[c, p*sh + r*dh, q + s*dw]
// where xp is x zero-padded into `pad` (Cg x Hp x Wp floats). Each weight is a dot product
// over the P*Q output pixels, kept in kLanes partial sums (one vector per output row segment)
// and added across lanes at the end, so its order depends on the shape only (and the ISA's
// tile). avx512's 4 x 5 tile: 20 accumulators, 9 loads per 20 multiply-adds. LeNet's first
// layer (6x1x5x5 weights, 28x28 maps) spends ~2.5x the product's time in im2col's short rows
// otherwise, and an SGEMM tile is mostly wasted on its 6 x 25 output.

// A row of Q pixels is read in ceil(Q / kLanes) segments, the last one masked (V::load_n), so
// every segment runs the same loop body and the accumulators stay in registers.
template <int MR, int NR>
void dw_tile(float* dw, int64_t ldw, float beta, const float* dy, const float* const* xrow, const Conv2dParams& p,
             int64_t xrow_step) {
  const int64_t P = p.P, Q = p.Q, PQ = P * Q;
  typename V::reg acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = V::zero();
  // One flat loop over the row segments (a nested row / segment loop made GCC keep the
  // accumulators on the stack): segment v of row oh reads pixels [v*kLanes, +n) of the row.
  const int64_t nseg = (Q + V::kLanes - 1) / V::kLanes, tail = Q - (nseg - 1) * V::kLanes;
  int64_t v = 0, ya = 0, xa = 0;
  for (int64_t seg = 0; seg < P * nseg; ++seg) {
    const int64_t q = v * V::kLanes, n = v + 1 == nseg ? tail : V::kLanes;
    typename V::reg bv[NR];
    for (int j = 0; j < NR; ++j) bv[j] = V::load_n(xrow[j] + xa + q, n);
    for (int i = 0; i < MR; ++i) {
      const typename V::reg av = V::load_n(dy + i * PQ + ya + q, n);
      for (int j = 0; j < NR; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
    }
    if (++v == nseg) {
      v = 0;
      ya += Q;
      xa += xrow_step;
    }
  }
  // Unrolled, so acc stays in registers (a rolled loop here made GCC store all of acc to the
  // stack on every iteration of the loop above: 20 stores per 20 multiply-adds).
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 5
    for (int j = 0; j < NR; ++j) {
      const float s = V::hsum(acc[i][j]);
      dw[i * ldw + j] = beta == 0.0f ? s : dw[i * ldw + j] + s;
    }
}

using DwTileFn = void (*)(float*, int64_t, float, const float*, const float* const*, const Conv2dParams&, int64_t);

// The tile for mr <= V::kMR output channels and nr <= V::kNR taps.
template <int MR>
DwTileFn dw_tile_nr(int64_t nr) {
  switch (nr) {
    case 1: return &dw_tile<MR, 1>;
    case 2: return &dw_tile<MR, 2>;
    case 3: return &dw_tile<MR, 3>;
    case 4: return &dw_tile<MR, 4>;
    default: return &dw_tile<MR, V::kNR>;
  }
}
DwTileFn dw_tile_for(int64_t mr, int64_t nr) {
  switch (mr) {
    case 1: return dw_tile_nr<1>(nr);
    case 2: return dw_tile_nr<2>(nr);
    case 3: return dw_tile_nr<3>(nr);
    default: return dw_tile_nr<V::kMR>(nr);
  }
}

// dw (Kg, Cg*R*S) of one group from dy (Kg, P, Q) and x (Cg, H, W); pad holds
// dw_small_pad_floats(p) floats. Requires stride_w == 1.
void dw_small(float* dw, float beta, const float* dy, const float* x, const Conv2dParams& p, float* pad) {
  const int64_t Hp = dw_small_pad_rows(p), Wp = dw_small_pad_cols(p), CRS = p.col_rows;
  for (int64_t c = 0; c < p.Cg; ++c)
    for (int64_t i = 0; i < Hp; ++i) {
      float* out = pad + (c * Hp + i) * Wp;
      const int64_t ih = i - p.pad_h;
      if (ih < 0 || ih >= p.H) {
        for (int64_t j = 0; j < Wp; ++j) out[j] = 0.0f;
        continue;
      }
      const float* in = x + (c * p.H + ih) * p.W;
      for (int64_t j = 0; j < Wp; ++j) {
        const int64_t iw = j - p.pad_w;
        out[j] = iw >= 0 && iw < p.W ? in[iw] : 0.0f;
      }
    }
  const float* xrow[V::kNR];
  for (int64_t k = 0; k < p.Kg; k += V::kMR) {
    const int64_t mr = std::min<int64_t>(V::kMR, p.Kg - k);
    for (int64_t t = 0; t < CRS; t += V::kNR) {
      const int64_t nr = std::min<int64_t>(V::kNR, CRS - t);
      for (int64_t j = 0; j < nr; ++j) {  // tap t + j = (c, r, s)
        const int64_t c = (t + j) / (p.R * p.S), r = (t + j) / p.S % p.R, s = (t + j) % p.S;
        xrow[j] = pad + (c * Hp + r * p.dil_h) * Wp + s * p.dil_w;
      }
      dw_tile_for(mr, nr)(dw + k * CRS + t, CRS, beta, dy + k * p.P * p.Q, xrow, p, p.stride_h * Wp);
    }
  }
}
