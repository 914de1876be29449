// Softmax / log-softmax: dispatch (threads + ISA) and the portable generic path.
#include "fastdl/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "fastdl/cpu.h"
#include "fastdl/parallel.h"

namespace fastdl {
namespace generic {

void softmax_rows(bool log, float* y, const float* x, int64_t rows, int64_t C) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < C; ++c) m = xr[c] > m ? xr[c] : m;
    double s = 0.0;  // double: the scalar path sums C terms in one chain
    if (log) {
      for (int64_t c = 0; c < C; ++c) s += std::exp(xr[c] - m);
      const float ls = static_cast<float>(std::log(s));
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) - ls;
    } else {
      for (int64_t c = 0; c < C; ++c) {
        const float e = std::exp(xr[c] - m);
        yr[c] = e;
        s += e;
      }
      const float inv = static_cast<float>(1.0 / s);
      for (int64_t c = 0; c < C; ++c) yr[c] *= inv;
    }
  }
}

void softmax_cols(bool log, float* y, const float* x, int64_t C, int64_t nc, int64_t ld) {
  float m[kSoftmaxColBlock];
  double s[kSoftmaxColBlock];
  for (int64_t j = 0; j < nc; ++j) {
    m[j] = -std::numeric_limits<float>::infinity();
    s[j] = 0.0;
  }
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < nc; ++j) m[j] = x[c * ld + j] > m[j] ? x[c * ld + j] : m[j];
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < nc; ++j) {
      const float e = std::exp(x[c * ld + j] - m[j]);
      if (!log) y[c * ld + j] = e;
      s[j] += e;
    }
  float f[kSoftmaxColBlock];
  if (log) {
    for (int64_t j = 0; j < nc; ++j) f[j] = static_cast<float>(std::log(s[j]));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < nc; ++j) y[c * ld + j] = (x[c * ld + j] - m[j]) - f[j];
  } else {
    for (int64_t j = 0; j < nc; ++j) f[j] = static_cast<float>(1.0 / s[j]);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < nc; ++j) y[c * ld + j] *= f[j];
  }
}

void softmax_backward_rows(bool log, float* dx, const float* dy, const float* y, int64_t rows, int64_t C) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dy + r * C;
    const float* yr = y + r * C;
    float* d = dx + r * C;
    double acc = 0.0;
    if (log) {
      for (int64_t c = 0; c < C; ++c) acc += g[c];
      const float s = static_cast<float>(acc);
      for (int64_t c = 0; c < C; ++c) d[c] = g[c] - std::exp(yr[c]) * s;
    } else {
      for (int64_t c = 0; c < C; ++c) acc += static_cast<double>(g[c]) * yr[c];
      const float s = static_cast<float>(acc);
      for (int64_t c = 0; c < C; ++c) d[c] = yr[c] * (g[c] - s);
    }
  }
}

void softmax_backward_cols(bool log, float* dx, const float* dy, const float* y, int64_t C, int64_t nc, int64_t ld) {
  float s[kSoftmaxColBlock];
  for (int64_t j = 0; j < nc; ++j) s[j] = 0.0f;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < nc; ++j) s[j] += log ? dy[c * ld + j] : dy[c * ld + j] * y[c * ld + j];
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < nc; ++j) {
      const int64_t k = c * ld + j;
      dx[k] = log ? dy[k] - std::exp(y[k]) * s[j] : y[k] * (dy[k] - s[j]);
    }
}

}  // namespace generic

namespace {

// Rows (inner == 1) are split over threads; otherwise (outer x column-block) tasks are. A task
// below ~4096 values (~20 us of exp work) is not worth a second thread.
template <class Rows, class Cols>
void run(int64_t outer, int64_t C, int64_t inner, Rows rows, Cols cols) {
  if (outer <= 0 || C <= 0 || inner <= 0) return;
  if (inner == 1) {
    parallel_for(0, outer, std::max<int64_t>(1, 4096 / C), [&](int64_t lo, int64_t hi) { rows(lo, hi); });
    return;
  }
  const int64_t nb = (inner + kSoftmaxColBlock - 1) / kSoftmaxColBlock;
  const int64_t per_task = C * std::min(inner, kSoftmaxColBlock);
  parallel_for(0, outer * nb, std::max<int64_t>(1, 4096 / per_task), [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t o = t / nb, j0 = (t % nb) * kSoftmaxColBlock;
      cols(o * C * inner + j0, std::min(kSoftmaxColBlock, inner - j0));
    }
  });
}

void forward(bool log, float* y, const float* x, int64_t outer, int64_t C, int64_t inner) {
  [[maybe_unused]] const bool v = use_avx2();
  run(
      outer, C, inner,
      [&](int64_t lo, int64_t hi) {
#ifdef FASTDL_HAVE_AVX2
        if (v) return avx2::softmax_rows(log, y + lo * C, x + lo * C, hi - lo, C);
#endif
        generic::softmax_rows(log, y + lo * C, x + lo * C, hi - lo, C);
      },
      [&](int64_t off, int64_t nc) {
#ifdef FASTDL_HAVE_AVX2
        if (v) return avx2::softmax_cols(log, y + off, x + off, C, nc, inner);
#endif
        generic::softmax_cols(log, y + off, x + off, C, nc, inner);
      });
}

void backward(bool log, float* dx, const float* dy, const float* y, int64_t outer, int64_t C, int64_t inner) {
  [[maybe_unused]] const bool v = use_avx2();
  run(
      outer, C, inner,
      [&](int64_t lo, int64_t hi) {
#ifdef FASTDL_HAVE_AVX2
        if (v) return avx2::softmax_backward_rows(log, dx + lo * C, dy + lo * C, y + lo * C, hi - lo, C);
#endif
        generic::softmax_backward_rows(log, dx + lo * C, dy + lo * C, y + lo * C, hi - lo, C);
      },
      [&](int64_t off, int64_t nc) {
#ifdef FASTDL_HAVE_AVX2
        if (v) return avx2::softmax_backward_cols(log, dx + off, dy + off, y + off, C, nc, inner);
#endif
        generic::softmax_backward_cols(log, dx + off, dy + off, y + off, C, nc, inner);
      });
}

}  // namespace

void softmax_forward(float* y, const float* x, int64_t outer, int64_t C, int64_t inner) {
  forward(false, y, x, outer, C, inner);
}
void log_softmax_forward(float* y, const float* x, int64_t outer, int64_t C, int64_t inner) {
  forward(true, y, x, outer, C, inner);
}
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t C, int64_t inner) {
  backward(false, dx, dy, y, outer, C, inner);
}
void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t C, int64_t inner) {
  backward(true, dx, dy, y, outer, C, inner);
}

}  // namespace fastdl
