// SGEMM: ISA dispatch, thread split, path choice and the Goto/BLIS blocking driver.
// The per-ISA kernels (micro-kernel, direct kernel, packers) and their tile / cache-block sizes
// are in gemm_generic.cpp, gemm_avx2.cpp and gemm_avx512.cpp behind the table in gemm_kernels.h;
// this file is compiled without vector flags.
#include "fastdl/gemm.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "fastdl/common.h"
#include "fastdl/cpu.h"
#include "fastdl/parallel.h"
#include "fastdl/scratch.h"
#include "gemm_kernels.h"

namespace fastdl {
namespace {
using gemm_detail::Kernels;
using gemm_detail::kPackSlack;
using gemm_detail::MR;
using gemm_detail::NR;  // MR / NR: the config validation unit; the driver uses kr.mr / kr.nr

// ---- configuration (atomics: read by every call, written by tuning code / tests)
std::atomic<int64_t> g_mc{0}, g_kc{0}, g_nc{0}, g_thread_flops{0};
std::atomic<int> g_path{0};
std::atomic<bool> g_init{false};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Operand views: A(i, k) = A[i * a_rs + k * a_cs], B(k, j) = B[k * b_rs + j * b_cs].
struct Problem {
  int64_t M, N, K;
  const float* A;
  int64_t a_rs, a_cs;
  const float* B;
  int64_t b_rs, b_cs;
  float* C;
  int64_t ldc;
  float alpha, beta;
};

// C = beta * C (beta == 0: zeros, C never read).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f)
      std::fill(c, c + N, 0.0f);
    else if (beta != 1.0f)
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

// Splits `total` into the fewest blocks of at most `cap` (rounded down to a multiple of
// `unit`), equal up to `unit` rounding.
inline int64_t balanced_block(int64_t total, int64_t cap, int64_t unit) {
  cap = std::max(unit, cap / unit * unit);
  const int64_t nblocks = ceil_div(total, cap);
  return std::min(cap, round_up(ceil_div(total, nblocks), unit));
}

// The five-loop Goto/BLIS driver on one thread.
void packed_serial(const Kernels& kr, const Problem& p, const GemmConfig& cfg) {
  const int64_t MR = kr.mr, NR = kr.nr;
  const int64_t nc_blk = balanced_block(p.N, cfg.nc, NR);
  const int64_t kc_blk = balanced_block(p.K, cfg.kc, 4);
  const int64_t mc_blk = balanced_block(p.M, cfg.mc, MR);
  float* Ap = scratch(ScratchKey::gemm_pack_a, round_up(mc_blk, MR) * kc_blk + kPackSlack);
  if (p.M <= mc_blk) {
    // One row block: a packed B panel would be used once, so pack B one micro-panel (kc x NR,
    // L1-resident) at a time right before the row panels consume it, instead of streaming a
    // whole packed panel out to L3 and back.
    float* Bp = scratch(ScratchKey::gemm_pack_b, NR * kc_blk + kPackSlack);
    for (int64_t pc = 0; pc < p.K; pc += kc_blk) {
      const int64_t kc = std::min(kc_blk, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      kr.pack_a(p.M, kc, p.A + pc * p.a_cs, p.a_rs, p.a_cs, Ap);
      for (int64_t jr = 0; jr < p.N; jr += NR) {
        const int64_t nr = std::min<int64_t>(NR, p.N - jr);
        kr.pack_b(kc, nr, p.B + pc * p.b_rs + jr * p.b_cs, p.b_rs, p.b_cs, Bp);
        kr.macro(p.M, nr, kc, Ap, Bp, p.C + jr, p.ldc, p.alpha, beta);
      }
    }
    return;
  }
  float* Bp = scratch(ScratchKey::gemm_pack_b, round_up(nc_blk, NR) * kc_blk + kPackSlack);
  for (int64_t jc = 0; jc < p.N; jc += nc_blk) {
    const int64_t nc = std::min(nc_blk, p.N - jc);
    for (int64_t pc = 0; pc < p.K; pc += kc_blk) {
      const int64_t kc = std::min(kc_blk, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      kr.pack_b(kc, nc, p.B + pc * p.b_rs + jc * p.b_cs, p.b_rs, p.b_cs, Bp);
      for (int64_t ic = 0; ic < p.M; ic += mc_blk) {
        const int64_t mc = std::min(mc_blk, p.M - ic);
        kr.pack_a(mc, kc, p.A + ic * p.a_rs + pc * p.a_cs, p.a_rs, p.a_cs, Ap);
        kr.macro(mc, nc, kc, Ap, Bp, p.C + ic * p.ldc + jc, p.ldc, p.alpha, beta);
      }
    }
  }
}

// Largest op(B) the direct path packs (floats). Above it the packed path's blocking wins:
// measured (1 thread, GFLOP/s direct vs packed, with the old scalar transposing copy)
// 32x1024x256 NT avx512 19 vs 134, avx2 17 vs 69; 12x500x300 NT 39 vs 83; while 256x10x784 NT
// (K*N = 7840) is 71 vs 52.
constexpr int64_t kDirectTransposeMax = int64_t(1) << 14;

// Direct (unpacked) path on one thread. The direct kernel needs unit column stride in B; a
// transposed B is first packed (the table's vectorised packer) into NR-column panels, each a
// K x NR row-major matrix (scratch gemm_pack_b), and the product runs panel by panel: every
// output is the same k-ordered sum as on an unpacked B.
void direct_serial(const Kernels& kr, const Problem& p) {
  if (p.b_cs == 1) {
    kr.direct(p.M, p.N, p.K, p.A, p.a_rs, p.a_cs, p.B, p.b_rs, p.C, p.ldc, p.alpha, p.beta);
    return;
  }
  const int64_t NR = kr.nr;
  float* Bp = scratch(ScratchKey::gemm_pack_b, round_up(p.N, NR) * p.K + kPackSlack);
  kr.pack_b(p.K, p.N, p.B, p.b_rs, p.b_cs, Bp);
  for (int64_t j0 = 0; j0 < p.N; j0 += NR)
    kr.direct(p.M, std::min(NR, p.N - j0), p.K, p.A, p.a_rs, p.a_cs, Bp + j0 * p.K, NR, p.C + j0, p.ldc,
              p.alpha, p.beta);
}

// The dot path: a row-major op(B) is transposed into scratch gemm_pack_b (N * K floats).
void dot_serial(const Kernels& kr, const Problem& p) {
  float* work = p.b_rs == 1 ? nullptr : scratch(ScratchKey::gemm_pack_b, p.K * p.N + kPackSlack);
  kr.dot(p.M, p.N, p.K, p.A, p.a_rs, p.B, p.b_rs, p.b_cs, work, p.C, p.ldc, p.alpha, p.beta);
}

enum class Path { packed, direct, dot };

// Dot when its vector FMAs plus a reduction per output (~4 vector operations) undercut the row
// tiles', whose last columns fill a whole tile of direct_cols: per row of C,
// N * (ceil(K / lanes) + 4) against round_up(N, direct_cols) * K / lanes (N = 10, K = 256 on
// avx512: 200 vs 256). Needs A unit-stride in k; B with few columns (a transposed copy of
// N x K is cheap) or already B^T in memory.
bool use_dot(const Kernels& kr, const Problem& p) {
  if (p.a_cs != 1 || p.N > 4 * kr.lanes) return false;
  const int64_t dot_cost = p.N * (ceil_div(p.K, kr.lanes) + 4);
  const int64_t row_cost = round_up(p.N, kr.direct_cols) * p.K / kr.lanes;
  return 10 * dot_cost < 9 * row_cost;
}

// Direct when packing cannot pay for itself (measured on the target, bench_gemm --paths):
// few row panels (B would be packed for <= 3 uses), a short k-loop, tiny total work
// (64^3 direct 108 vs packed 91 GFLOP/s; even at 128^3), or few columns with B small enough
// to stay in L2 (512x49x4608: direct 76 vs packed 66). The dot path (above) goes first.
Path choose_path(const Kernels& kr, const Problem& p, const GemmConfig& cfg) {
  const int64_t MR = kr.mr, NR = kr.nr;
  if (cfg.path == 3 && p.a_cs == 1) return Path::dot;
  if (cfg.path == 1 || cfg.path == 3)
    return p.b_cs == 1 || p.K * p.N <= kDirectTransposeMax * 64 ? Path::direct : Path::packed;
  if (cfg.path == 2) return Path::packed;
  if (use_dot(kr, p)) return Path::dot;
  if (p.b_cs != 1 && p.K * p.N > kDirectTransposeMax) return Path::packed;
  if (p.M <= 3 * MR || p.K <= 16) return Path::direct;
  if (p.N <= 4 * NR && p.K * p.N <= (int64_t(1) << 18)) return Path::direct;
  return double(p.M) * double(p.N) * double(p.K) <= 144.0 * 144.0 * 144.0 ? Path::direct
                                                                         : Path::packed;
}

GemmConfig default_config(const Kernels& kr) { return GemmConfig{kr.mc, kr.kc, kr.nc, 0, int64_t(2) << 20}; }

// The blocking of one call: set_gemm_config's values once set, else the table's defaults.
GemmConfig config_for(const Kernels& kr) {
  if (!g_init.load(std::memory_order_acquire)) return default_config(kr);
  return GemmConfig{g_mc.load(std::memory_order_relaxed), g_kc.load(std::memory_order_relaxed),
                    g_nc.load(std::memory_order_relaxed), g_path.load(std::memory_order_relaxed),
                    g_thread_flops.load(std::memory_order_relaxed)};
}

void run(const Kernels& kr, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
         float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
         float* C, int64_t ldc, bool allow_threads) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  Problem p{M, N, K, A, trans_a ? 1 : lda, trans_a ? lda : 1, B, trans_b ? 1 : ldb,
            trans_b ? ldb : 1, C, ldc, alpha, beta};
  const GemmConfig cfg = config_for(kr);
  // The path is chosen once for the whole product, never per thread's band: each output's
  // summation order, and so the result, does not depend on the thread count.
  const Path path = choose_path(kr, p, cfg);
  const int64_t MR = kr.mr, NR = kr.nr;
  auto solve = [&](const Problem& q) {
    if (path == Path::dot)
      dot_serial(kr, q);
    else if (path == Path::direct)
      direct_serial(kr, q);
    else
      packed_serial(kr, q, cfg);
  };
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const int threads = allow_threads ? get_num_threads() : 1;
  if (threads <= 1 || flops < double(cfg.thread_flops)) {
    solve(p);
    return;
  }
  // Each thread solves a band of rows or columns of C with its own packing buffers; no
  // barrier. Split the larger of M and N: the other operand is then packed by every thread,
  // which costs O(1 / split dimension) of the work.
  if (N < 2 * NR || (M >= N && M >= 2 * MR)) {
    parallel_for(0, ceil_div(M, MR), 1, [&](int64_t lo, int64_t hi) {
      Problem q = p;
      const int64_t i0 = lo * MR, i1 = std::min(hi * MR, M);
      q.M = i1 - i0;
      q.A = p.A + i0 * p.a_rs;
      q.C = p.C + i0 * p.ldc;
      solve(q);
    });
  } else {
    parallel_for(0, ceil_div(N, NR), 1, [&](int64_t lo, int64_t hi) {
      Problem q = p;
      const int64_t j0 = lo * NR, j1 = std::min(hi * NR, N);
      q.N = j1 - j0;
      q.B = p.B + j0 * p.b_cs;
      q.C = p.C + j0;
      solve(q);
    });
  }
}

}  // namespace

// Defaults: the active table's cache blocks (gemm_kernels.h), automatic path choice, 2 MFLOP
// before a call uses several threads.
GemmConfig default_gemm_config() { return default_config(gemm_kernels(active_isa())); }

GemmConfig gemm_config() { return config_for(gemm_kernels(active_isa())); }

void set_gemm_config(const GemmConfig& c) {
  FASTDL_CHECK(c.mc >= MR && c.mc % MR == 0 && c.mc <= (int64_t(1) << 20),
               "gemm config: mc must be a positive multiple of 6, got " + std::to_string(c.mc));
  FASTDL_CHECK(c.kc >= 1 && c.kc <= (int64_t(1) << 20),
               "gemm config: kc must be >= 1, got " + std::to_string(c.kc));
  FASTDL_CHECK(c.nc >= NR && c.nc % NR == 0 && c.nc <= (int64_t(1) << 24),
               "gemm config: nc must be a positive multiple of 16, got " + std::to_string(c.nc));
  FASTDL_CHECK(c.path >= 0 && c.path <= 3,
               "gemm config: path must be 0 (auto), 1 (direct), 2 (packed) or 3 (dot), got " +
                   std::to_string(c.path));
  FASTDL_CHECK(c.thread_flops >= 0, "gemm config: thread_flops must be >= 0");
  g_mc.store(c.mc);
  g_kc.store(c.kc);
  g_nc.store(c.nc);
  g_path.store(c.path);
  g_thread_flops.store(c.thread_flops);
  g_init.store(true, std::memory_order_release);
}

const gemm_detail::Kernels& gemm_kernels(Isa isa) {
  return select_kernels<Kernels>(isa, &generic::gemm_kernels, FASTDL_AVX2_TABLE(avx2::gemm_kernels),
                                 FASTDL_AVX512_TABLE(avx512::gemm_kernels));
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
  run(gemm_kernels(active_isa()), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
      true);
}

void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                  float* C, int64_t ldc) {
  run(gemm_kernels(active_isa()), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
      false);
}

}  // namespace fastdl
