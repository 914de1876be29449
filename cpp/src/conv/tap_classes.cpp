// Convolutions on small output maps by classes of output positions (tap_classes.h).
#include "tap_classes.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fastdl/gemm.h"
#include "fastdl/parallel.h"
#include "fastdl/scratch.h"

namespace fastdl {
namespace {

// Outputs [o0, o1) along one dimension that all see the kernel taps [t0, t1) inside the input
// (t0 >= t1: none, the outputs see only padding).
struct Run {
  int64_t o0, o1, t0, t1;
};

std::vector<Run> runs(int64_t in, int64_t kernel, int64_t pad, int64_t stride, int64_t out) {
  std::vector<Run> v;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t base = o * stride - pad;  // input index of tap 0
    const int64_t t0 = std::max<int64_t>(0, -base), t1 = std::min<int64_t>(kernel, in - base);
    if (!v.empty() && v.back().t0 == t0 && v.back().t1 == t1)
      v.back().o1 = o + 1;
    else
      v.push_back({o, o + 1, t0, t1});
  }
  return v;
}

// One class: output rows a.o0..a.o1 x columns b.o0..b.o1, taps a.t0..a.t1 x b.t0..b.t1.
struct Class {
  Run a, b;
  int64_t taps() const { return std::max<int64_t>(0, a.t1 - a.t0) * std::max<int64_t>(0, b.t1 - b.t0); }
  int64_t positions() const { return (a.o1 - a.o0) * (b.o1 - b.o0); }
};

std::vector<Class> classes(const Conv2dParams& p) {
  std::vector<Class> v;
  for (const Run& a : runs(p.H, p.R, p.pad_h, p.stride_h, p.P))
    for (const Run& b : runs(p.W, p.S, p.pad_w, p.stride_w, p.Q)) v.push_back({a, b});
  return v;
}

// Images per GEMM of class c: the column and output buffers stay within kChunkFloats. A function
// of the shape only, so the summation order of dw never depends on the thread count.
constexpr int64_t kChunkFloats = int64_t(1) << 18;
// Floats a thread moves per chunk of the copies (gathers, scatters, weight transposes).
constexpr int64_t kMoveGrain = int64_t(1) << 15;
int64_t images_per_chunk(const Conv2dParams& p, const Class& c) {
  const int64_t per_image = (p.C * c.taps() + p.K) * c.positions();
  return std::max<int64_t>(1, std::min(p.N, kChunkFloats / std::max<int64_t>(per_image, 1)));
}

// Calls f(row, n, oh, ow) for every output (n, oh, ow) of the class in images [n0, n0 + nb),
// row = its index among them (the row of the class's matrices), n the absolute image; images
// split between threads (each f touches `width` floats of its row; rows are disjoint).
template <class F>
void for_each_position(const Class& c, int64_t n0, int64_t nb, int64_t width, F f) {
  const int64_t np = c.a.o1 - c.a.o0, nq = c.b.o1 - c.b.o0;
  const int64_t grain = 1 + kMoveGrain / std::max<int64_t>(1, np * nq * width);
  parallel_for(n0, n0 + nb, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      int64_t row = (n - n0) * np * nq;
      for (int64_t oh = c.a.o0; oh < c.a.o1; ++oh)
        for (int64_t ow = c.b.o0; ow < c.b.o1; ++ow) f(row++, n, oh, ow);
    }
  });
}

// colT[row, (r, s, ch)] = x[n, ch, oh*sh - ph + r, ow*sw - pw + s] for the class's live taps
// (tap-major columns, matching the tap-major weights): every read lies inside the input, and
// one row reads one image's C x H x W block, which the small maps keep in L1.
void gather_columns(float* colT, const float* x, const Conv2dParams& p, const Class& c, int64_t n0, int64_t nb) {
  const int64_t HW = p.H * p.W;
  const int64_t T = p.C * c.taps();
  for_each_position(c, n0, nb, T, [&](int64_t row, int64_t n, int64_t oh, int64_t ow) {
    const float* xn = x + n * p.C * HW;
    float* dst = colT + row * T;
    for (int64_t r = c.a.t0; r < c.a.t1; ++r)
      for (int64_t s = c.b.t0; s < c.b.t1; ++s) {
        const float* xp = xn + (oh * p.stride_h - p.pad_h + r) * p.W + ow * p.stride_w - p.pad_w + s;
        for (int64_t ch = 0; ch < p.C; ++ch) *dst++ = xp[ch * HW];
      }
  });
}

// The transpose of gather_columns, added: dx[...] += dcolT[...] (taps overlap in dx).
void scatter_columns(float* dx, const float* dcolT, const Conv2dParams& p, const Class& c, int64_t n0, int64_t nb) {
  const int64_t HW = p.H * p.W;
  const int64_t T = p.C * c.taps();
  for_each_position(c, n0, nb, T, [&](int64_t row, int64_t n, int64_t oh, int64_t ow) {
    float* xn = dx + n * p.C * HW;
    const float* src = dcolT + row * T;
    for (int64_t r = c.a.t0; r < c.a.t1; ++r)
      for (int64_t s = c.b.t0; s < c.b.t1; ++s) {
        float* xp = xn + (oh * p.stride_h - p.pad_h + r) * p.W + ow * p.stride_w - p.pad_w + s;
        for (int64_t ch = 0; ch < p.C; ++ch) xp[ch * HW] += *src++;
      }
  });
}

// The class's weight slice ws (K, taps * C), tap-major columns: ws[k, (r, s, ch)] = w[k, ch, r, s]
// over the class's taps, read straight from the weights: per output channel its C x R x S block
// (in L1) gives one row of ws.
void class_weights(float* ws, const float* w, const Conv2dParams& p, const Class& c) {
  const int64_t RS = p.R * p.S, T = p.C * c.taps();
  parallel_for(0, p.K, 1 + kMoveGrain / std::max<int64_t>(1, p.C * RS), [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const float* src = w + k * p.C * RS;
      float* dst = ws + k * T;
      for (int64_t r = c.a.t0; r < c.a.t1; ++r)
        for (int64_t s = c.b.t0; s < c.b.t1; ++s, dst += p.C)
          for (int64_t ch = 0; ch < p.C; ++ch) dst[ch] = src[ch * RS + r * p.S + s];
    }
  });
}

// The transpose of class_weights, added into the weight gradient: dw[k, ch, r, s] += dws[k, (r, s, ch)].
void add_class_weights(float* dw, const float* dws, const Conv2dParams& p, const Class& c) {
  const int64_t RS = p.R * p.S, T = p.C * c.taps();
  parallel_for(0, p.K, 1 + kMoveGrain / std::max<int64_t>(1, p.C * RS), [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      float* dst = dw + k * p.C * RS;
      const float* src = dws + k * T;
      for (int64_t r = c.a.t0; r < c.a.t1; ++r)
        for (int64_t s = c.b.t0; s < c.b.t1; ++s, src += p.C)
          for (int64_t ch = 0; ch < p.C; ++ch) dst[ch * RS + r * p.S + s] += src[ch];
    }
  });
}

}  // namespace

bool tap_classes_apply(const Conv2dParams& p) {
  // FASTDL_CONV_ENGINE=im2col | direct forces that engine here too (benchmarks and tests).
  if (const char* e = std::getenv("FASTDL_CONV_ENGINE"); e && (!std::strcmp(e, "im2col") || !std::strcmp(e, "direct")))
    return false;
  if (p.groups != 1 || p.dil_h != 1 || p.dil_w != 1 || p.P * p.Q > kTapClassesMaxPositions || p.N == 0) return false;
  int64_t live = 0;
  for (const Class& c : classes(p)) live += c.taps() * c.positions();
  return live < p.R * p.S * p.P * p.Q;  // some tap of some output lies in the padding
}

// Per class, with M = images x class positions and T = C x class taps (row-major matrices):
//   forward          yT (M x K) = colT (M x T) * w_c^T        (w_c: K x T)
//   backward-data    dcolT (M x T) = dyT (M x K) * w_c
//   backward-weights dw_c (K x T) (+)= dyT^T * colT
void tap_classes_forward(float* y, const float* x, const float* w, const float* b, const Conv2dParams& p) {
  const int64_t PQ = p.P * p.Q;
  for (const Class& c : classes(p)) {
    const int64_t T = p.C * c.taps(), nb_max = images_per_chunk(p, c);
    float* ws = T ? scratch(ScratchKey::conv_class_w, p.K * T) : nullptr;
    if (T) class_weights(ws, w, p, c);
    float* colT = scratch(ScratchKey::conv_class_col, (T + p.K) * nb_max * c.positions());
    for (int64_t n0 = 0; n0 < p.N; n0 += nb_max) {
      const int64_t nb = std::min(nb_max, p.N - n0), M = nb * c.positions();
      float* yT = colT + T * M;
      if (T) {
        gather_columns(colT, x, p, c, n0, nb);
        sgemm(false, true, M, p.K, T, 1.0f, colT, T, ws, T, 0.0f, yT, p.K);
      } else {
        std::fill(yT, yT + M * p.K, 0.0f);  // outputs that see only padding: the bias
      }
      for_each_position(c, n0, nb, p.K, [&](int64_t row, int64_t n, int64_t oh, int64_t ow) {
        float* yo = y + n * p.K * PQ + oh * p.Q + ow;
        const float* src = yT + row * p.K;
        for (int64_t k = 0; k < p.K; ++k) yo[k * PQ] = src[k] + (b ? b[k] : 0.0f);
      });
    }
  }
}

void tap_classes_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                          const Conv2dParams& p) {
  const int64_t PQ = p.P * p.Q;
  if (dx) std::fill(dx, dx + p.N * p.C * p.H * p.W, 0.0f);
  if (dw) std::fill(dw, dw + p.K * p.C * p.R * p.S, 0.0f);  // taps no class uses stay zero
  for (const Class& c : classes(p)) {
    const int64_t T = p.C * c.taps(), nb_max = images_per_chunk(p, c);
    if (T == 0) continue;  // no live taps: no gradient flows
    float* ws = dx ? scratch(ScratchKey::conv_class_w, p.K * T) : nullptr;
    if (dx) class_weights(ws, w, p, c);
    const int64_t Mmax = nb_max * c.positions();
    float* colT = scratch(ScratchKey::conv_class_col, (T + p.K) * Mmax + (dw ? p.K * T : 0));
    float* dws = colT + (T + p.K) * Mmax;
    for (int64_t n0 = 0; n0 < p.N; n0 += nb_max) {
      const int64_t nb = std::min(nb_max, p.N - n0), M = nb * c.positions();
      float* dyT = colT + T * M;
      for_each_position(c, n0, nb, p.K, [&](int64_t row, int64_t n, int64_t oh, int64_t ow) {
        const float* src = dy + n * p.K * PQ + oh * p.Q + ow;
        float* dst = dyT + row * p.K;
        for (int64_t k = 0; k < p.K; ++k) dst[k] = src[k * PQ];
      });
      if (dw) {  // chunks in order: the first overwrites dws
        gather_columns(colT, x, p, c, n0, nb);
        sgemm(true, false, p.K, T, M, 1.0f, dyT, p.K, colT, T, n0 == 0 ? 0.0f : 1.0f, dws, T);
      }
      if (dx) {
        sgemm(false, false, M, T, p.K, 1.0f, dyT, p.K, ws, T, 0.0f, colT, T);
        scatter_columns(dx, colT, p, c, n0, nb);
      }
    }
    if (dw) add_class_weights(dw, dws, p, c);  // classes in order: a fixed summation order
  }
}

}  // namespace fastdl
