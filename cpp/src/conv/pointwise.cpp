// The pointwise (1x1) convolution engine (pointwise.h): batched GEMMs over NCHW with the SGEMM's
// own micro-kernels and packers (cpp/src/gemm/gemm_kernels.h); compiled without vector flags.
#include "pointwise.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fastdl/cpu.h"
#include "fastdl/parallel.h"
#include "fastdl/scratch.h"
#include "../gemm/gemm_kernels.h"

namespace fastdl {
namespace {

using gemm_detail::Kernels;
using gemm_detail::kPackSlack;

inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

// Depth of one packed block: the table's KC split into equal parts (a function of the shape and
// the ISA level only, so each output's summation order never depends on the thread count).
int64_t depth_block(int64_t depth, int64_t kc) { return cdiv(depth, cdiv(depth, std::max<int64_t>(kc, 1))); }

// A batched operand over the columns j = (n, hw) of every image: X(k, j) = base[n * img + k * HW + hw].
struct Batched {
  const float* base;
  int64_t img, HW;
  const float* at(int64_t k, int64_t j) const { return base + (j / HW) * img + k * HW + j % HW; }
};

// Calls f(done, j, len) for the runs of columns [j0, j0 + nc) that lie in one image (j = j0 + done).
template <class F>
void for_runs(int64_t HW, int64_t j0, int64_t nc, F&& f) {
  for (int64_t done = 0; done < nc;) {
    const int64_t j = j0 + done, len = std::min(HW - j % HW, nc - done);
    f(done, j, len);
    done += len;
  }
}

// Rows [k0, k0 + kc) x columns [j0, j0 + nc) of X into NR-wide micro-panels (gemm_kernels.h
// "Packed B": panel q at Bp + q * NR * kc, element (k, j) at [k * NR + j]; columns past nc zero).
// Row by row, so each image's run of a channel is read front to back (panel by panel, the reads
// jumped between kc rows of the input at once and missed the cache on every one).
void pack_columns(const Batched& X, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t NR, float* Bp) {
  for (int64_t k = 0; k < kc; ++k) {
    for_runs(X.HW, j0, nc, [&](int64_t done, int64_t j, int64_t len) {
      const float* s = X.at(k0 + k, j);
      for (int64_t c = done; c < done + len;) {  // c: column inside the block
        const int64_t in = c % NR, n = std::min(NR - in, done + len - c);
        float* d = Bp + (c - in) * kc + k * NR + in;
        for (int64_t t = 0; t < n; ++t) d[t] = s[t];
        s += n;
        c += n;
      }
    });
  }
  const int64_t nr = nc % NR;
  if (nr) {
    float* panel = Bp + (nc - nr) * kc;
    for (int64_t k = 0; k < kc; ++k) std::fill(panel + k * NR + nr, panel + (k + 1) * NR, 0.0f);
  }
}

// Columns per block of the forward / backward-data product: the packed columns (kc x JB) and
// the output tile (M x JB) stay within ~256 KB each (L2), between one and 16 micro-panels.
int64_t column_block(int64_t M, int64_t kc, int64_t NR) {
  const int64_t jb = (int64_t(1) << 16) / std::max<int64_t>(std::max(M, kc), 1) / NR * NR;
  return std::min(std::max(jb, NR), 16 * NR);
}

// out_n (M x HW, image stride out_img) = op(A) (M x Kd) * in_n (Kd x HW) for n < N, A(i, k) =
// A[i * a_rs + k * a_cs]; then + bias[i] when bias, then max(., 0) when relu. op(A) is packed
// once (scratch conv_pw_a of the calling thread, read by every thread); each column block packs
// its columns and writes its tile into conv_pw_b, scattered to out by the epilogue.
void batched_product(const Kernels& kr, int64_t M, int64_t Kd, const float* A, int64_t a_rs, int64_t a_cs,
                     const Batched& in, int64_t N, float* out, int64_t out_img, const float* bias, bool relu) {
  const int64_t MR = kr.mr, NR = kr.nr, HW = in.HW, cols = N * HW;
  const int64_t kc = depth_block(Kd, kr.kc), Mp = round_up(M, MR);
  float* Ap = scratch(ScratchKey::conv_pw_a, Mp * Kd + kPackSlack);
  for (int64_t pc = 0; pc < Kd; pc += kc) kr.pack_a(M, std::min(kc, Kd - pc), A + pc * a_cs, a_rs, a_cs, Ap + Mp * pc);
  const int64_t JB = column_block(M, kc, NR), nblocks = cdiv(cols, JB);
  const int64_t bp_floats = round_up(JB * kc + kPackSlack, 16);
  parallel_for(0, nblocks, 1, [&](int64_t lo, int64_t hi) {
    float* Bp = scratch(ScratchKey::conv_pw_b, bp_floats + M * JB);
    float* tile = Bp + bp_floats;
    for (int64_t blk = lo; blk < hi; ++blk) {
      const int64_t j0 = blk * JB, nc = std::min(JB, cols - j0);
      for (int64_t pc = 0; pc < Kd; pc += kc) {
        const int64_t kcb = std::min(kc, Kd - pc);
        pack_columns(in, pc, kcb, j0, nc, NR, Bp);
        kr.macro(M, nc, kcb, Ap + Mp * pc, Bp, tile, JB, 1.0f, pc == 0 ? 0.0f : 1.0f);
      }
      for_runs(HW, j0, nc, [&](int64_t done, int64_t j, int64_t len) {
        float* o = out + (j / HW) * out_img + j % HW;
        for (int64_t i = 0; i < M; ++i) {
          const float* s = tile + i * JB + done;
          float* d = o + i * HW;
          if (bias) {
            const float bi = bias[i];
            if (relu) {
              for (int64_t t = 0; t < len; ++t) {
                const float v = s[t] + bi;
                d[t] = v < 0.0f ? 0.0f : v;  // as relu: NaN stays NaN
              }
            } else {
              for (int64_t t = 0; t < len; ++t) d[t] = s[t] + bi;
            }
          } else if (relu) {
            for (int64_t t = 0; t < len; ++t) d[t] = s[t] < 0.0f ? 0.0f : s[t];
          } else {
            std::memcpy(d, s, sizeof(float) * len);
          }
        }
      });
    }
  });
}

// Depth block of the weight gradient (columns of the batch per packed block).
constexpr int64_t kWeightDepth = 512;

// dw (M x Nc) = sum over the batch's columns j of A(:, j) B(:, j)^T, A = dy (M = K rows),
// B = x (Nc = C rows), both batched over N images. Threads take bands of dw's rows and sum the
// whole depth (fixed blocks of kWeightDepth columns, in order) for them: no reduction between
// threads. Each thread packs its band of A and the whole B block (scratch conv_pw_a / conv_pw_b).
void batched_weight_grad(const Kernels& kr, int64_t M, int64_t Nc, const Batched& A, const Batched& B, int64_t N,
                         float* dw) {
  const int64_t MR = kr.mr, NR = kr.nr, HW = A.HW, depth = N * HW;
  const int64_t kc = depth_block(depth, kWeightDepth), Np = round_up(Nc, NR);
  const int64_t panels = cdiv(M, MR);
  const double flops_per_panel = 2.0 * MR * Nc * depth;
  const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(4.0e6 / std::max(flops_per_panel, 1.0)));
  parallel_for(0, panels, grain, [&](int64_t lo, int64_t hi) {
    const int64_t i0 = lo * MR, rows = std::min(hi * MR, M) - i0;
    float* Ap = scratch(ScratchKey::conv_pw_a, round_up(rows, MR) * kc + kPackSlack);
    float* Bp = scratch(ScratchKey::conv_pw_b, Np * kc + kPackSlack);
    for (int64_t pc = 0; pc < depth; pc += kc) {
      const int64_t kcb = std::min(kc, depth - pc);
      // B (kcb x Nc): NR channels per panel, each run of columns of one image is contiguous in
      // depth (the transposing packer); A (rows x kcb): MR rows of dy per panel, likewise.
      for (int64_t q = 0; q < Nc; q += NR)
        for_runs(HW, pc, kcb, [&](int64_t done, int64_t j, int64_t len) {
          kr.pack_b(len, std::min(NR, Nc - q), B.at(q, j), 1, HW, Bp + q * kcb + done * NR);
        });
      for (int64_t r = 0; r < rows; r += MR)
        for_runs(HW, pc, kcb, [&](int64_t done, int64_t j, int64_t len) {
          kr.pack_a(std::min(MR, rows - r), len, A.at(i0 + r, j), HW, 1, Ap + r * kcb + done * MR);
        });
      kr.macro(rows, Nc, kcb, Ap, Bp, dw + i0 * Nc, Nc, 1.0f, pc == 0 ? 0.0f : 1.0f);
    }
  });
}

}  // namespace

bool pointwise_apply(const Conv2dParams& p) {
  if (!p.pointwise || p.groups != 1 || p.N == 0) return false;
  if (const char* e = std::getenv("FASTDL_CONV_ENGINE"); e && (!std::strcmp(e, "im2col") || !std::strcmp(e, "direct")))
    return false;
  return true;
}

void pointwise_forward(float* y, const float* x, const float* w, const float* b, const Conv2dParams& p, bool relu) {
  const int64_t HW = p.H * p.W;
  batched_product(gemm_kernels(active_isa()), p.K, p.C, w, p.C, 1, Batched{x, p.C * HW, HW}, p.N, y, p.K * HW, b,
                  relu);
}

void pointwise_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                        const Conv2dParams& p) {
  const Kernels& kr = gemm_kernels(active_isa());
  const int64_t HW = p.H * p.W;
  const Batched dyb{dy, p.K * HW, HW};
  if (dw) batched_weight_grad(kr, p.K, p.C, dyb, Batched{x, p.C * HW, HW}, p.N, dw);
  if (dx) batched_product(kr, p.C, p.K, w, 1, p.C, dyb, p.N, dx, p.C * HW, nullptr, false);
}

}  // namespace fastdl
