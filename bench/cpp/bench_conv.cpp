// conv2d forward / backward microbenchmark (GFLOP/s), verified first against a naive direct
// convolution in double precision on a 2-image batch of each layer.
// Usage: bench_conv [reps] [engines]   (threads from OMP_NUM_THREADS / fastdl::set_num_threads)
// engines: comma-separated of auto (conv2d's own per-layer choice), im2col, direct (forced through
// FASTDL_CONV_ENGINE; direct computes dx with im2col where it cannot: stride 2); default all three.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "fastdl/conv.h"
#include "fastdl/cpu.h"
#include "harness.h"
#include "fastdl/parallel.h"

using namespace fastdl;

namespace {

struct Layer {
  const char* name;
  int64_t N, C, K, H, W, R, stride, pad;
};

std::vector<float> randn(size_t n, std::mt19937& g) {
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Naive direct convolution and its gradients in double (groups = 1, square params).
bool verify(const Layer& L, std::mt19937& gen) {
  const Conv2dParams p = make_conv2d_params(2, L.C, L.H, L.W, L.K, L.C, L.R, L.R, L.stride, L.stride, L.pad, L.pad,
                                            1, 1, 1);
  auto x = randn(p.N * p.C * p.H * p.W, gen), w = randn(p.K * p.C * p.R * p.S, gen), b = randn(p.K, gen);
  auto dy = randn(p.N * p.K * p.P * p.Q, gen);
  std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
  conv2d_forward(y.data(), x.data(), w.data(), b.data(), p);
  conv2d_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), p);
  std::vector<double> ry(y.size()), rdx(x.size(), 0.0), rdw(w.size(), 0.0), rdb(b.size(), 0.0);
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t oh = 0; oh < p.P; ++oh)
        for (int64_t ow = 0; ow < p.Q; ++ow) {
          const int64_t o = ((n * p.K + k) * p.P + oh) * p.Q + ow;
          double acc = b[k];
          rdb[k] += dy[o];
          for (int64_t c = 0; c < p.C; ++c)
            for (int64_t r = 0; r < p.R; ++r)
              for (int64_t s = 0; s < p.S; ++s) {
                const int64_t ih = oh * p.stride_h - p.pad_h + r, iw = ow * p.stride_w - p.pad_w + s;
                if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                const int64_t xi = ((n * p.C + c) * p.H + ih) * p.W + iw, wi = ((k * p.C + c) * p.R + r) * p.S + s;
                acc += double(w[wi]) * x[xi];
                rdx[xi] += double(w[wi]) * dy[o];
                rdw[wi] += double(x[xi]) * dy[o];
              }
          ry[o] = acc;
        }
  auto check = [](const char* what, const std::vector<float>& got, const std::vector<double>& want, double tol) {
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]) / (1.0 + std::abs(want[i])));
    if (worst > tol) std::printf("  VERIFY FAILED %s: max rel err %.3g\n", what, worst);
    return worst <= tol;
  };
  const double tol = 1e-5 * std::sqrt(double(p.C * p.R * p.S + p.N * p.P * p.Q));
  return check("y", y, ry, tol) & check("dx", dx, rdx, tol) & check("dw", dw, rdw, tol) & check("db", db, rdb, tol);
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  const Layer layers[] = {
      {"lenet conv1 1->6 5x5 p2 @28 N256", 256, 1, 6, 28, 28, 5, 1, 2},
      {"lenet conv2 6->16 5x5 @14 N256", 256, 6, 16, 14, 14, 5, 1, 0},
      {"3x3 64->64 @28 N32", 32, 64, 64, 28, 28, 3, 1, 1},
      {"3x3 128->128 @14 N32", 32, 128, 128, 14, 14, 3, 1, 1},
      {"3x3 256->256 @7 N32", 32, 256, 256, 7, 7, 3, 1, 1},
      {"1x1 256->64 @14 N32", 32, 256, 64, 14, 14, 1, 1, 0},
      {"3x3/2 64->128 @28 N32", 32, 64, 128, 28, 28, 3, 2, 1},
      {"nin 5x5 96->256 p2 @12 N32", 32, 96, 256, 12, 12, 5, 1, 2},
  };
  const std::string engines = argc > 2 ? argv[2] : "auto,im2col,direct";
  std::printf("bench_conv: isa=%s threads=%d reps=%d (median)\n", isa_name(active_isa()), get_num_threads(), reps);
  std::printf("%-36s %-7s %10s %9s %10s %9s %10s %9s\n", "layer", "engine", "fwd ms", "GF/s", "bwd ms", "GF/s", "fwd+bwd", "GF/s");
  std::mt19937 gen(42);
  int failures = 0;
  for (const Layer& L : layers)
  for (const char* engine : {"auto", "im2col", "direct"}) {
    if (engines.find(engine) == std::string::npos) continue;
    if (std::string(engine) == "auto") unsetenv("FASTDL_CONV_ENGINE");
    else setenv("FASTDL_CONV_ENGINE", engine, 1);
    if (!verify(L, gen)) {
      ++failures;
      continue;
    }
    const Conv2dParams p = make_conv2d_params(L.N, L.C, L.H, L.W, L.K, L.C, L.R, L.R, L.stride, L.stride, L.pad,
                                              L.pad, 1, 1, 1);
    auto x = randn(p.N * p.C * p.H * p.W, gen), w = randn(p.K * p.C * p.R * p.S, gen), b = randn(p.K, gen);
    auto dy = randn(p.N * p.K * p.P * p.Q, gen);
    std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
    const double flops = 2.0 * p.N * p.K * p.C * p.R * p.S * p.P * p.Q;
    const double tf = bench::median_seconds(reps, [&] { conv2d_forward(y.data(), x.data(), w.data(), b.data(), p); });
    const double tb = bench::median_seconds(reps, [&] {
      conv2d_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), p);
    });
    std::printf("%-36s %-7s %10.3f %9.1f %10.3f %9.1f %10.3f %9.1f\n", L.name, engine, tf * 1e3, flops / tf / 1e9, tb * 1e3,
                2 * flops / tb / 1e9, (tf + tb) * 1e3, 3 * flops / (tf + tb) / 1e9);
  }
  return failures ? 1 : 0;
}
