// Test-only bindings (fastdl._C.testing) reaching each entry of the pool and batchnorm kernel
// tables directly for a given ISA level: <family>_<entry>(isa, ...). A level the CPU lacks raises
// UnsupportedIsaError. Pool entries run on ONE plane (H, W); batchnorm entries on one run of n
// values ("row": one channel, scalar coefficients; "col": one coefficient per element).
#include <pybind11/stl.h>

#include <string>
#include <utility>

#include "../src/batchnorm/batchnorm_kernels.h"
#include "../src/pool/pool_kernels.h"
#include "array_check.h"

namespace fastdl {
namespace bind {

using Pair = std::pair<int64_t, int64_t>;
using DArray = py::array_t<double, py::array::c_style>;

namespace {

Pool2dParams plane_params(const char* op, Pair hw, Pair kernel, Pair stride, Pair padding, Pair dilation,
                          bool ceil_mode) {
  return make_pool2d_params(op, 1, hw.first, hw.second, kernel.first, kernel.second, stride.first, stride.second,
                            padding.first, padding.second, dilation.first, dilation.second, ceil_mode);
}

Pair plane_hw(const FArray& a, const char* name) {
  check_ndim(a, name, {2});
  return {a.shape(0), a.shape(1)};
}

int64_t divisor_arg(int64_t d) {
  if (d < 0) fail("pool_avg: divisor must be >= 0 (0: the window size), got " + std::to_string(d));
  return d;
}

void check_adaptive(Pair in, Pair out, const char* op) {
  if (in.first < 1 || in.second < 1 || out.first < 1 || out.second < 1)
    fail(std::string(op) + ": input and output sizes must be >= 1, got input (" + std::to_string(in.first) + ", " +
         std::to_string(in.second) + ") output (" + std::to_string(out.first) + ", " + std::to_string(out.second) + ")");
  checked_mul(out.first + 1, in.first, "adaptive pooling bounds");
  checked_mul(out.second + 1, in.second, "adaptive pooling bounds");
}

// The per-element coefficient arrays of a "col" entry all have x's length.
void check_cols(const FArray& x, std::initializer_list<std::pair<const FArray*, const char*>> arrays) {
  for (const auto& a : arrays) check_shape(*a.first, a.second, {x.size()});
}

}  // namespace

static py::tuple max_plane(const std::string& isa, const FArray& x, Pair kernel, Pair stride, Pair padding,
                           Pair dilation, bool ceil_mode) {
  const auto& k = pool_kernels(parse_isa(isa));
  const Pool2dParams p = plane_params("pool_max_plane", plane_hw(x, "pool_max_plane: x"), kernel, stride, padding,
                                      dilation, ceil_mode);
  FArray y = new_array({p.P, p.Q});
  py::array_t<int64_t, py::array::c_style> idx(std::vector<py::ssize_t>{p.P, p.Q});
  k.max_plane(y.mutable_data(), idx.mutable_data(), x.data(), p);
  return py::make_tuple(y, idx);
}

static FArray max_backward_plane(const std::string& isa, const FArray& dy, const IArray& idx, Pair input_hw,
                                 Pair kernel, Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
  const auto& k = pool_kernels(parse_isa(isa));
  const Pool2dParams p = plane_params("pool_max_backward_plane", input_hw, kernel, stride, padding, dilation, ceil_mode);
  check_shape(dy, "pool_max_backward_plane: dy", {p.P, p.Q});
  check_shape(idx, "pool_max_backward_plane: idx", {p.P, p.Q});
  FArray dx = new_array({p.H, p.W});
  k.max_backward_plane(dx.mutable_data(), dy.data(), idx.data(), p);
  return dx;
}

static FArray avg_plane(const std::string& isa, const FArray& x, Pair kernel, Pair stride, Pair padding,
                        bool ceil_mode, bool count_include_pad, int64_t divisor) {
  const auto& k = pool_kernels(parse_isa(isa));
  const Pool2dParams p = plane_params("pool_avg_plane", plane_hw(x, "pool_avg_plane: x"), kernel, stride, padding,
                                      {1, 1}, ceil_mode);
  FArray y = new_array({p.P, p.Q});
  k.avg_plane(y.mutable_data(), x.data(), p, count_include_pad, divisor_arg(divisor));
  return y;
}

static FArray avg_backward_plane(const std::string& isa, const FArray& dy, Pair input_hw, Pair kernel, Pair stride,
                                 Pair padding, bool ceil_mode, bool count_include_pad, int64_t divisor) {
  const auto& k = pool_kernels(parse_isa(isa));
  const Pool2dParams p = plane_params("pool_avg_backward_plane", input_hw, kernel, stride, padding, {1, 1}, ceil_mode);
  check_shape(dy, "pool_avg_backward_plane: dy", {p.P, p.Q});
  FArray dx = new_array({p.H, p.W});
  k.avg_backward_plane(dx.mutable_data(), dy.data(), p, count_include_pad, divisor_arg(divisor));
  return dx;
}

// Forward: x (H, W) -> y of size `other`; backward: dy (P, Q) -> dx of size `other` (the input).
static FArray adaptive_plane(const std::string& isa, const FArray& arr, Pair other, bool backward) {
  const auto& k = pool_kernels(parse_isa(isa));
  const std::string op = backward ? "pool_adaptive_avg_backward_plane" : "pool_adaptive_avg_plane";
  const Pair given = plane_hw(arr, (op + (backward ? ": dy" : ": x")).c_str());
  const Pair in = backward ? other : given, out = backward ? given : other;
  check_adaptive(in, out, op.c_str());
  FArray r = new_array({other.first, other.second});
  if (backward) k.adaptive_avg_backward_plane(r.mutable_data(), arr.data(), in.first, in.second, out.first, out.second);
  else k.adaptive_avg_plane(r.mutable_data(), arr.data(), in.first, in.second, out.first, out.second);
  return r;
}

static py::tuple bn_row_stats(const std::string& isa, const FArray& x) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  double s = 0, ss = 0;
  k.row_stats(x.data(), x.size(), &s, &ss);
  return py::make_tuple(s, ss);
}

static py::tuple bn_col_stats(const std::string& isa, const FArray& x) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  DArray s(x.size()), ss(x.size());
  for (int64_t j = 0; j < x.size(); ++j) s.mutable_data()[j] = ss.mutable_data()[j] = 0.0;
  k.col_stats(x.data(), x.size(), s.mutable_data(), ss.mutable_data());
  return py::make_tuple(s, ss);
}

static FArray bn_row_affine(const std::string& isa, const FArray& x, float m, float a, float b, bool relu) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  FArray y = new_array(shape_of(x));
  k.row_affine(y.mutable_data(), x.data(), x.size(), m, a, b, relu);
  return y;
}

static FArray bn_col_affine(const std::string& isa, const FArray& x, const FArray& m, const FArray& a,
                            const FArray& b, bool relu) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  check_ndim(x, "batchnorm_col_affine: x", {1});
  check_cols(x, {{&m, "batchnorm_col_affine: m"}, {&a, "batchnorm_col_affine: a"}, {&b, "batchnorm_col_affine: b"}});
  FArray y = new_array(shape_of(x));
  k.col_affine(y.mutable_data(), x.data(), x.size(), m.data(), a.data(), b.data(), relu);
  return y;
}

static py::tuple bn_row_bwd_stats(const std::string& isa, const FArray& dy, const FArray& x, float m, float a,
                                  float b, bool relu) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  check_same_shape(dy, "dy", x, "x");
  double sdy = 0, sdx = 0;
  k.row_bwd_stats(dy.data(), x.data(), x.size(), m, a, b, relu, &sdy, &sdx);
  return py::make_tuple(sdy, sdx);
}

static py::tuple bn_col_bwd_stats(const std::string& isa, const FArray& dy, const FArray& x, const FArray& m,
                                  const FArray& a, const FArray& b, bool relu) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  check_ndim(x, "batchnorm_col_bwd_stats: x", {1});
  check_cols(x, {{&dy, "batchnorm_col_bwd_stats: dy"}, {&m, "batchnorm_col_bwd_stats: m"},
                 {&a, "batchnorm_col_bwd_stats: a"}, {&b, "batchnorm_col_bwd_stats: b"}});
  DArray sdy(x.size()), sdx(x.size());
  for (int64_t j = 0; j < x.size(); ++j) sdy.mutable_data()[j] = sdx.mutable_data()[j] = 0.0;
  k.col_bwd_stats(dy.data(), x.data(), x.size(), m.data(), a.data(), b.data(), relu, sdy.mutable_data(),
                  sdx.mutable_data());
  return py::make_tuple(sdy, sdx);
}

static FArray bn_row_bwd_dx(const std::string& isa, const FArray& dy, const FArray& x, float m, float a, float b,
                            bool relu, float k1, float k2, float k3) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  check_same_shape(dy, "dy", x, "x");
  FArray dx = new_array(shape_of(x));
  k.row_bwd_dx(dx.mutable_data(), dy.data(), x.data(), x.size(), m, a, b, relu, k1, k2, k3);
  return dx;
}

static FArray bn_col_bwd_dx(const std::string& isa, const FArray& dy, const FArray& x, const FArray& m,
                            const FArray& a, const FArray& b, bool relu, const FArray& k1, const FArray& k2,
                            const FArray& k3) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  check_ndim(x, "batchnorm_col_bwd_dx: x", {1});
  check_cols(x, {{&dy, "batchnorm_col_bwd_dx: dy"}, {&m, "batchnorm_col_bwd_dx: m"}, {&a, "batchnorm_col_bwd_dx: a"},
                 {&b, "batchnorm_col_bwd_dx: b"}, {&k1, "batchnorm_col_bwd_dx: k1"}, {&k2, "batchnorm_col_bwd_dx: k2"},
                 {&k3, "batchnorm_col_bwd_dx: k3"}});
  FArray dx = new_array(shape_of(x));
  k.col_bwd_dx(dx.mutable_data(), dy.data(), x.data(), x.size(), m.data(), a.data(), b.data(), relu, k1.data(),
               k2.data(), k3.data());
  return dx;
}

using U8 = py::array_t<uint8_t, py::array::c_style>;

static U8 new_mask(int64_t n) { return U8(std::vector<py::ssize_t>{static_cast<py::ssize_t>((n + 7) / 8)}); }

static py::tuple bn_row_affine_add_relu(const std::string& isa, const FArray& x, const FArray& r, float m, float a,
                                        float b) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  check_ndim(x, "batchnorm_row_affine_add_relu: x", {1});
  check_cols(x, {{&r, "batchnorm_row_affine_add_relu: r"}});
  FArray y = new_array(shape_of(x));
  U8 bits = new_mask(x.size());
  k.row_affine_add_relu(y.mutable_data(), bits.mutable_data(), x.data(), r.data(), x.size(), m, a, b);
  return py::make_tuple(y, bits);
}

static py::tuple bn_col_affine_add_relu(const std::string& isa, const FArray& x, const FArray& r, const FArray& m,
                                        const FArray& a, const FArray& b) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  check_ndim(x, "batchnorm_col_affine_add_relu: x", {1});
  check_cols(x, {{&r, "batchnorm_col_affine_add_relu: r"}, {&m, "batchnorm_col_affine_add_relu: m"},
                 {&a, "batchnorm_col_affine_add_relu: a"}, {&b, "batchnorm_col_affine_add_relu: b"}});
  FArray y = new_array(shape_of(x));
  U8 bits = new_mask(x.size());
  k.col_affine_add_relu(y.mutable_data(), bits.mutable_data(), x.data(), r.data(), x.size(), m.data(), a.data(),
                        b.data());
  return py::make_tuple(y, bits);
}

static FArray bn_mask_grad(const std::string& isa, const FArray& dy, const py::array_t<uint8_t, py::array::c_style>& bits) {
  const auto& k = batchnorm_kernels(parse_isa(isa));
  check_ndim(dy, "batchnorm_mask_grad: dy", {1});
  check_shape(bits, "batchnorm_mask_grad: bits", {(dy.size() + 7) / 8});
  FArray e = new_array(shape_of(dy));
  k.mask_grad(e.mutable_data(), dy.data(), bits.data(), dy.size());
  return e;
}

void bind_testing_pool_bn(py::module_& t) {
  const Pair one{1, 1}, zero{0, 0};
  t.def("pool_max_plane", &max_plane, py::arg("isa"), py::arg("x"), py::arg("kernel"), py::arg("stride"),
        py::arg("padding") = zero, py::arg("dilation") = one, py::arg("ceil_mode") = false, "Returns (y, idx int64).");
  t.def("pool_max_backward_plane", &max_backward_plane, py::arg("isa"), py::arg("dy"), py::arg("idx"),
        py::arg("input_hw"), py::arg("kernel"), py::arg("stride"), py::arg("padding") = zero,
        py::arg("dilation") = one, py::arg("ceil_mode") = false);
  t.def("pool_avg_plane", &avg_plane, py::arg("isa"), py::arg("x"), py::arg("kernel"), py::arg("stride"),
        py::arg("padding") = zero, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
        py::arg("divisor") = 0);
  t.def("pool_avg_backward_plane", &avg_backward_plane, py::arg("isa"), py::arg("dy"), py::arg("input_hw"),
        py::arg("kernel"), py::arg("stride"), py::arg("padding") = zero, py::arg("ceil_mode") = false,
        py::arg("count_include_pad") = true, py::arg("divisor") = 0);
  t.def("pool_adaptive_avg_plane",
        [](const std::string& isa, const FArray& x, Pair out) { return adaptive_plane(isa, x, out, false); },
        py::arg("isa"), py::arg("x"), py::arg("output_size"));
  t.def("pool_adaptive_avg_backward_plane",
        [](const std::string& isa, const FArray& dy, Pair in) { return adaptive_plane(isa, dy, in, true); },
        py::arg("isa"), py::arg("dy"), py::arg("input_hw"));
  t.def("batchnorm_row_stats", &bn_row_stats, py::arg("isa"), py::arg("x"), "Returns (sum x, sum x^2) in float64.");
  t.def("batchnorm_col_stats", &bn_col_stats, py::arg("isa"), py::arg("x"));
  t.def("batchnorm_row_affine", &bn_row_affine, py::arg("isa"), py::arg("x"), py::arg("m"), py::arg("a"), py::arg("b"),
        py::arg("relu") = false);
  t.def("batchnorm_col_affine", &bn_col_affine, py::arg("isa"), py::arg("x"), py::arg("m"), py::arg("a"), py::arg("b"),
        py::arg("relu") = false);
  t.def("batchnorm_row_bwd_stats", &bn_row_bwd_stats, py::arg("isa"), py::arg("dy"), py::arg("x"), py::arg("m"),
        py::arg("a"), py::arg("b"), py::arg("relu") = false, "Returns (sum e, sum e*(x - m)) in float64.");
  t.def("batchnorm_col_bwd_stats", &bn_col_bwd_stats, py::arg("isa"), py::arg("dy"), py::arg("x"), py::arg("m"),
        py::arg("a"), py::arg("b"), py::arg("relu") = false);
  t.def("batchnorm_row_bwd_dx", &bn_row_bwd_dx, py::arg("isa"), py::arg("dy"), py::arg("x"), py::arg("m"), py::arg("a"),
        py::arg("b"), py::arg("relu"), py::arg("k1"), py::arg("k2"), py::arg("k3"));
  t.def("batchnorm_col_bwd_dx", &bn_col_bwd_dx, py::arg("isa"), py::arg("dy"), py::arg("x"), py::arg("m"), py::arg("a"),
        py::arg("b"), py::arg("relu"), py::arg("k1"), py::arg("k2"), py::arg("k3"));
  t.def("batchnorm_row_affine_add_relu", &bn_row_affine_add_relu, py::arg("isa"), py::arg("x"), py::arg("r"),
        py::arg("m"), py::arg("a"), py::arg("b"), "Returns (max((x - m)*a + b + r, 0), ReLU bitmask uint8).");
  t.def("batchnorm_col_affine_add_relu", &bn_col_affine_add_relu, py::arg("isa"), py::arg("x"), py::arg("r"),
        py::arg("m"), py::arg("a"), py::arg("b"));
  t.def("batchnorm_mask_grad", &bn_mask_grad, py::arg("isa"), py::arg("dy"), py::arg("bits"),
        "dy where the bit of the bitmask is set, else 0.");
}

}  // namespace bind
}  // namespace fastdl
