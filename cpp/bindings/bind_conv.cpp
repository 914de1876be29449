// Bindings: conv2d forward / backward on NCHW float32 arrays, plus im2col / col2im and the
// shape check on their own (tests, benchmarks).
#include <pybind11/stl.h>

#include <utility>

#include "array_check.h"
#include "fastdl/conv.h"

namespace fastdl {
namespace bind {

using Pair = std::pair<int64_t, int64_t>;

// The shared validation of every conv2d entry point: re-throws argument errors with the shapes.
static Conv2dParams conv_params(const std::vector<int64_t>& xs, const std::vector<int64_t>& ws, Pair stride,
                                Pair padding, Pair dilation, int64_t groups) {
  try {
    return make_conv2d_params(xs[0], xs[1], xs[2], xs[3], ws[0], ws[1], ws[2], ws[3], stride.first, stride.second,
                              padding.first, padding.second, dilation.first, dilation.second, groups);
  } catch (const ArgumentError& e) {
    fail(std::string(e.what()) + " (input shape " + shape_str(xs) + ", weight shape " + shape_str(ws) + ")");
  }
}

static std::vector<int64_t> shape4(const std::vector<int64_t>& s, const char* name) {
  if (s.size() != 4) fail(std::string("conv2d: ") + name + ": expected 4 sizes, got " + shape_str(s));
  for (int64_t d : s)
    if (d < 0) fail(std::string("conv2d: ") + name + ": negative size in " + shape_str(s));
  return s;
}

// (N, K, P, Q) of conv2d for the given shapes, with every check the kernels make (ValueError,
// or OverflowError when a buffer size overflows int64) and nothing allocated.
static py::tuple conv2d_output_shape(const std::vector<int64_t>& input_shape, const std::vector<int64_t>& weight_shape,
                                     Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const Conv2dParams p = conv_params(shape4(input_shape, "input_shape"), shape4(weight_shape, "weight_shape"), stride,
                                     padding, dilation, groups);
  return py::make_tuple(p.N, p.K, p.P, p.Q);
}

static FArray conv2d_forward(const FArray& x, const FArray& w, const py::object& bias, Pair stride, Pair padding,
                             Pair dilation, int64_t groups, bool relu) {
  check_ndim(x, "conv2d: input", {4});
  check_ndim(w, "conv2d: weight", {4});
  const Conv2dParams p = conv_params(shape_of(x), shape_of(w), stride, padding, dilation, groups);
  FArray b;
  const float* pb = nullptr;
  if (!bias.is_none()) {
    b = bias.cast<FArray>();
    if (b.ndim() != 1 || b.shape(0) != p.K)
      fail("conv2d: bias: expected shape (" + std::to_string(p.K) + ",), got " + shape_str(b) + " (weight shape " +
           shape_str(w) + ")");
    pb = b.data();
  }
  FArray y = new_array({p.N, p.K, p.P, p.Q});
  const float* px = x.data();
  const float* pw = w.data();
  float* py_ = y.mutable_data();
  run_kernel("conv2d_forward", [&] {
    fastdl::conv2d_forward(py_, px, pw, pb, p, relu);
  });
  return y;
}

static py::tuple conv2d_backward(const FArray& dy, const FArray& x, const FArray& w, Pair stride, Pair padding,
                                 Pair dilation, int64_t groups, bool need_input, bool need_weight, bool need_bias,
                                 const py::object& relu_output) {
  check_ndim(x, "conv2d_backward: input", {4});
  check_ndim(w, "conv2d_backward: weight", {4});
  const Conv2dParams p = conv_params(shape_of(x), shape_of(w), stride, padding, dilation, groups);
  check_shape(dy, "conv2d_backward: grad_output", {p.N, p.K, p.P, p.Q});
  FArray ry;
  const float* pry = nullptr;
  if (!relu_output.is_none()) {  // the output of a fused conv2d + relu forward
    ry = relu_output.cast<FArray>();
    check_shape(ry, "conv2d_backward: relu_output", {p.N, p.K, p.P, p.Q});
    pry = ry.data();
  }
  const OptionalOut dx = optional_output(need_input, {p.N, p.C, p.H, p.W});
  const OptionalOut dw = optional_output(need_weight, shape_of(w));
  const OptionalOut db = optional_output(need_bias, {p.K});
  const float* pdy = dy.data();
  const float* px = x.data();
  const float* pw = w.data();
  run_kernel("conv2d_backward", [&] {
    fastdl::conv2d_backward(dx.data, dw.data, db.data, pdy, px, pw, p, pry);
  });
  return py::make_tuple(dx.array, dw.array, db.array);
}

// One image, groups = 1: x (C, H, W) -> col (C*R*S, P*Q).
static FArray im2col_py(const FArray& x, Pair kernel, Pair stride, Pair padding, Pair dilation) {
  check_ndim(x, "im2col: input", {3});
  const Conv2dParams p = conv_params({1, x.shape(0), x.shape(1), x.shape(2)}, {1, x.shape(0), kernel.first, kernel.second},
                                     stride, padding, dilation, 1);
  FArray col = new_array({p.col_rows, p.col_cols});
  const float* px = x.data();
  float* pc = col.mutable_data();
  run_kernel("im2col", [&] {
    fastdl::im2col(pc, px, p, p.col_cols);
  });
  return col;
}

// Inverse scatter-add: col (C*R*S, P*Q) -> dx of input_shape (C, H, W).
static FArray col2im_py(const FArray& col, const std::vector<int64_t>& input_shape, Pair kernel, Pair stride,
                        Pair padding, Pair dilation) {
  if (input_shape.size() != 3) fail("col2im: input_shape must have 3 sizes (C, H, W), got " + shape_str(input_shape));
  const Conv2dParams p = conv_params({1, input_shape[0], input_shape[1], input_shape[2]},
                                     {1, input_shape[0], kernel.first, kernel.second}, stride, padding, dilation, 1);
  check_shape(col, "col2im: col", {p.col_rows, p.col_cols});
  FArray dx = new_array({p.C, p.H, p.W});
  const float* pc = col.data();
  float* pd = dx.mutable_data();
  run_kernel("col2im", [&] {
    fastdl::col2im(pd, pc, p, p.col_cols);
  });
  return dx;
}

void bind_conv(py::module_& m) {
  m.def("conv2d_output_shape", &conv2d_output_shape, py::arg("input_shape"), py::arg("weight_shape"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "(N, K, P, Q) of conv2d for these shapes; raises as conv2d_forward would, allocating nothing.");
  m.def("conv2d_forward", &conv2d_forward, py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("relu") = false,
        "torch.nn.functional.conv2d: input (N, C, H, W), weight (K, C/groups, R, S), bias (K,) or None "
        "-> (N, K, P, Q). stride, padding, dilation: (h, w) pairs. relu: max(conv2d + bias, 0) in the same call.");
  m.def("conv2d_backward", &conv2d_backward, py::arg("grad_output"), py::arg("input"), py::arg("weight"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("need_input") = true,
        py::arg("need_weight") = true, py::arg("need_bias") = true, py::arg("relu_output") = py::none(),
        "Gradients (grad_input, grad_weight, grad_bias) of conv2d_forward; None where not requested. "
        "relu_output: the output of conv2d_forward(..., relu=True), for the fused layer's gradients.");
  m.def("im2col", &im2col_py, py::arg("input"), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), "One image (C, H, W) -> columns (C*R*S, P*Q), zero padding.");
  m.def("col2im", &col2im_py, py::arg("col"), py::arg("input_shape"), py::arg("kernel"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), "Scatter-add columns (C*R*S, P*Q) back to an image (C, H, W).");
}

}  // namespace bind
}  // namespace fastdl
