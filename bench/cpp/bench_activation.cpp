// Microbenchmark of the activation / softmax / cross-entropy kernels (no Python in the loop).
// Verifies each result against a double-precision loop first, then prints the median time of
// many repetitions per ISA path and thread count. Usage: bench_activation [reps]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "fastdl/activation.h"
#include "fastdl/cpu.h"
#include "fastdl/loss.h"
#include "fastdl/parallel.h"
#include "fastdl/softmax.h"

using namespace fastdl;

template <class F>
static double median_us(int reps, F f) {
  std::vector<double> t;
  for (int i = 0; i < 3; ++i) f();  // warm-up
  for (int i = 0; i < reps; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    auto b = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double, std::micro>(b - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

static void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "verification failed: %s\n", what);
    std::exit(1);
  }
}

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 2000;
  std::mt19937 gen(1);
  std::normal_distribution<float> nd;
  const int64_t N = 256, C10 = 10, C1k = 1000;
  std::vector<float> x10(N * C10), x1k(N * C1k), prob(N * C1k), d(N * C1k), y(N * C1k);
  for (auto& v : x10) v = nd(gen);
  for (auto& v : x1k) v = nd(gen);
  std::vector<int64_t> t(N);
  for (auto& v : t) v = static_cast<int64_t>(gen() % C10);

  // double reference of the 256x10 mean cross-entropy
  double ref = 0;
  for (int64_t i = 0; i < N; ++i) {
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < C10; ++c) m = std::max<double>(m, x10[i * C10 + c]);
    for (int64_t c = 0; c < C10; ++c) s += std::exp(x10[i * C10 + c] - m);
    ref += -(x10[i * C10 + t[i]] - m - std::log(s));
  }
  ref /= N;

  const char* isas[] = {"generic", "avx2"};
  for (const char* isa : isas) {
    if (!cpu_supports(std::string(isa) == "avx2" ? Isa::avx2 : Isa::generic)) continue;
    set_isa(isa);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      double tot[2];
      cross_entropy_forward(nullptr, prob.data(), tot, x10.data(), t.data(), nullptr, N, C10, -100, 0.0f);
      check(std::fabs(tot[0] / tot[1] - ref) < 1e-5 * std::fabs(ref) + 1e-6, "cross_entropy 256x10");
      const float one = 1.0f;
      const double ce = median_us(reps, [&] {
        double tt[2];
        cross_entropy_forward(nullptr, prob.data(), tt, x10.data(), t.data(), nullptr, N, C10, -100, 0.0f);
        cross_entropy_backward(d.data(), &one, 0, static_cast<float>(1.0 / tt[1]), prob.data(), t.data(), nullptr, N,
                               C10, -100, 0.0f);
      });
      softmax_forward(y.data(), x1k.data(), N, C1k, 1);
      double s0 = 0;
      for (int64_t c = 0; c < C1k; ++c) s0 += y[c];
      check(std::fabs(s0 - 1) < 1e-5, "softmax row sums to 1");
      const double sm = median_us(reps / 4 + 1, [&] { softmax_forward(y.data(), x1k.data(), N, C1k, 1); });
      const double smb = median_us(reps / 4 + 1, [&] { softmax_backward(d.data(), x1k.data(), y.data(), N, C1k, 1); });
      const double re = median_us(reps / 4 + 1, [&] { relu_forward(y.data(), x1k.data(), N * C1k); });
      const double sg = median_us(reps / 4 + 1, [&] { sigmoid_forward(y.data(), x1k.data(), N * C1k); });
      std::printf("isa=%-7s threads=%d  CE 256x10 fwd+bwd %7.2f us | softmax 256x1000 fwd %7.1f us bwd %7.1f us | "
                  "relu 256x1000 %6.1f us (%5.1f GB/s) | sigmoid 256x1000 %6.1f us\n",
                  isa, threads, ce, sm, smb, re, 2.0 * 4 * N * C1k / re / 1e3, sg);
    }
  }
  return 0;
}
