// Pooling forward / backward microbenchmark (GB/s of bytes read + written), verified first
// against naive loops.  Usage: bench_pool [reps]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "fastdl/cpu.h"
#include "harness.h"
#include "fastdl/parallel.h"
#include "fastdl/pool.h"

using namespace fastdl;

namespace {

struct Case {
  const char* name;
  char op;  // 'm' max, 'a' avg, 'g' global adaptive average
  int64_t N, C, H, W, k, s, pad;
};

// Naive checks of the forward outputs and of the backward sums.
bool verify(const Case& c, const Pool2dParams& p, const std::vector<float>& x, const std::vector<float>& y,
            const std::vector<int64_t>& idx, const std::vector<float>& dy, const std::vector<float>& dx) {
  double worst = 0;
  for (int64_t i = 0; i < p.NC; ++i)
    for (int64_t oh = 0; oh < p.P; ++oh)
      for (int64_t ow = 0; ow < p.Q; ++ow) {
        double m = -INFINITY, sum = 0;
        int64_t cnt = 0;
        for (int64_t r = 0; r < p.kh; ++r)
          for (int64_t s = 0; s < p.kw; ++s) {
            const int64_t ih = oh * p.sh - p.ph + r, iw = ow * p.sw - p.pw + s;
            if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
            const double v = x[(i * p.H + ih) * p.W + iw];
            m = std::max(m, v);
            sum += v;
            ++cnt;
          }
        const int64_t o = (i * p.P + oh) * p.Q + ow;
        const double want = c.op == 'm' ? m : sum / double(c.op == 'g' ? cnt : p.kh * p.kw);
        worst = std::max(worst, std::abs(y[o] - want));
        if (c.op == 'm' && x[i * p.H * p.W + idx[o]] != y[o]) worst = 1e9;
      }
  // backward: the total gradient is preserved (max: sum dy; avg with count_include_pad and no
  // clipped windows: sum dy too)
  double sdy = 0, sdx = 0;
  for (float v : dy) sdy += v;
  for (float v : dx) sdx += v;
  const double bwd = std::abs(sdy - sdx) / (1.0 + std::abs(sdy));
  if (worst > 1e-5 || bwd > 1e-4) std::printf("  VERIFY FAILED %s: fwd err %.3g, bwd sum err %.3g\n", c.name, worst, bwd);
  return worst <= 1e-5 && bwd <= 1e-4;
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  const Case cases[] = {
      {"max 2x2 256x6x28x28", 'm', 256, 6, 28, 28, 2, 2, 0},   {"avg 2x2 256x6x28x28", 'a', 256, 6, 28, 28, 2, 2, 0},
      {"max 2x2 256x16x10x10", 'm', 256, 16, 10, 10, 2, 2, 0}, {"max 3x3/2 32x64x28x28", 'm', 32, 64, 28, 28, 3, 2, 1},
      {"max 2x2 32x64x28x28", 'm', 32, 64, 28, 28, 2, 2, 0},   {"avg 2x2 32x128x14x14", 'a', 32, 128, 14, 14, 2, 2, 0},
      {"global avg 32x256x7x7", 'g', 32, 256, 7, 7, 7, 7, 0},
  };
  std::printf("bench_pool: isa=%s threads=%d reps=%d (median)\n", isa_name(active_isa()), get_num_threads(), reps);
  std::printf("%-28s %10s %9s %10s %9s\n", "case", "fwd ms", "GB/s", "bwd ms", "GB/s");
  std::mt19937 gen(7);
  std::normal_distribution<float> d;
  int failures = 0;
  for (const Case& c : cases) {
    const Pool2dParams p = make_pool2d_params("bench", c.N * c.C, c.H, c.W, c.k, c.k, c.s, c.s, c.pad, c.pad, 1, 1,
                                              false);
    std::vector<float> x(p.NC * p.H * p.W), y(p.NC * p.P * p.Q), dy(y.size()), dx(x.size());
    std::vector<int64_t> idx(y.size());
    for (auto& v : x) v = d(gen);
    for (auto& v : dy) v = d(gen);
    auto fwd = [&] {
      if (c.op == 'm') max_pool2d_forward(y.data(), idx.data(), x.data(), p);
      else if (c.op == 'a') avg_pool2d_forward(y.data(), x.data(), p, true, 0);
      else adaptive_avg_pool2d_forward(y.data(), x.data(), p.NC, p.H, p.W, 1, 1);
    };
    auto bwd = [&] {
      if (c.op == 'm') max_pool2d_backward(dx.data(), dy.data(), idx.data(), p);
      else if (c.op == 'a') avg_pool2d_backward(dx.data(), dy.data(), p, true, 0);
      else adaptive_avg_pool2d_backward(dx.data(), dy.data(), p.NC, p.H, p.W, 1, 1);
    };
    fwd();
    bwd();
    if (!verify(c, p, x, y, idx, dy, dx)) {
      ++failures;
      continue;
    }
    const double ix = c.op == 'm' ? 8.0 * y.size() : 0.0;  // int64 indices written / read
    const double fbytes = 4.0 * (x.size() + y.size()) + ix, bbytes = 4.0 * (dy.size() + dx.size()) + ix;
    const double tf = bench::median_seconds(reps, fwd), tb = bench::median_seconds(reps, bwd);
    std::printf("%-28s %10.3f %9.1f %10.3f %9.1f\n", c.name, tf * 1e3, fbytes / tf / 1e9, tb * 1e3, bbytes / tb / 1e9);
  }
  return failures ? 1 : 0;
}
