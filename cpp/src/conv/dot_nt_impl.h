// Body of the conv family's dot_nt kernel, compiled once per ISA: included inside an
// anonymous namespace of conv_generic.cpp / conv_avx2.cpp / conv_avx512.cpp after that file
// defines the vector traits `V`:
//   V::reg; V::kLanes; V::zero(); V::load(p) (kLanes floats); V::load_tail(p, n) (n < kLanes
//   floats, the other lanes 0); V::fma(a, b, acc) = a * b + acc; V::hsum(v) (a fixed order).
//
// c (M, N; row stride ldc) = beta * c + a (M, L; lda) * b (N, L; ldb)^T, beta 0 (c is only
// written) or 1. Each c[m][n] is one dot product over l, kept in kLanes partial sums in
// registers and added across lanes at the end: the weight gradient of a convolution with few
// weights (LeNet's 6x1x5x5) is such a product with a long reduction (the P*Q output pixels
// of an image) and a tiny M x N that an SGEMM tile would mostly waste. Tiles of up to
// 4 x 6 outputs: 24 accumulators, 10 loads per 24 multiply-adds.

constexpr int kDotMR = 4, kDotNR = 6;

template <int MR, int NR>
void dot_tile(float* c, int64_t ldc, float beta, const float* a, int64_t lda, const float* b, int64_t ldb,
              int64_t L) {
  typename V::reg acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = V::zero();
  int64_t l = 0;
  for (; l + V::kLanes <= L; l += V::kLanes) {
    typename V::reg bv[NR];
    for (int j = 0; j < NR; ++j) bv[j] = V::load(b + j * ldb + l);
    for (int i = 0; i < MR; ++i) {
      const typename V::reg av = V::load(a + i * lda + l);
      for (int j = 0; j < NR; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
    }
  }
  if (l < L) {
    const int64_t r = L - l;
    typename V::reg bv[NR];
    for (int j = 0; j < NR; ++j) bv[j] = V::load_tail(b + j * ldb + l, r);
    for (int i = 0; i < MR; ++i) {
      const typename V::reg av = V::load_tail(a + i * lda + l, r);
      for (int j = 0; j < NR; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) {
      const float s = V::hsum(acc[i][j]);
      c[i * ldc + j] = beta == 0.0f ? s : c[i * ldc + j] + s;
    }
}

using DotTileFn = void (*)(float*, int64_t, float, const float*, int64_t, const float*, int64_t, int64_t);

template <int MR>
DotTileFn dot_tile_for(int64_t nr) {
  switch (nr) {
    case 1: return &dot_tile<MR, 1>;
    case 2: return &dot_tile<MR, 2>;
    case 3: return &dot_tile<MR, 3>;
    case 4: return &dot_tile<MR, 4>;
    case 5: return &dot_tile<MR, 5>;
    default: return &dot_tile<MR, 6>;
  }
}

void dot_nt(float* c, int64_t ldc, float beta, const float* a, int64_t lda, const float* b, int64_t ldb,
            int64_t M, int64_t N, int64_t L) {
  for (int64_t m = 0; m < M; m += kDotMR) {
    const int64_t mr = std::min<int64_t>(kDotMR, M - m);
    for (int64_t n = 0; n < N; n += kDotNR) {
      const int64_t nr = std::min<int64_t>(kDotNR, N - n);
      const DotTileFn f = mr == 4 ? dot_tile_for<4>(nr) : mr == 3 ? dot_tile_for<3>(nr)
                        : mr == 2 ? dot_tile_for<2>(nr) : dot_tile_for<1>(nr);
      f(c + m * ldc + n, ldc, beta, a + m * lda, lda, b + n * ldb, ldb, L);
    }
  }
}
