// Test-only bindings (fastdl._C.testing) reaching the direct convolution table of a given ISA
// level: the reorders on their own, and the whole direct driver run on that level's table (which
// is how its forward-row and backward-weights micro-kernels are reached, at every tile edge the
// tests' shapes produce). A level the CPU lacks raises UnsupportedIsaError.
#include <pybind11/stl.h>

#include <string>
#include <utility>

#include "../src/conv_direct/conv_direct.h"
#include "array_check.h"

namespace fastdl {
namespace bind {

namespace {

using Pair = std::pair<int64_t, int64_t>;

Conv2dParams direct_params(const char* op, const FArray& x, const FArray& w, Pair stride, Pair padding,
                           Pair dilation) {
  check_ndim(x, (std::string(op) + ": x").c_str(), {4});
  check_ndim(w, (std::string(op) + ": w").c_str(), {4});
  try {
    return make_conv2d_params(x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0), w.shape(1), w.shape(2),
                              w.shape(3), stride.first, stride.second, padding.first, padding.second, dilation.first,
                              dilation.second, 1);
  } catch (const ArgumentError& e) {
    fail(std::string(op) + ": " + e.what());
  }
}

FArray to_blocked(const std::string& isa, const FArray& x, int64_t pl, int64_t pr) {
  const auto& k = conv_direct_kernels(parse_isa(isa));
  check_ndim(x, "conv_direct_to_blocked: x", {3});
  if (pl < 0 || pr < 0) fail("conv_direct_to_blocked: pl, pr must be >= 0");
  const int64_t C = x.shape(0), H = x.shape(1), W = x.shape(2);
  FArray out = zeros({(C + k.vl - 1) / k.vl, H, pl + W + pr, k.vl});
  if (out.size() > 0) k.to_blocked(out.mutable_data(), x.data(), C, H, W, pl, pr);
  return out;
}

FArray row_to_plain(const std::string& isa, const FArray& row, int64_t nch) {
  const auto& k = conv_direct_kernels(parse_isa(isa));
  check_ndim(row, "conv_direct_row_to_plain: row", {3});
  const int64_t nkb = row.shape(0), Q = row.shape(1);
  check_shape(row, "conv_direct_row_to_plain: row", {nkb, Q, k.vl});
  if (nch < 1 || nch > nkb * k.vl) fail("conv_direct_row_to_plain: nch must be in [1, blocks * vl]");
  FArray out = zeros({nch, Q});
  k.row_to_plain(out.mutable_data(), row.data(), nkb, Q * k.vl, nch, Q, Q);
  return out;
}

FArray forward(const std::string& isa, const FArray& x, const FArray& w, const py::object& bias, Pair stride,
               Pair padding, Pair dilation) {
  const auto& k = conv_direct_kernels(parse_isa(isa));
  const Conv2dParams p = direct_params("conv_direct_forward", x, w, stride, padding, dilation);
  FArray b;
  if (!bias.is_none()) {
    b = bias.cast<FArray>();
    check_shape(b, "conv_direct_forward: bias", {p.K});
  }
  FArray y = new_array({p.N, p.K, p.P, p.Q});
  const float* pb = bias.is_none() ? nullptr : b.data();
  float* py_ = y.mutable_data();
  run_kernel("conv_direct_forward", [&] { conv_direct_forward(k, py_, x.data(), w.data(), pb, p); });
  return y;
}

py::tuple backward(const std::string& isa, const FArray& dy, const FArray& x, const FArray& w, Pair stride,
                   Pair padding, Pair dilation, bool need_input, bool need_weight) {
  const auto& k = conv_direct_kernels(parse_isa(isa));
  const Conv2dParams p = direct_params("conv_direct_backward", x, w, stride, padding, dilation);
  check_shape(dy, "conv_direct_backward: dy", {p.N, p.K, p.P, p.Q});
  if (need_input && !conv_direct_dx_supported(p))
    fail("conv_direct_backward: backward-data needs stride 1 or dilation 1 on each axis");
  const OptionalOut dx = optional_output(need_input, {p.N, p.C, p.H, p.W});
  const OptionalOut dw = optional_output(need_weight, shape_of(w));
  run_kernel("conv_direct_backward",
             [&] { conv_direct_backward(k, dx.data, dw.data, dy.data(), x.data(), w.data(), p); });
  return py::make_tuple(dx.array, dw.array);
}

}  // namespace

void bind_testing_conv_direct(py::module_& t) {
  t.def("conv_direct_table", [](const std::string& isa) {
    py::dict d;
    d["vl"] = conv_direct_kernels(parse_isa(isa)).vl;
    return d;
  }, py::arg("isa"), "The direct convolution table's channel block: {vl}.");
  t.def("conv_direct_to_blocked", &to_blocked, py::arg("isa"), py::arg("x"), py::arg("pl") = 0, py::arg("pr") = 0,
        "x (C, H, W) -> (ceil(C/vl), H, pl + W + pr, vl), zero padded.");
  t.def("conv_direct_row_to_plain", &row_to_plain, py::arg("isa"), py::arg("row"), py::arg("nch"),
        "row (blocks, Q, vl) -> (nch, Q).");
  t.def("conv_direct_forward", &forward, py::arg("isa"), py::arg("x"), py::arg("w"), py::arg("bias") = py::none(),
        py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1});
  t.def("conv_direct_backward", &backward, py::arg("isa"), py::arg("dy"), py::arg("x"), py::arg("w"),
        py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1},
        py::arg("need_input") = true, py::arg("need_weight") = true);
}

}  // namespace bind
}  // namespace fastdl
