// Test-only bindings (fastdl._C.testing) reaching each entry of the activation, softmax and
// dropout kernel tables directly for a given ISA level: <family>_<entry>(isa, ...). A level the
// CPU lacks raises UnsupportedIsaError. Each call runs the serial kernel once on the whole input
// (no threading), so tile edges are exactly the lengths the test passes.
#include <string>

#include "../src/activation/activation_kernels.h"
#include "../src/dropout/dropout_kernels.h"
#include "../src/softmax/softmax_kernels.h"
#include "array_check.h"

namespace fastdl {
namespace bind {

using U8Array = py::array_t<uint8_t, py::array::c_style | py::array::forcecast | kAligned>;

static Activation to_activation(int act) {
  if (act < 0 || act > static_cast<int>(Activation::exp))
    fail("activation: act must be in [0, 5] (relu, leaky_relu, elu, sigmoid, tanh, exp), got " + std::to_string(act));
  return static_cast<Activation>(act);
}

static FArray act_forward(const std::string& isa, int act, const FArray& x, float param) {
  const auto& k = activation_kernels(parse_isa(isa));
  FArray y = new_array(shape_of(x));
  k.forward(to_activation(act), y.mutable_data(), x.data(), x.size(), param);
  return y;
}

static FArray act_backward(const std::string& isa, int act, const FArray& dy, const FArray& saved, float param) {
  const auto& k = activation_kernels(parse_isa(isa));
  check_same_shape(dy, "dy", saved, "saved");
  FArray dx = new_array(shape_of(dy));
  k.backward(to_activation(act), dx.mutable_data(), dy.data(), saved.data(), dy.size(), param);
  return dx;
}

// x (R, C) for the rows entries; (C, ncols) with ncols <= kSoftmaxColBlock for the cols entries.
static FArray softmax_2d(const std::string& isa, bool log, const FArray& x, bool cols) {
  const auto& k = softmax_kernels(parse_isa(isa));
  check_ndim(x, "softmax: x", {2});
  const int64_t a = x.shape(0), b = x.shape(1);
  if (cols && b > kSoftmaxColBlock) fail("softmax_cols: at most " + std::to_string(kSoftmaxColBlock) + " columns, got " + shape_str(x));
  FArray y = new_array(shape_of(x));
  if (cols) k.cols(log, y.mutable_data(), x.data(), a, b, b);
  else k.rows(log, y.mutable_data(), x.data(), a, b);
  return y;
}

static FArray softmax_2d_backward(const std::string& isa, bool log, const FArray& dy, const FArray& y, bool cols) {
  const auto& k = softmax_kernels(parse_isa(isa));
  check_ndim(dy, "softmax_backward: dy", {2});
  check_same_shape(dy, "dy", y, "y");
  const int64_t a = dy.shape(0), b = dy.shape(1);
  if (cols && b > kSoftmaxColBlock) fail("softmax_backward_cols: at most " + std::to_string(kSoftmaxColBlock) + " columns, got " + shape_str(dy));
  FArray dx = new_array(shape_of(dy));
  if (cols) k.backward_cols(log, dx.mutable_data(), dy.data(), y.data(), a, b, b);
  else k.backward_rows(log, dx.mutable_data(), dy.data(), y.data(), a, b);
  return dx;
}

static py::tuple drop_forward(const std::string& isa, const FArray& x, int64_t i0, uint32_t k0, uint32_t k1,
                              uint32_t thresh, float scale) {
  const auto& k = dropout_kernels(parse_isa(isa));
  if (i0 < 0) fail("dropout_forward: i0 must be >= 0, got " + std::to_string(i0));
  if (thresh > (1u << 24)) fail("dropout_forward: thresh must be <= 2^24, got " + std::to_string(thresh));
  FArray y = new_array(shape_of(x));
  std::vector<py::ssize_t> ms(x.shape(), x.shape() + x.ndim());
  U8Array mask(ms);
  k.forward(y.mutable_data(), mask.mutable_data(), x.data(), i0, x.size(), k0, k1, thresh, scale);
  return py::make_tuple(y, mask);
}

static FArray drop_backward(const std::string& isa, const FArray& dy, const U8Array& mask, float scale) {
  const auto& k = dropout_kernels(parse_isa(isa));
  check_same_shape(dy, "dy", mask, "mask");
  FArray dx = new_array(shape_of(dy));
  k.backward(dx.mutable_data(), dy.data(), mask.data(), dy.size(), scale);
  return dx;
}

void bind_testing_activation(py::module_& t) {
  t.def("activation_forward", &act_forward, py::arg("isa"), py::arg("act"), py::arg("x"), py::arg("param") = 0.0f);
  t.def("activation_backward", &act_backward, py::arg("isa"), py::arg("act"), py::arg("dy"), py::arg("saved"),
        py::arg("param") = 0.0f);
  t.def("softmax_rows", [](const std::string& isa, bool log, const FArray& x) { return softmax_2d(isa, log, x, false); },
        py::arg("isa"), py::arg("log"), py::arg("x"));
  t.def("softmax_cols", [](const std::string& isa, bool log, const FArray& x) { return softmax_2d(isa, log, x, true); },
        py::arg("isa"), py::arg("log"), py::arg("x"));
  t.def("softmax_backward_rows",
        [](const std::string& isa, bool log, const FArray& dy, const FArray& y) { return softmax_2d_backward(isa, log, dy, y, false); },
        py::arg("isa"), py::arg("log"), py::arg("dy"), py::arg("y"));
  t.def("softmax_backward_cols",
        [](const std::string& isa, bool log, const FArray& dy, const FArray& y) { return softmax_2d_backward(isa, log, dy, y, true); },
        py::arg("isa"), py::arg("log"), py::arg("dy"), py::arg("y"));
  t.def("dropout_forward", &drop_forward, py::arg("isa"), py::arg("x"), py::arg("i0"), py::arg("k0"), py::arg("k1"),
        py::arg("thresh"), py::arg("scale"), "Returns (y, mask uint8).");
  t.def("dropout_backward", &drop_backward, py::arg("isa"), py::arg("dy"), py::arg("mask"), py::arg("scale"));
}

}  // namespace bind
}  // namespace fastdl
