// The dot path's tile loop (gemm_kernels.h, entry `dot`), included inside the unnamed
// namespace of fastdl::avx2 (gemm_avx2.cpp) and fastdl::avx512 (gemm_avx512.cpp) so that each
// ISA compiles its own copy. Plain loops only: no templates, no includes (ODR trap,
// docs/kernels.md section 3).

// An mr x nc tile of dot products (the ISA file's kernel_dot<mr, nc>):
// (K, A, lda, Bt, ldbt, C, ldc, alpha, beta).
using DotTile = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                         float, float);

// Tiles of at most `tile_rows` rows of A (L1-resident) x 4 rows of Bt, each band of A against
// all of Bt (N x K, few rows: L1/L2-resident); tiles[mr - 1][nc - 1] computes an mr x nc tile.
static void dot_tiles(const DotTile (*tiles)[4], int tile_rows, int64_t M, int64_t N, int64_t K,
                      const float* A, int64_t lda, const float* Bt, int64_t ldbt, float* C,
                      int64_t ldc, float alpha, float beta) {
  for (int64_t i = 0; i < M; i += tile_rows) {
    const int mr = static_cast<int>(M - i < tile_rows ? M - i : tile_rows);
    for (int64_t j = 0; j < N; j += 4) {
      const int nc = static_cast<int>(N - j < 4 ? N - j : 4);
      tiles[mr - 1][nc - 1](K, A + i * lda, lda, Bt + j * ldbt, ldbt, C + i * ldc + j, ldc, alpha,
                            beta);
    }
  }
}
