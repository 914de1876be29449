// SGEMM pieces for the portable path (compiled for the baseline ISA): packers, a plain C++
// 6x16 micro-kernel (auto-vectorised; 24 NEON q-registers hold the tile on AArch64) and the
// direct (unpacked) kernel. Layout conventions: gemm_kernels.h.
#include <algorithm>
#include <cstring>

#include "gemm_kernels.h"

namespace fastdl {
namespace gemm_detail {

void pack_a_generic(int64_t mc, int64_t kc, const float* A, int64_t a_rs, int64_t a_cs, float* Ap) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, Ap += MR * kc) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - i0));
    if (a_rs == 1) {  // A^T in memory: the MR values of one k are contiguous
      const float* src = A + i0;
      for (int64_t k = 0; k < kc; ++k, src += a_cs) {
        float* d = Ap + k * MR;
        int i = 0;
        for (; i < mr; ++i) d[i] = src[i];
        for (; i < MR; ++i) d[i] = 0.0f;
      }
    } else {  // row-major A: each row is contiguous in k
      for (int i = 0; i < MR; ++i) {
        if (i < mr) {
          const float* src = A + (i0 + i) * a_rs;
          for (int64_t k = 0; k < kc; ++k) Ap[k * MR + i] = src[k * a_cs];
        } else {
          for (int64_t k = 0; k < kc; ++k) Ap[k * MR + i] = 0.0f;
        }
      }
    }
  }
}

void pack_b_generic(int64_t kc, int64_t nc, const float* B, int64_t b_rs, int64_t b_cs, float* Bp) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR, Bp += NR * kc) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, nc - j0));
    if (b_cs == 1) {  // row-major B: NR consecutive values per k
      const float* src = B + j0;
      for (int64_t k = 0; k < kc; ++k, src += b_rs) {
        float* d = Bp + k * NR;
        if (nr == NR) {
          std::memcpy(d, src, sizeof(float) * NR);
        } else {
          int j = 0;
          for (; j < nr; ++j) d[j] = src[j];
          for (; j < NR; ++j) d[j] = 0.0f;
        }
      }
    } else {  // B^T in memory: column j of op(B) is contiguous in k
      for (int j = 0; j < NR; ++j) {
        if (j < nr) {
          const float* src = B + (j0 + j) * b_cs;
          for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = src[k * b_rs];
        } else {
          for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = 0.0f;
        }
      }
    }
  }
}

const float* dot_rows_generic(int64_t N, int64_t K, const float* B, int64_t b_rs, int64_t b_cs,
                              float* work, int64_t* ldbt) {
  if (b_rs == 1) {
    *ldbt = b_cs;
    return B;
  }
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) work[j * K + k] = B[k * b_rs + j * b_cs];
  *ldbt = K;
  return work;
}

}  // namespace gemm_detail

namespace generic {
namespace {
using gemm_detail::MR;
using gemm_detail::NR;

// acc (MR x NR) -> C rows < mr, columns < nr.
inline void store_tile(const float (&acc)[MR][NR], float* C, int64_t ldc, int mr, int nr,
                       float alpha, float beta) {
  for (int i = 0; i < mr; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < nr; ++j) c[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < nr; ++j) c[j] = alpha * acc[i][j] + beta * c[j];
    }
  }
}

void kernel_packed(int64_t kc, const float* a, const float* b, float* C, int64_t ldc, int mr,
                   int nr, float alpha, float beta) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    for (int i = 0; i < MR; ++i) {
      const float ai = a[i];
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
  }
  store_tile(acc, C, ldc, mr, nr, alpha, beta);
}

void macro(int64_t mc, int64_t nc, int64_t kc, const float* Ap, const float* Bp, float* C,
           int64_t ldc, float alpha, float beta) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
      kernel_packed(kc, Ap + ir * kc, Bp + jr * kc, C + ir * ldc + jr, ldc, mr, nr, alpha, beta);
    }
  }
}

// Direct tile: rows past mr re-read the last valid row (never stored), so A is never read out
// of bounds; columns past nr are not read.
void kernel_direct(int64_t K, const float* A, int64_t a_rs, int64_t a_cs, const float* B,
                   int64_t ldb, float* C, int64_t ldc, int mr, int nr, float alpha, float beta) {
  float acc[MR][NR] = {};
  int64_t off[MR];
  for (int i = 0; i < MR; ++i) off[i] = std::min(i, mr - 1) * a_rs;
  if (nr == NR) {
    for (int64_t k = 0; k < K; ++k, A += a_cs, B += ldb) {
      for (int i = 0; i < MR; ++i) {
        const float ai = A[off[i]];
#pragma omp simd
        for (int j = 0; j < NR; ++j) acc[i][j] += ai * B[j];
      }
    }
  } else {
    for (int64_t k = 0; k < K; ++k, A += a_cs, B += ldb) {
      float b[NR] = {};
      for (int j = 0; j < nr; ++j) b[j] = B[j];
      for (int i = 0; i < MR; ++i) {
        const float ai = A[off[i]];
#pragma omp simd
        for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
      }
    }
  }
  store_tile(acc, C, ldc, mr, nr, alpha, beta);
}

void direct(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
            const float* B, int64_t ldb, float* C, int64_t ldc, float alpha, float beta) {
  for (int64_t i0 = 0; i0 < M; i0 += MR) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, M - i0));
    for (int64_t j0 = 0; j0 < N; j0 += NR) {
      const int nr = static_cast<int>(std::min<int64_t>(NR, N - j0));
      kernel_direct(K, A + i0 * a_rs, a_rs, a_cs, B + j0, ldb, C + i0 * ldc + j0, ldc, mr, nr,
                    alpha, beta);
    }
  }
}

// Dot path (gemm_kernels.h): 4 lanes along k (element k in lane k % 4), each output reduced
// as (l0 + l2) + (l1 + l3). Tiles of 2 rows x 4 columns; rows / columns past the edge repeat
// the last valid one (computed, never stored).
void dot(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
         int64_t b_rs, int64_t b_cs, float* work, float* C, int64_t ldc, float alpha, float beta) {
  constexpr int R = 2, NC = 4, L = 4;
  int64_t ldbt = 0;
  const float* Bt = gemm_detail::dot_rows_generic(N, K, B, b_rs, b_cs, work, &ldbt);
  for (int64_t i0 = 0; i0 < M; i0 += R) {
    const int mr = static_cast<int>(std::min<int64_t>(R, M - i0));
    const float* a[R];
    for (int i = 0; i < R; ++i) a[i] = A + (i0 + std::min(i, mr - 1)) * lda;
    for (int64_t j0 = 0; j0 < N; j0 += NC) {
      const int nc = static_cast<int>(std::min<int64_t>(NC, N - j0));
      const float* b[NC];
      for (int j = 0; j < NC; ++j) b[j] = Bt + (j0 + std::min(j, nc - 1)) * ldbt;
      float acc[R][NC][L] = {};
      int64_t k = 0;
      for (; k + L <= K; k += L)
        for (int i = 0; i < R; ++i)
          for (int j = 0; j < NC; ++j)
#pragma omp simd
            for (int l = 0; l < L; ++l) acc[i][j][l] += a[i][k + l] * b[j][k + l];
      for (; k < K; ++k)
        for (int i = 0; i < R; ++i)
          for (int j = 0; j < NC; ++j) acc[i][j][k % L] += a[i][k] * b[j][k];
      for (int i = 0; i < mr; ++i) {
        float* c = C + (i0 + i) * ldc + j0;
        for (int j = 0; j < nc; ++j) {
          const float* t = acc[i][j];
          const float r = alpha * ((t[0] + t[2]) + (t[1] + t[3]));
          c[j] = beta == 0.0f ? r : r + beta * c[j];
        }
      }
    }
  }
}

const gemm_detail::Kernels kKernels = {macro, direct, dot, gemm_detail::pack_a_generic,
                                       gemm_detail::pack_b_generic, gemm_detail::MR,
                                       gemm_detail::NR, 4};
}  // namespace

const gemm_detail::Kernels& gemm_kernels() { return kKernels; }

}  // namespace generic
}  // namespace fastdl
