// Bindings: max / average / adaptive average 2-D pooling on NCHW float32 arrays.
#include <pybind11/stl.h>

#include <utility>

#include "array_check.h"
#include "fastdl/pool.h"
#include "pool_args.h"

namespace fastdl {
namespace bind {

using I64Out = py::array_t<int64_t, py::array::c_style>;

static std::vector<int64_t> input_shape4(const std::vector<int64_t>& s, const char* op) {
  if (s.size() != 4) fail(std::string(op) + ": input_shape must have 4 sizes (N, C, H, W), got " + shape_str(s));
  for (int64_t d : s)
    if (d < 0) fail(std::string(op) + ": negative size in input_shape " + shape_str(s));
  return s;
}

Pool2dParams pool_params(const char* op, const std::vector<int64_t>& xs, Pair kernel, Pair stride,
                                Pair padding, Pair dilation, bool ceil_mode) {
  try {
    return make_pool2d_params(op, checked_mul(xs[0], xs[1], "planes"), xs[2], xs[3], kernel.first, kernel.second,
                              stride.first, stride.second, padding.first, padding.second, dilation.first,
                              dilation.second, ceil_mode);
  } catch (const ArgumentError& e) {
    fail(std::string(e.what()) + " (input shape " + shape_str(xs) + ")");
  }
}

static py::tuple max_pool2d_forward(const FArray& x, Pair kernel, Pair stride, Pair padding, Pair dilation,
                                    bool ceil_mode) {
  check_ndim(x, "max_pool2d: input", {4});
  const auto xs = shape_of(x);
  const Pool2dParams p = pool_params("max_pool2d", xs, kernel, stride, padding, dilation, ceil_mode);
  FArray y = new_array({xs[0], xs[1], p.P, p.Q});
  I64Out idx(std::vector<py::ssize_t>{xs[0], xs[1], p.P, p.Q});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  int64_t* pi = idx.mutable_data();
  run_kernel("max_pool2d_forward", [&] {
    fastdl::max_pool2d_forward(py_, pi, px, p);
  });
  return py::make_tuple(y, idx);
}

static FArray max_pool2d_backward(const FArray& dy, const IArray& indices, const std::vector<int64_t>& input_shape,
                                  Pair kernel, Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
  const auto xs = input_shape4(input_shape, "max_pool2d_backward");
  const Pool2dParams p = pool_params("max_pool2d_backward", xs, kernel, stride, padding, dilation, ceil_mode);
  check_shape(dy, "max_pool2d_backward: grad_output", {xs[0], xs[1], p.P, p.Q});
  check_shape(indices, "max_pool2d_backward: indices", {xs[0], xs[1], p.P, p.Q});
  FArray dx = new_array(xs);
  const float* pdy = dy.data();
  const int64_t* pi = indices.data();
  float* pdx = dx.mutable_data();
  run_kernel("max_pool2d_backward", [&] {
    fastdl::max_pool2d_backward(pdx, pdy, pi, p);
  });
  return dx;
}

int64_t divisor_arg(const py::object& d) {
  if (d.is_none()) return 0;
  const int64_t v = d.cast<int64_t>();
  if (v == 0) fail("avg_pool2d: divisor_override must be non-zero, got 0");
  if (v < 0) fail("avg_pool2d: divisor_override must be positive, got " + std::to_string(v));
  return v;
}

static FArray avg_pool2d_forward(const FArray& x, Pair kernel, Pair stride, Pair padding, bool ceil_mode,
                                 bool count_include_pad, const py::object& divisor_override) {
  check_ndim(x, "avg_pool2d: input", {4});
  const auto xs = shape_of(x);
  const Pool2dParams p = pool_params("avg_pool2d", xs, kernel, stride, padding, {1, 1}, ceil_mode);
  const int64_t div = divisor_arg(divisor_override);
  FArray y = new_array({xs[0], xs[1], p.P, p.Q});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  run_kernel("avg_pool2d_forward", [&] {
    fastdl::avg_pool2d_forward(py_, px, p, count_include_pad, div);
  });
  return y;
}

static FArray avg_pool2d_backward(const FArray& dy, const std::vector<int64_t>& input_shape, Pair kernel, Pair stride,
                                  Pair padding, bool ceil_mode, bool count_include_pad,
                                  const py::object& divisor_override) {
  const auto xs = input_shape4(input_shape, "avg_pool2d_backward");
  const Pool2dParams p = pool_params("avg_pool2d_backward", xs, kernel, stride, padding, {1, 1}, ceil_mode);
  const int64_t div = divisor_arg(divisor_override);
  check_shape(dy, "avg_pool2d_backward: grad_output", {xs[0], xs[1], p.P, p.Q});
  FArray dx = new_array(xs);
  const float* pdy = dy.data();
  float* pdx = dx.mutable_data();
  run_kernel("avg_pool2d_backward", [&] {
    fastdl::avg_pool2d_backward(pdx, pdy, p, count_include_pad, div);
  });
  return dx;
}

static void check_adaptive(const std::vector<int64_t>& xs, Pair out, const char* op) {
  if (out.first < 1 || out.second < 1)
    fail(std::string(op) + ": output_size must be >= 1, got (" + std::to_string(out.first) + ", " +
         std::to_string(out.second) + ")");
  if (xs[2] < 1 || xs[3] < 1)
    fail(std::string(op) + ": input must have non-zero height and width, got shape " + shape_str(xs));
  checked_mul(checked_mul(checked_mul(xs[0], xs[1], "output size"), out.first, "output size"), out.second,
              "output size");
  checked_mul(checked_mul(xs[0], xs[1], "input size"), checked_mul(xs[2], xs[3], "input size"), "input size");
  checked_mul(out.first + 1, xs[2], "adaptive pooling bounds");
  checked_mul(out.second + 1, xs[3], "adaptive pooling bounds");
}

static Activation pooled_activation(int act) {
  if (act != static_cast<int>(Activation::relu) && act != static_cast<int>(Activation::sigmoid) &&
      act != static_cast<int>(Activation::tanh))
    fail("avg_pool2d_act: activation must be relu (0), sigmoid (3) or tanh (4), got " + std::to_string(act));
  return static_cast<Activation>(act);
}

static py::tuple avg_pool2d_act_forward(const FArray& x, int act, Pair kernel, Pair stride, Pair padding,
                                        bool ceil_mode, bool count_include_pad, const py::object& divisor_override,
                                        bool save_output) {
  check_ndim(x, "avg_pool2d_act: input", {4});
  const Activation a = pooled_activation(act);
  const auto xs = shape_of(x);
  const Pool2dParams p = pool_params("avg_pool2d", xs, kernel, stride, padding, {1, 1}, ceil_mode);
  const int64_t div = divisor_arg(divisor_override);
  FArray y = new_array({xs[0], xs[1], p.P, p.Q});
  const OptionalOut s = optional_output(save_output, xs);
  const float* px = x.data();
  float* py_ = y.mutable_data();
  run_kernel("avg_pool2d_act_forward", [&] {
    fastdl::avg_pool2d_act_forward(py_, s.data, px, p, count_include_pad, div, a);
  });
  return py::make_tuple(y, s.array);
}

static FArray avg_pool2d_act_backward(const FArray& dy, const FArray& output, int act, Pair kernel, Pair stride,
                                      Pair padding, bool ceil_mode, bool count_include_pad,
                                      const py::object& divisor_override) {
  check_ndim(output, "avg_pool2d_act_backward: output", {4});
  const Activation a = pooled_activation(act);
  const auto xs = shape_of(output);
  const Pool2dParams p = pool_params("avg_pool2d_act_backward", xs, kernel, stride, padding, {1, 1}, ceil_mode);
  const int64_t div = divisor_arg(divisor_override);
  check_shape(dy, "avg_pool2d_act_backward: grad_output", {xs[0], xs[1], p.P, p.Q});
  FArray dx = new_array(xs);
  const float *pdy = dy.data(), *ps = output.data();
  float* pdx = dx.mutable_data();
  run_kernel("avg_pool2d_act_backward", [&] {
    fastdl::avg_pool2d_act_backward(pdx, pdy, ps, p, count_include_pad, div, a);
  });
  return dx;
}

static FArray adaptive_avg_pool2d_forward(const FArray& x, Pair output_size) {
  check_ndim(x, "adaptive_avg_pool2d: input", {4});
  const auto xs = shape_of(x);
  check_adaptive(xs, output_size, "adaptive_avg_pool2d");
  FArray y = new_array({xs[0], xs[1], output_size.first, output_size.second});
  const float* px = x.data();
  float* py_ = y.mutable_data();
  run_kernel("adaptive_avg_pool2d_forward", [&] {
    fastdl::adaptive_avg_pool2d_forward(py_, px, xs[0] * xs[1], xs[2], xs[3], output_size.first, output_size.second);
  });
  return y;
}

static FArray adaptive_avg_pool2d_backward(const FArray& dy, const std::vector<int64_t>& input_shape) {
  const auto xs = input_shape4(input_shape, "adaptive_avg_pool2d_backward");
  check_ndim(dy, "adaptive_avg_pool2d_backward: grad_output", {4});
  const Pair out{dy.shape(2), dy.shape(3)};
  check_adaptive(xs, out, "adaptive_avg_pool2d_backward");
  check_shape(dy, "adaptive_avg_pool2d_backward: grad_output", {xs[0], xs[1], -1, -1});
  FArray dx = new_array(xs);
  const float* pdy = dy.data();
  float* pdx = dx.mutable_data();
  run_kernel("adaptive_avg_pool2d_backward", [&] {
    fastdl::adaptive_avg_pool2d_backward(pdx, pdy, xs[0] * xs[1], xs[2], xs[3], out.first, out.second);
  });
  return dx;
}

void bind_pool(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool2d_forward, py::arg("input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"),
        "torch.nn.functional.max_pool2d with return_indices: input (N, C, H, W) -> (output, indices int64), "
        "indices are positions inside each (H, W) plane.");
  m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("grad_output"), py::arg("indices"),
        py::arg("input_shape"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("ceil_mode"), "Gradient of max_pool2d_forward: scatters grad_output through indices.");
  m.def("avg_pool2d_forward", &avg_pool2d_forward, py::arg("input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("divisor_override"),
        "torch.nn.functional.avg_pool2d: input (N, C, H, W) -> (N, C, P, Q).");
  m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("grad_output"), py::arg("input_shape"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"), py::arg("divisor_override"), "Gradient of avg_pool2d_forward.");
  m.def("avg_pool2d_act_forward", &avg_pool2d_act_forward, py::arg("input"), py::arg("activation"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"), py::arg("divisor_override"), py::arg("save_output") = true,
        "avg_pool2d(act(input)) in one pass, act = relu (0), sigmoid (3) or tanh (4): input (N, C, H, W) -> "
        "(pooled (N, C, P, Q), act(input) (N, C, H, W) for the backward, or None when not save_output).");
  m.def("avg_pool2d_act_backward", &avg_pool2d_act_backward, py::arg("grad_output"), py::arg("output"),
        py::arg("activation"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"), py::arg("divisor_override"),
        "Gradient of avg_pool2d_act_forward from its saved act(input) `output` (N, C, H, W).");
  m.def("adaptive_avg_pool2d_forward", &adaptive_avg_pool2d_forward, py::arg("input"), py::arg("output_size"),
        "torch.nn.functional.adaptive_avg_pool2d: input (N, C, H, W) -> (N, C, P, Q).");
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward, py::arg("grad_output"),
        py::arg("input_shape"), "Gradient of adaptive_avg_pool2d_forward.");
}

}  // namespace bind
}  // namespace fastdl
