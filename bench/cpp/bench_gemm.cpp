// SGEMM microbenchmark: checks fastdl::sgemm against a naive float64 reference, then reports
// median/best GFLOP/s per ISA path and thread count (1 and 2), square 64..2048 and DL shapes.
//   bench_gemm            full run
//   bench_gemm --quick    fewer shapes, shorter timing
//   bench_gemm --sweep    MC x KC blocking sweep on 1 thread (--isa, default the best path)
//   bench_gemm --paths    also time the forced direct and forced packed paths
//   bench_gemm --shape 64x3136x576 [--shape ...]   only these shapes
//   bench_gemm --isa avx2 / --threads 1            only this ISA / thread count
//   bench_gemm --cpu-time  1-thread runs timed with thread CPU time (the sweep always is)
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fastdl/common.h"
#include "fastdl/cpu.h"
#include "fastdl/gemm.h"
#include "fastdl/parallel.h"
#include "harness.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

struct Shape {
  int64_t M, N, K;
};

std::vector<float> g_a, g_b, g_c;

// Naive float64 check of C = A * B (all entries for small problems, a strided sample otherwise)
// with the K-scaled bound |C - ref| <= 2 K u sum|a||b| + 1e-30.
bool verify(const Shape& s) {
  const int64_t total = s.M * s.N;
  const int64_t step = s.M * s.N * s.K <= (int64_t(1) << 26) ? 1 : std::max<int64_t>(1, total / 4093);
  for (int64_t idx = 0; idx < total; idx += step) {
    const int64_t i = idx / s.N, j = idx % s.N;
    double ref = 0, mag = 0;
    for (int64_t k = 0; k < s.K; ++k) {
      const double p = double(g_a[i * s.K + k]) * double(g_b[k * s.N + j]);
      ref += p;
      mag += std::fabs(p);
    }
    const double err = std::fabs(double(g_c[i * s.N + j]) - ref);
    if (err > 2.0 * s.K * 5.96e-8 * mag + 1e-30) {
      std::printf("VERIFY FAILED %lldx%lldx%lld at (%lld, %lld): got %.8g want %.8g\n",
                  (long long)s.M, (long long)s.N, (long long)s.K, (long long)i, (long long)j,
                  double(g_c[i * s.N + j]), ref);
      return false;
    }
  }
  return true;
}

void prepare(const Shape& s) {
  g_a.resize(s.M * s.K);
  g_b.resize(s.K * s.N);
  g_c.assign(s.M * s.N, 0.0f);
  bench::fill_random(g_a.data(), g_a.size(), 1);
  bench::fill_random(g_b.data(), g_b.size(), 2);
}

bool g_cpu_time = false;  // --cpu-time: thread CPU time for 1-thread runs (noisy machines)

bench::Stats run(const Shape& s, bool quick) {
  return bench::time_it(
      [&] {
        fastdl::sgemm(false, false, s.M, s.N, s.K, 1.0f, g_a.data(), s.K, g_b.data(), s.N, 0.0f,
                      g_c.data(), s.N);
      },
      quick ? 3 : 5, quick ? 0.05 : 0.25, 2000, g_cpu_time && fastdl::get_num_threads() == 1);
}

#if defined(__x86_64__)
// 1-core AVX2 FMA peak: 12 independent accumulator chains (different start values, so the
// compiler cannot merge them).
__attribute__((target("avx2,fma"))) double fma_peak_gflops() {
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    __m256 c0 = _mm256_set1_ps(0.1f), c1 = _mm256_set1_ps(0.2f), c2 = _mm256_set1_ps(0.3f),
           c3 = _mm256_set1_ps(0.4f), c4 = _mm256_set1_ps(0.5f), c5 = _mm256_set1_ps(0.6f),
           c6 = _mm256_set1_ps(0.7f), c7 = _mm256_set1_ps(0.8f), c8 = _mm256_set1_ps(0.9f),
           c9 = _mm256_set1_ps(1.0f), c10 = _mm256_set1_ps(1.1f), c11 = _mm256_set1_ps(1.2f);
    const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-4f);
    const int64_t n = 20000000;
    const auto t0 = std::chrono::steady_clock::now();
    {
      {
          for (int64_t i = 0; i < n; ++i) {
            c0 = _mm256_fmadd_ps(c0, a, b); c1 = _mm256_fmadd_ps(c1, a, b);
            c2 = _mm256_fmadd_ps(c2, a, b); c3 = _mm256_fmadd_ps(c3, a, b);
            c4 = _mm256_fmadd_ps(c4, a, b); c5 = _mm256_fmadd_ps(c5, a, b);
            c6 = _mm256_fmadd_ps(c6, a, b); c7 = _mm256_fmadd_ps(c7, a, b);
            c8 = _mm256_fmadd_ps(c8, a, b); c9 = _mm256_fmadd_ps(c9, a, b);
            c10 = _mm256_fmadd_ps(c10, a, b); c11 = _mm256_fmadd_ps(c11, a, b);
          }
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    if (out[0] == 12345.f) std::printf(" ");  // keep the chains alive
    best = std::max(best, bench::gflops(double(n) * 12 * 16, secs));
  }
  return best;
}
#endif

void sweep(const std::string& isa) {
  fastdl::set_isa(isa);
  fastdl::set_num_threads(1);
  const fastdl::GemmConfig base = fastdl::default_gemm_config();
  for (int64_t n : {512, 1024}) {
    Shape s{n, n, n};
    prepare(s);
    std::printf("sweep %lld^3, 1 thread, %s (median / best GFLOP/s)\n", (long long)n, isa.c_str());
    for (int64_t kc : {192, 256, 320, 384, 512}) {
      std::printf("  kc=%-4lld", (long long)kc);
      for (int64_t mc : {72, 96, 144, 192, 240, 288, 480}) {
        fastdl::GemmConfig c = base;
        c.mc = mc;
        c.kc = kc;
        c.path = 2;
        fastdl::set_gemm_config(c);
        auto st = run(s, true);
        std::printf("  mc=%lld %5.1f/%5.1f", (long long)mc, bench::gflops(2.0 * n * n * n, st.median_s),
                    bench::gflops(2.0 * n * n * n, st.best_s));
        std::fflush(stdout);
      }
      std::printf("\n");
    }
  }
  fastdl::set_gemm_config(base);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const bool paths = bench::has_flag(argc, argv, "--paths");
#if defined(__x86_64__)
  if (fastdl::cpu_supports(fastdl::Isa::avx2))
    std::printf("1-core AVX2 FMA peak: %.1f GFLOP/s\n", fma_peak_gflops());
#endif
  g_cpu_time = bench::has_flag(argc, argv, "--cpu-time");
  std::vector<Shape> only;
  std::string only_isa;
  int only_threads = 0;
  for (int i = 1; i + 1 < argc; ++i) {
    long long m, n, k;
    if (std::strcmp(argv[i], "--shape") == 0 && std::sscanf(argv[i + 1], "%lldx%lldx%lld", &m, &n, &k) == 3)
      only.push_back({m, n, k});
    if (std::strcmp(argv[i], "--isa") == 0) only_isa = argv[i + 1];
    if (std::strcmp(argv[i], "--threads") == 0) only_threads = std::atoi(argv[i + 1]);
  }
  if (bench::has_flag(argc, argv, "--sweep")) {
    g_cpu_time = true;
    sweep(only_isa.empty() ? fastdl::isa_name(fastdl::active_isa()) : only_isa);
    return 0;
  }
  std::vector<Shape> shapes;
  for (int64_t n : {64, 128, 256, 512, 1024, 2048})
    if (!quick || n <= 1024) shapes.push_back({n, n, n});
  const Shape dl[] = {{6, 784, 25},    {16, 100, 150},  {64, 3136, 576}, {128, 784, 1152},
                      {256, 196, 2304}, {512, 49, 4608}, {256, 256, 784}, {256, 10, 256}};
  for (const Shape& s : dl) shapes.push_back(s);
  if (!only.empty()) shapes = only;

  std::vector<std::string> isas = {"generic"};
  if (fastdl::cpu_supports(fastdl::Isa::avx2)) isas.push_back("avx2");
  if (fastdl::cpu_supports(fastdl::Isa::avx512)) isas.push_back("avx512");
  const fastdl::GemmConfig base = fastdl::default_gemm_config();
  std::printf("%-16s %-8s %3s %-7s %10s %10s %6s\n", "MxNxK", "isa", "thr", "path", "median", "best",
              "reps");
  bool ok = true;
  for (const Shape& s : shapes) {
    prepare(s);
    const double flops = 2.0 * s.M * s.N * s.K;
    for (const std::string& isa : isas) {
      if (isa == "generic" && quick && flops > 3e8) continue;
      if (!only_isa.empty() && isa != only_isa) continue;
      fastdl::set_isa(isa);
      for (int threads : {1, 2}) {
        if (only_threads && threads != only_threads) continue;
        fastdl::set_num_threads(threads);
        for (int path : paths ? std::vector<int>{0, 1, 2} : std::vector<int>{0}) {
          fastdl::GemmConfig c = base;
          c.path = path;
          fastdl::set_gemm_config(c);
          g_c.assign(g_c.size(), std::nanf(""));
          fastdl::sgemm(false, false, s.M, s.N, s.K, 1.0f, g_a.data(), s.K, g_b.data(), s.N, 0.0f,
                        g_c.data(), s.N);
          if (!verify(s)) {
            ok = false;
            continue;
          }
          auto st = run(s, quick);
          char name[64];
          std::snprintf(name, sizeof name, "%lldx%lldx%lld", (long long)s.M, (long long)s.N,
                        (long long)s.K);
          std::printf("%-16s %-8s %3d %-7s %10.1f %10.1f %6d\n", name, isa.c_str(), threads,
                      path == 0 ? "auto" : path == 1 ? "direct" : "packed",
                      bench::gflops(flops, st.median_s), bench::gflops(flops, st.best_s), st.reps);
          std::fflush(stdout);
        }
      }
    }
  }
  fastdl::set_gemm_config(base);
  std::printf(ok ? "all results verified\n" : "VERIFICATION FAILED\n");
  return ok ? 0 : 1;
}
