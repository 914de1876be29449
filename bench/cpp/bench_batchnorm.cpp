// BatchNorm (+ fused ReLU) kernels: training forward, backward and eval forward on typical CNN
// activations, generic and AVX2 paths. Verifies each kernel against a naive float64 loop first,
// then reports the median time and the effective bandwidth counted with the minimal traffic
// (forward: read x, write y = 8 B/elem; backward: read dy and x, write dx = 12 B/elem).
// Usage: bench_batchnorm [--quick]     Threads: OMP_NUM_THREADS / FASTDL_NUM_THREADS.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fastdl/batchnorm.h"
#include "fastdl/cpu.h"
#include "harness.h"
#include "fastdl/parallel.h"

namespace {

void fill(std::vector<float>& v, unsigned seed, float scale, float shift) {
  unsigned x = seed * 2654435761u + 12345u;
  for (auto& e : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    e = (static_cast<float>(x >> 8) * (2.0f / 16777216.0f) - 1.0f) * scale + shift;
  }
}

// Naive float64 check of forward (y, mean, rstd) and backward (dx, dw, db); returns max rel. error.
double verify(int64_t N, int64_t C, int64_t S, bool relu) {
  const int64_t n = N * C * S;
  std::vector<float> x(n), dy(n), y(n), dx(n), w(C), b(C), m(C), r(C), dw(C), db(C);
  fill(x, 1, 2.0f, 0.5f);
  fill(dy, 2, 1.0f, 0.0f);
  fill(w, 3, 0.5f, 1.0f);
  fill(b, 4, 0.5f, 0.0f);
  fastdl::batch_norm_forward_train(y.data(), m.data(), r.data(), nullptr, nullptr, x.data(), w.data(), b.data(), N,
                                   C, S, 1e-5f, 0.1f, relu);
  fastdl::batch_norm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), b.data(), m.data(),
                              r.data(), N, C, S, true, relu);
  double worst = 0;
  const double M = static_cast<double>(N * S);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < S; ++k) s += x[(i * C + c) * S + k];
    const double mean = s / M;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < S; ++k) ss += std::pow(x[(i * C + c) * S + k] - mean, 2);
    const double rstd = 1.0 / std::sqrt(ss / M + 1e-5);
    double sdy = 0, sdyx = 0;
    std::vector<double> e(N * S);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < S; ++k) {
        const int64_t j = (i * C + c) * S + k;
        const double xh = (x[j] - mean) * rstd, yy = xh * w[c] + b[c];
        const double want = relu ? std::max(yy, 0.0) : yy;
        worst = std::max(worst, std::fabs(want - y[j]) / (1.0 + std::fabs(want)));
        e[i * S + k] = (!relu || yy > 0) ? dy[j] : 0.0;
        sdy += e[i * S + k];
        sdyx += e[i * S + k] * xh;
      }
    worst = std::max(worst, std::fabs(sdy - db[c]) / (1.0 + std::fabs(sdy)));
    worst = std::max(worst, std::fabs(sdyx - dw[c]) / (1.0 + std::fabs(sdyx)));
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < S; ++k) {
        const int64_t j = (i * C + c) * S + k;
        const double xh = (x[j] - mean) * rstd;
        const double want = w[c] * rstd / M * (M * e[i * S + k] - sdy - xh * sdyx);
        worst = std::max(worst, std::fabs(want - dx[j]) / (1.0 + std::fabs(want)));
      }
  }
  return worst;
}

struct Shape {
  const char* name;
  int64_t N, C, S;
};

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int reps = quick ? 5 : 21;
  const Shape shapes[] = {
      {"lenet_bn conv1 out (256,6,24,24)", 256, 6, 576},
      {"resnet stage1 (64,64,7,7)", 64, 64, 49},
      {"resnet 3x3 64ch 28x28 (32,64,28,28)", 32, 64, 784},
      {"resnet 128ch 14x14 (32,128,14,14)", 32, 128, 196},
      {"resnet stage4 (64,512,1,1)", 64, 512, 1},
      {"lenet_bn fc (256,120)", 256, 120, 1},
  };
  std::printf("threads=%d\n", fastdl::get_num_threads());
  for (const char* isa : {"generic", "avx2"}) {
    if (!fastdl::cpu_supports(std::strcmp(isa, "avx2") == 0 ? fastdl::Isa::avx2 : fastdl::Isa::generic)) continue;
    fastdl::set_isa(isa);
    // verify first (both decompositions, with and without ReLU)
    for (bool relu : {false, true}) {
      const double e1 = verify(5, 7, 33, relu), e2 = verify(9, 6, 3, relu);
      if (e1 > 1e-5 || e2 > 1e-5) {
        std::printf("VERIFY FAILED isa=%s relu=%d: %g %g\n", isa, relu, e1, e2);
        return 1;
      }
    }
    std::printf("isa=%s (verified)\n", isa);
    std::printf("%-40s %6s %12s %9s %12s %9s %12s %9s\n", "shape", "relu", "fwd-train us", "GB/s", "backward us",
                "GB/s", "fwd-eval us", "GB/s");
    for (const Shape& s : shapes) {
      const int64_t n = s.N * s.C * s.S;
      std::vector<float> x(n), dy(n), y(n), dx(n), w(s.C), b(s.C), m(s.C), r(s.C), dw(s.C), db(s.C), rm(s.C, 0.f),
          rv(s.C, 1.f);
      fill(x, 1, 2.0f, 0.5f);
      fill(dy, 2, 1.0f, 0.0f);
      fill(w, 3, 0.5f, 1.0f);
      fill(b, 4, 0.5f, 0.0f);
      for (bool relu : {false, true}) {
        const double tf = bench::median_seconds(reps, [&] {
          fastdl::batch_norm_forward_train(y.data(), m.data(), r.data(), rm.data(), rv.data(), x.data(), w.data(),
                                           b.data(), s.N, s.C, s.S, 1e-5f, 0.1f, relu);
        });
        const double tb = bench::median_seconds(reps, [&] {
          fastdl::batch_norm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), b.data(),
                                      m.data(), r.data(), s.N, s.C, s.S, true, relu);
        });
        const double te = bench::median_seconds(reps, [&] {
          fastdl::batch_norm_forward_eval(y.data(), m.data(), r.data(), x.data(), w.data(), b.data(), rm.data(),
                                          rv.data(), s.N, s.C, s.S, 1e-5f, relu);
        });
        const double bytes = static_cast<double>(n) * 4;
        std::printf("%-40s %6d %12.1f %9.1f %12.1f %9.1f %12.1f %9.1f\n", s.name, relu, tf * 1e6, 2 * bytes / tf * 1e-9,
                    tb * 1e6, 3 * bytes / tb * 1e-9, te * 1e6, 2 * bytes / te * 1e-9);
      }
    }
  }
  return 0;
}
