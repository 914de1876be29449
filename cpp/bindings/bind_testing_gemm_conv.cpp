// Test-only bindings (fastdl._C.testing) reaching each entry of the gemm, linear and conv kernel
// tables directly for a given ISA level: <family>_<entry>(isa, ...). A level the CPU lacks raises
// UnsupportedIsaError. Each call runs one table entry serially on the whole input, so the tile
// edges are exactly the sizes the test passes (gemm_table(isa) gives that table's MR / NR / cache
// blocks, so the tests generate their sizes around the tile of THAT table).
#include <pybind11/stl.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "../src/conv/conv_flat.h"
#include "../src/conv/conv_kernels.h"
#include "../src/gemm/gemm_kernels.h"
#include "../src/linear/linear_kernels.h"
#include "array_check.h"

namespace fastdl {
namespace bind {

using gemm_detail::kPackSlack;
using Pair = std::pair<int64_t, int64_t>;

namespace {

// A 64-byte aligned float buffer (the packed-B panels must be 32-byte aligned), zero-filled,
// with kPackSlack floats past the end a packer or micro-kernel may touch.
struct Aligned {
  std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
  explicit Aligned(int64_t n) {
    const size_t bytes = static_cast<size_t>(numel({n + kPackSlack}, "packed buffer")) * sizeof(float);
    p.reset(static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
    if (!p) throw std::bad_alloc();
    std::memset(p.get(), 0, bytes);
  }
  float* get() const { return p.get(); }
};

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

FArray copy_out(const float* src, const std::vector<int64_t>& shape) {
  FArray out = new_array(shape);
  std::memcpy(out.mutable_data(), src, static_cast<size_t>(out.size()) * sizeof(float));
  return out;
}

void check_positive(int64_t v, const char* op, const char* name) {
  if (v <= 0) fail(std::string(op) + ": " + name + " must be >= 1, got " + std::to_string(v));
}

// op(A) (m x k) read in place: A is (m, k), or (k, m) when trans.
void op_dims(const FArray& a, bool trans, const char* op, const char* name, int64_t* rows, int64_t* cols) {
  check_ndim(a, (std::string(op) + ": " + name).c_str(), {2});
  *rows = trans ? a.shape(1) : a.shape(0);
  *cols = trans ? a.shape(0) : a.shape(1);
}

}  // namespace

static py::dict gemm_table(const std::string& isa) {
  const auto& k = gemm_kernels(parse_isa(isa));
  py::dict d;
  d["mr"] = k.mr;
  d["nr"] = k.nr;
  d["mc"] = k.mc;
  d["kc"] = k.kc;
  d["nc"] = k.nc;
  d["lanes"] = k.lanes;
  return d;
}

// Packed op(X): A (is_a) in ceil(rows / MR) panels of MR x cols, or B in ceil(cols / NR) panels
// of rows x NR, returned flat. X is (rows, cols), or (cols, rows) when trans.
static FArray gemm_pack(const std::string& isa, const FArray& x, bool trans, bool is_a) {
  const auto& k = gemm_kernels(parse_isa(isa));
  const char* op = is_a ? "gemm_pack_a" : "gemm_pack_b";
  int64_t rows, cols;
  op_dims(x, trans, op, is_a ? "a" : "b", &rows, &cols);
  check_positive(rows, op, "rows of op(x)");
  check_positive(cols, op, "columns of op(x)");
  const int64_t n = is_a ? round_up(rows, k.mr) * cols : round_up(cols, k.nr) * rows;
  Aligned buf(n);
  const int64_t rs = trans ? 1 : cols, cs = trans ? rows : 1;
  if (is_a) k.pack_a(rows, cols, x.data(), rs, cs, buf.get());
  else k.pack_b(rows, cols, x.data(), rs, cs, buf.get());
  return copy_out(buf.get(), {n});
}

// The macro-kernel on packed panels: returns alpha * Ap * Bp + beta * c (c is (mc, nc)).
static FArray gemm_macro(const std::string& isa, const FArray& ap, const FArray& bp, const FArray& c, int64_t kc,
                         float alpha, float beta) {
  const auto& k = gemm_kernels(parse_isa(isa));
  check_ndim(c, "gemm_macro: c", {2});
  const int64_t mc = c.shape(0), nc = c.shape(1);
  check_positive(mc, "gemm_macro", "rows of c");
  check_positive(nc, "gemm_macro", "columns of c");
  check_positive(kc, "gemm_macro", "kc");
  check_shape(ap, "gemm_macro: ap", {checked_mul(round_up(mc, k.mr), kc, "ap size")});
  check_shape(bp, "gemm_macro: bp", {checked_mul(round_up(nc, k.nr), kc, "bp size")});
  Aligned a(ap.size()), b(bp.size()), out(c.size());
  std::memcpy(a.get(), ap.data(), static_cast<size_t>(ap.size()) * sizeof(float));
  std::memcpy(b.get(), bp.data(), static_cast<size_t>(bp.size()) * sizeof(float));
  std::memcpy(out.get(), c.data(), static_cast<size_t>(c.size()) * sizeof(float));
  k.macro(mc, nc, kc, a.get(), b.get(), out.get(), nc, alpha, beta);
  return copy_out(out.get(), {mc, nc});
}

// The direct (unpacked) kernel: alpha * op(A) * B + beta * c, A read in place through its strides.
static FArray gemm_direct(const std::string& isa, const FArray& a, const FArray& b, const FArray& c, float alpha,
                          float beta, bool trans_a) {
  const auto& k = gemm_kernels(parse_isa(isa));
  int64_t M, K;
  op_dims(a, trans_a, "gemm_direct", "a", &M, &K);
  check_ndim(b, "gemm_direct: b", {2});
  const int64_t N = b.shape(1);
  check_shape(b, "gemm_direct: b", {K, N});
  check_positive(K, "gemm_direct", "columns of op(a)");
  check_shape(c, "gemm_direct: c", {M, N});
  FArray out = copy_out(c.data(), {M, N});
  if (M > 0 && N > 0)
    k.direct(M, N, K, a.data(), trans_a ? 1 : K, trans_a ? M : 1, b.data(), N, out.mutable_data(), N, alpha, beta);
  return out;
}

// The dot kernel (few columns): alpha * A * op(B) + beta * c, A (M, K) read in place; B is
// (K, N), transposed by the kernel into a workspace, or (N, K) used in place when trans_b.
static FArray gemm_dot(const std::string& isa, const FArray& a, const FArray& b, const FArray& c, float alpha,
                       float beta, bool trans_b) {
  const auto& k = gemm_kernels(parse_isa(isa));
  check_ndim(a, "gemm_dot: a", {2});
  const int64_t M = a.shape(0), K = a.shape(1);
  int64_t Kb, N;
  op_dims(b, trans_b, "gemm_dot", "b", &Kb, &N);
  check_shape(b, "gemm_dot: b", trans_b ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N});
  check_positive(K, "gemm_dot", "columns of a");
  check_shape(c, "gemm_dot: c", {M, N});
  FArray out = copy_out(c.data(), {M, N});
  Aligned work(trans_b ? 0 : N * K);
  if (M > 0 && N > 0)
    k.dot(M, N, K, a.data(), K, b.data(), trans_b ? 1 : N, trans_b ? K : 1, work.get(), out.mutable_data(), N,
          alpha, beta);
  return out;
}

static FArray linear_sum_rows(const std::string& isa, const FArray& x) {
  const auto& k = linear_kernels(parse_isa(isa));
  check_ndim(x, "linear_sum_rows: x", {2});
  const int64_t M = x.shape(0), N = x.shape(1);
  FArray out = zeros({N});
  k.sum_rows(out.mutable_data(), x.data(), M, N, 0, N);
  return out;
}

// One image, one group: x (C, H, W) <-> col (C*R*S, P*Q).
static Conv2dParams conv_params(const char* op, const std::vector<int64_t>& xs, Pair kernel, Pair stride,
                                Pair padding, Pair dilation) {
  if (xs.size() != 3) fail(std::string(op) + ": input shape must be (C, H, W), got " + shape_str(xs));
  try {
    return make_conv2d_params(1, xs[0], xs[1], xs[2], 1, xs[0], kernel.first, kernel.second, stride.first,
                              stride.second, padding.first, padding.second, dilation.first, dilation.second, 1);
  } catch (const ArgumentError& e) {
    fail(std::string(op) + ": " + e.what());
  }
}

static FArray conv_im2col(const std::string& isa, const FArray& x, Pair kernel, Pair stride, Pair padding,
                          Pair dilation) {
  const auto& k = conv_kernels(parse_isa(isa));
  const Conv2dParams p = conv_params("conv_im2col", shape_of(x), kernel, stride, padding, dilation);
  FArray col = zeros({p.col_rows, p.col_cols});
  if (col.size() > 0) k.im2col(col.mutable_data(), x.data(), p, p.col_cols);
  return col;
}

static FArray conv_col2im(const std::string& isa, const FArray& col, const std::vector<int64_t>& input_shape,
                          Pair kernel, Pair stride, Pair padding, Pair dilation) {
  const auto& k = conv_kernels(parse_isa(isa));
  for (int64_t d : input_shape)
    if (d < 0) fail("conv_col2im: negative size in input_shape " + shape_str(input_shape));
  const Conv2dParams p = conv_params("conv_col2im", input_shape, kernel, stride, padding, dilation);
  check_shape(col, "conv_col2im: col", {p.col_rows, p.col_cols});
  FArray dx = zeros(input_shape);
  if (dx.size() > 0) k.col2im(dx.mutable_data(), col.data(), p, p.col_cols);
  return dx;
}

// One image, one group: dw (K, C, R, S) = beta * dw + the weight gradient of dy (K, P, Q)
// against x (C, H, W) through the conv table's dw_small (stride_w must be 1).
static FArray conv_dw_small(const std::string& isa, const FArray& dy, const FArray& x, const FArray& dw, Pair stride,
                            Pair padding, Pair dilation, float beta) {
  const auto& k = conv_kernels(parse_isa(isa));
  check_ndim(dy, "conv_dw_small: dy", {3});
  check_ndim(x, "conv_dw_small: x", {3});
  check_ndim(dw, "conv_dw_small: dw", {4});
  if (stride.second != 1) fail("conv_dw_small: stride_w must be 1, got " + std::to_string(stride.second));
  if (beta != 0.0f && beta != 1.0f) fail("conv_dw_small: beta must be 0 or 1, got " + std::to_string(beta));
  Conv2dParams p;
  try {
    p = make_conv2d_params(1, x.shape(0), x.shape(1), x.shape(2), dw.shape(0), dw.shape(1), dw.shape(2), dw.shape(3),
                           stride.first, stride.second, padding.first, padding.second, dilation.first,
                           dilation.second, 1);
  } catch (const ArgumentError& e) {
    fail(std::string("conv_dw_small: ") + e.what());
  }
  check_shape(dy, "conv_dw_small: dy", {p.K, p.P, p.Q});
  FArray out = copy_out(dw.data(), shape_of(dw));
  Aligned pad(dw_small_pad_floats(p));
  if (out.size() > 0) k.dw_small(out.mutable_data(), beta, dy.data(), x.data(), p, pad.get());
  return out;
}

// The flat engine with the table of `isa`: the forward y = conv(x, w) + b of x (N, C, H, W), or
// (backward_data) dx (N, C, H, W) from dy (N, K, P, Q), stride 1, groups 1.
static FArray conv_flat(const std::string& isa, const FArray& x, const FArray& w, const std::optional<FArray>& b,
                        Pair padding, Pair dilation, bool backward_data, Pair input_hw) {
  const auto& k = conv_kernels(parse_isa(isa));
  check_ndim(x, "conv_flat: x", {4});
  check_ndim(w, "conv_flat: w", {4});
  const int64_t N = x.shape(0), K = w.shape(0), C = w.shape(1);
  const int64_t H = backward_data ? input_hw.first : x.shape(2), W = backward_data ? input_hw.second : x.shape(3);
  Conv2dParams p;
  try {
    p = make_conv2d_params(N, C, H, W, K, C, w.shape(2), w.shape(3), 1, 1, padding.first, padding.second,
                           dilation.first, dilation.second, 1);
  } catch (const ArgumentError& e) {
    fail(std::string("conv_flat: ") + e.what());
  }
  if (backward_data) {
    check_shape(x, "conv_flat: dy", {N, K, p.P, p.Q});
    if (!conv_flat_dx_supported(p)) fail("conv_flat: backward_data needs padding <= dilation * (kernel - 1)");
    FArray dx = new_array({N, C, H, W});
    if (N > 0) conv_flat_backward_data(k, dx.mutable_data(), x.data(), w.data(), p);
    return dx;
  }
  check_shape(x, "conv_flat: x", {N, C, H, W});
  if (b) check_shape(*b, "conv_flat: b", {K});
  FArray y = new_array({N, K, p.P, p.Q});
  if (N > 0) conv_flat_forward(k, y.mutable_data(), x.data(), w.data(), b ? b->data() : nullptr, p);
  return y;
}

// The flat engine's weight gradient with the table of `isa`: dw (K, C, R, S) from dy (N, K, P, Q)
// and x (N, C, H, W), stride 1, groups 1.
static FArray conv_flat_dw(const std::string& isa, const FArray& dy, const FArray& x, Pair kernel, Pair padding,
                           Pair dilation) {
  const auto& k = conv_kernels(parse_isa(isa));
  check_ndim(dy, "conv_flat_dw: dy", {4});
  check_ndim(x, "conv_flat_dw: x", {4});
  Conv2dParams p;
  try {
    p = make_conv2d_params(x.shape(0), x.shape(1), x.shape(2), x.shape(3), dy.shape(1), x.shape(1), kernel.first,
                           kernel.second, 1, 1, padding.first, padding.second, dilation.first, dilation.second, 1);
  } catch (const ArgumentError& e) {
    fail(std::string("conv_flat_dw: ") + e.what());
  }
  check_shape(dy, "conv_flat_dw: dy", {p.N, p.K, p.P, p.Q});
  FArray dw = new_array({p.K, p.C, p.R, p.S});
  if (p.N > 0) conv_flat_backward_weights(k, dw.mutable_data(), dy.data(), x.data(), p);
  else std::memset(dw.mutable_data(), 0, sizeof(float) * static_cast<size_t>(dw.size()));
  return dw;
}

void bind_testing_gemm_conv(py::module_& t) {
  t.def("conv_flat_dw", &conv_flat_dw, py::arg("isa"), py::arg("dy"), py::arg("x"), py::arg("kernel"),
        py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1});
  t.def("conv_flat", &conv_flat, py::arg("isa"), py::arg("x"), py::arg("w"), py::arg("b") = py::none(),
        py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("backward_data") = false,
        py::arg("input_hw") = Pair{0, 0});
  t.def("gemm_table", &gemm_table, py::arg("isa"), "The table's register tile and cache blocks: {mr, nr, mc, kc, nc}.");
  t.def("gemm_pack_a", [](const std::string& isa, const FArray& a, bool trans) { return gemm_pack(isa, a, trans, true); },
        py::arg("isa"), py::arg("a"), py::arg("trans") = false);
  t.def("gemm_pack_b", [](const std::string& isa, const FArray& b, bool trans) { return gemm_pack(isa, b, trans, false); },
        py::arg("isa"), py::arg("b"), py::arg("trans") = false);
  t.def("gemm_macro", &gemm_macro, py::arg("isa"), py::arg("ap"), py::arg("bp"), py::arg("c"), py::arg("kc"),
        py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f);
  t.def("gemm_direct", &gemm_direct, py::arg("isa"), py::arg("a"), py::arg("b"), py::arg("c"), py::arg("alpha") = 1.0f,
        py::arg("beta") = 0.0f, py::arg("trans_a") = false);
  t.def("gemm_dot", &gemm_dot, py::arg("isa"), py::arg("a"), py::arg("b"), py::arg("c"), py::arg("alpha") = 1.0f,
        py::arg("beta") = 0.0f, py::arg("trans_b") = false);
  t.def("linear_sum_rows", &linear_sum_rows, py::arg("isa"), py::arg("x"));
  t.def("conv_dw_small", &conv_dw_small, py::arg("isa"), py::arg("dy"), py::arg("x"), py::arg("dw"),
        py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1},
        py::arg("beta") = 0.0f);
  t.def("conv_im2col", &conv_im2col, py::arg("isa"), py::arg("x"), py::arg("kernel"), py::arg("stride") = Pair{1, 1},
        py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1});
  t.def("conv_col2im", &conv_col2im, py::arg("isa"), py::arg("col"), py::arg("input_shape"), py::arg("kernel"),
        py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1});
}

}  // namespace bind
}  // namespace fastdl
