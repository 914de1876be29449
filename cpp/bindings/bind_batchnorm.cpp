// Bindings for the batchnorm kernel family (fastdl/batchnorm.h).
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "array_check.h"
#include "fastdl/batchnorm.h"
#include "pool_args.h"

namespace fastdl {
namespace bind {

namespace {

struct Dims {
  int64_t N, C, S;
};

Dims input_dims(const FArray& x, const char* name) {
  if (x.ndim() < 2)
    fail(std::string("batch_norm: ") + name + ": expected a 2-D or higher array (N, C, ...), got shape " + shape_str(x));
  const std::vector<int64_t> shape = shape_of(x);
  numel(shape, "batch_norm input");
  int64_t S = 1;
  for (size_t i = 2; i < shape.size(); ++i) S *= shape[i];
  return {shape[0], shape[1], S};
}

const float* opt_vec(const std::optional<FArray>& a, const char* name, int64_t C, const FArray& x) {
  if (!a) return nullptr;
  if (a->ndim() != 1 || a->shape(0) != C)
    fail(std::string("batch_norm: ") + name + " must have shape (" + std::to_string(C) + ",) for input " +
         shape_str(x) + ", got " + shape_str(*a));
  return a->data();
}

float* opt_out_vec(std::optional<FOut>& a, const char* name, int64_t C, const FArray& x) {
  if (!a) return nullptr;
  if (a->ndim() != 1 || a->shape(0) != C)
    fail(std::string("batch_norm: ") + name + " must have shape (" + std::to_string(C) + ",) for input " +
         shape_str(x) + ", got " + shape_str(*a));
  check_writeable(*a, name);
  return a->mutable_data();
}

using U8Array = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;

// The checked pointers of a forward call (shared by batch_norm_forward and the residual join).
struct Fwd {
  Dims d;
  const float *w, *b;
  float *rm, *rv;
};

Fwd forward_args(const FArray& x, const std::optional<FArray>& weight, const std::optional<FArray>& bias,
                 std::optional<FOut>& running_mean, std::optional<FOut>& running_var, bool training, double eps) {
  const Dims d = input_dims(x, "input");
  const float* w = opt_vec(weight, "weight", d.C, x);
  const float* b = opt_vec(bias, "bias", d.C, x);
  float* rm = opt_out_vec(running_mean, "running_mean", d.C, x);
  float* rv = opt_out_vec(running_var, "running_var", d.C, x);
  // The running statistics are updated in place while input, weight and bias are read.
  for (const auto* r : {&running_mean, &running_var}) {
    if (!*r) continue;
    const std::string name = std::string("batch_norm: ") + (r == &running_mean ? "running_mean" : "running_var");
    check_no_overlap(**r, name, x, "input");
    if (weight) check_no_overlap(**r, name, *weight, "weight");
    if (bias) check_no_overlap(**r, name, *bias, "bias");
  }
  if (running_mean && running_var) check_no_overlap(*running_var, "batch_norm: running_var", *running_mean, "running_mean");
  if (!(eps >= 0.0)) fail("batch_norm: eps must be >= 0, got " + std::to_string(eps));
  if (!training && (!rm || !rv)) fail("batch_norm: running_mean and running_var are required when training=False");
  if (training && d.N * d.S == 1)
    fail("Expected more than 1 value per channel when training, got input size " + shape_str(x));
  return {d, w, b, rm, rv};
}

py::tuple py_batch_norm_forward(const FArray& x, const std::optional<FArray>& weight, const std::optional<FArray>& bias,
                             std::optional<FOut> running_mean, std::optional<FOut> running_var, bool training,
                             double momentum, double eps, bool relu) {
  const auto [d, w, b, rm, rv] = forward_args(x, weight, bias, running_mean, running_var, training, eps);
  FArray y = new_array(shape_of(x));
  FArray mean = new_array({d.C});
  FArray rstd = new_array({d.C});
  float* py = y.mutable_data();
  float* pm = mean.mutable_data();
  float* pr = rstd.mutable_data();
  const float* px = x.data();
  run_kernel("batch_norm_forward", [&] {
    if (training)
      batch_norm_forward_train(py, pm, pr, rm, rv, px, w, b, d.N, d.C, d.S, static_cast<float>(eps),
                               static_cast<float>(momentum), relu);
    else
      batch_norm_forward_eval(py, pm, pr, px, w, b, rm, rv, d.N, d.C, d.S, static_cast<float>(eps), relu);
  });
  return py::make_tuple(y, mean, rstd);
}

// The checks, outputs and kernel run of a backward call named `op`: kernel(dx, dweight, dbias,
// dy, x, weight, bias, mean, rstd, dims) with dweight / dbias null when weight / bias are None.
template <class Kernel>
py::tuple backward_call(const char* op, const FArray& dy, const FArray& x, const std::optional<FArray>& weight,
                        const std::optional<FArray>& bias, const FArray& save_mean, const FArray& save_rstd,
                        Kernel&& kernel, const std::vector<int64_t>* dy_shape = nullptr) {
  const std::string name(op);
  const Dims d = input_dims(x, "input");
  if (dy_shape)  // the pooled gradient of the BatchNorm -> Sigmoid -> AvgPool2d chain
    check_shape(dy, (name + ": grad_output").c_str(), *dy_shape);
  else
    check_same_shape(dy, (name + ": grad_output").c_str(), x, "input");
  const float* w = opt_vec(weight, "weight", d.C, x);
  const float* b = opt_vec(bias, "bias", d.C, x);
  check_shape(save_mean, (name + ": save_mean").c_str(), {d.C});
  check_shape(save_rstd, (name + ": save_rstd").c_str(), {d.C});
  FArray dx = new_array(shape_of(x));
  const OptionalOut dw = optional_output(w != nullptr, {d.C});
  const OptionalOut db = optional_output(b != nullptr, {d.C});
  float* pdx = dx.mutable_data();
  const float *pdy = dy.data(), *px = x.data(), *pm = save_mean.data(), *pr = save_rstd.data();
  run_kernel(op, [&] { kernel(pdx, dw.data, db.data, pdy, px, w, b, pm, pr, d); });
  return py::make_tuple(dx, dw.array, db.array);
}

py::tuple py_batch_norm_backward(const FArray& dy, const FArray& x, const std::optional<FArray>& weight,
                              const std::optional<FArray>& bias, const FArray& save_mean, const FArray& save_rstd,
                              bool training, bool relu) {
  return backward_call("batch_norm_backward", dy, x, weight, bias, save_mean, save_rstd,
                       [&](float* dx, float* dw, float* db, const float* pdy, const float* px, const float* w,
                           const float* b, const float* pm, const float* pr, const Dims& d) {
                         batch_norm_backward(dx, dw, db, pdy, px, w, b, pm, pr, d.N, d.C, d.S, training, relu);
                       });
}

py::tuple py_add_relu_forward(const FArray& x, const FArray& residual, const std::optional<FArray>& weight,
                              const std::optional<FArray>& bias, std::optional<FOut> running_mean,
                              std::optional<FOut> running_var, bool training, double momentum, double eps) {
  const auto [d, w, b, rm, rv] = forward_args(x, weight, bias, running_mean, running_var, training, eps);
  check_same_shape(residual, "batch_norm_add_relu: residual", x, "input");
  for (auto* r : {&running_mean, &running_var})
    if (*r) check_no_overlap(**r, "batch_norm_add_relu: running statistics", residual, "residual");
  FArray y = new_array(shape_of(x));
  FArray mean = new_array({d.C});
  FArray rstd = new_array({d.C});
  U8Array mask(std::vector<py::ssize_t>{static_cast<py::ssize_t>(batch_norm_mask_bytes(d.N, d.C, d.S))});
  float* py = y.mutable_data();
  float* pm = mean.mutable_data();
  float* pr = rstd.mutable_data();
  uint8_t* pk = mask.mutable_data();
  const float *px = x.data(), *pres = residual.data();
  run_kernel("batch_norm_add_relu_forward", [&] {
    batch_norm_add_relu_forward(py, pk, pm, pr, rm, rv, px, pres, w, b, d.N, d.C, d.S, static_cast<float>(eps),
                                static_cast<float>(momentum), training);
  });
  return py::make_tuple(y, mean, rstd, mask);
}

py::tuple py_add_relu_backward(const FArray& dy, const U8Array& mask, const FArray& x, const std::optional<FArray>& weight,
                               const std::optional<FArray>& bias, const FArray& save_mean, const FArray& save_rstd,
                               bool training) {
  const Dims d = input_dims(x, "input");
  check_same_shape(dy, "batch_norm_add_relu_backward: grad_output", x, "input");
  const float* w = opt_vec(weight, "weight", d.C, x);
  check_shape(save_mean, "batch_norm_add_relu_backward: save_mean", {d.C});
  check_shape(save_rstd, "batch_norm_add_relu_backward: save_rstd", {d.C});
  check_shape(mask, "batch_norm_add_relu_backward: mask", {batch_norm_mask_bytes(d.N, d.C, d.S)});
  FArray dx = new_array(shape_of(x));
  FArray dres = new_array(shape_of(x));
  const OptionalOut dw = optional_output(w != nullptr, {d.C});
  const OptionalOut db = optional_output(opt_vec(bias, "bias", d.C, x) != nullptr, {d.C});
  float *pdx = dx.mutable_data(), *pdr = dres.mutable_data();
  const float *pdy = dy.data(), *px = x.data(), *pm = save_mean.data(), *pr = save_rstd.data();
  const uint8_t* pk = mask.data();
  run_kernel("batch_norm_add_relu_backward", [&] {
    batch_norm_add_relu_backward(pdx, dw.data, db.data, pdr, pdy, pk, px, w, pm, pr, d.N, d.C, d.S, training);
  });
  return py::make_tuple(dx, dw.array, db.array, dres);
}

// sigmoid(batch_norm(x)): the forward's checks and outputs; the backward needs no saved output.
py::tuple py_sigmoid_forward(const FArray& x, const std::optional<FArray>& weight, const std::optional<FArray>& bias,
                             std::optional<FOut> running_mean, std::optional<FOut> running_var, bool training,
                             double momentum, double eps) {
  const auto [d, w, b, rm, rv] = forward_args(x, weight, bias, running_mean, running_var, training, eps);
  FArray y = new_array(shape_of(x));
  FArray mean = new_array({d.C});
  FArray rstd = new_array({d.C});
  float *py = y.mutable_data(), *pm = mean.mutable_data(), *pr = rstd.mutable_data();
  const float* px = x.data();
  run_kernel("batch_norm_sigmoid_forward", [&] {
    batch_norm_sigmoid_forward(py, pm, pr, rm, rv, px, w, b, d.N, d.C, d.S, static_cast<float>(eps),
                               static_cast<float>(momentum), training);
  });
  return py::make_tuple(y, mean, rstd);
}

py::tuple py_sigmoid_backward(const FArray& dy, const FArray& y, const FArray& x, const std::optional<FArray>& weight,
                              const std::optional<FArray>& bias, const FArray& save_mean, const FArray& save_rstd,
                              bool training) {
  check_same_shape(y, "batch_norm_sigmoid_backward: output", x, "input");
  const float* py = y.data();
  return backward_call("batch_norm_sigmoid_backward", dy, x, weight, bias, save_mean, save_rstd,
                       [&](float* dx, float* dw, float* db, const float* pdy, const float* px, const float* w,
                           const float* b, const float* pm, const float* pr, const Dims& d) {
                         batch_norm_sigmoid_backward(dx, dw, db, pdy, py, px, w, b, pm, pr, d.N, d.C, d.S, training);
                       });
}

// avg_pool2d(sigmoid(batch_norm(x))): x must be (N, C, H, W).
Pool2dParams bn_pool_params(const char* op, const FArray& x, Pair kernel, Pair stride, Pair padding, bool ceil_mode) {
  check_ndim(x, (std::string(op) + ": input").c_str(), {4});
  return pool_params(op, shape_of(x), kernel, stride, padding, {1, 1}, ceil_mode);
}

py::tuple py_sigmoid_pool_forward(const FArray& x, const std::optional<FArray>& weight,
                                  const std::optional<FArray>& bias, std::optional<FOut> running_mean,
                                  std::optional<FOut> running_var, bool training, double momentum, double eps,
                                  Pair kernel, Pair stride, Pair padding, bool ceil_mode, bool count_include_pad,
                                  const py::object& divisor_override) {
  const Pool2dParams pp = bn_pool_params("batch_norm_sigmoid_avg_pool2d", x, kernel, stride, padding, ceil_mode);
  const int64_t div = divisor_arg(divisor_override);
  const auto [d, w, b, rm, rv] = forward_args(x, weight, bias, running_mean, running_var, training, eps);
  FArray yp = new_array({d.N, d.C, pp.P, pp.Q});
  FArray y = new_array(shape_of(x));
  FArray mean = new_array({d.C});
  FArray rstd = new_array({d.C});
  float *pyp = yp.mutable_data(), *py = y.mutable_data(), *pm = mean.mutable_data(), *pr = rstd.mutable_data();
  const float* px = x.data();
  run_kernel("batch_norm_sigmoid_avg_pool2d_forward", [&] {
    batch_norm_sigmoid_avg_pool2d_forward(pyp, py, pm, pr, rm, rv, px, w, b, d.N, d.C, pp, count_include_pad, div,
                                          static_cast<float>(eps), static_cast<float>(momentum), training);
  });
  return py::make_tuple(yp, y, mean, rstd);
}

py::tuple py_sigmoid_pool_backward(const FArray& dy, const FArray& y, const FArray& x,
                                   const std::optional<FArray>& weight, const std::optional<FArray>& bias,
                                   const FArray& save_mean, const FArray& save_rstd, bool training, Pair kernel,
                                   Pair stride, Pair padding, bool ceil_mode, bool count_include_pad,
                                   const py::object& divisor_override) {
  const char* op = "batch_norm_sigmoid_avg_pool2d_backward";
  const Pool2dParams pp = bn_pool_params(op, x, kernel, stride, padding, ceil_mode);
  const int64_t div = divisor_arg(divisor_override);
  check_same_shape(y, "batch_norm_sigmoid_avg_pool2d_backward: output", x, "input");
  const std::vector<int64_t> dy_shape{x.shape(0), x.shape(1), pp.P, pp.Q};
  const float* py = y.data();
  return backward_call(op, dy, x, weight, bias, save_mean, save_rstd,
                       [&](float* dx, float* dw, float* db, const float* pdy, const float* px, const float* w,
                           const float* b, const float* pm, const float* pr, const Dims& d) {
                         batch_norm_sigmoid_avg_pool2d_backward(dx, dw, db, pdy, py, px, w, b, pm, pr, d.N, d.C, pp,
                                                                count_include_pad, div, training);
                       },
                       &dy_shape);
}

}  // namespace

void bind_batchnorm(py::module_& m) {
  m.def("batch_norm_sigmoid_avg_pool2d_forward", &py_sigmoid_pool_forward, py::arg("input"),
        py::arg("weight").none(true), py::arg("bias").none(true), py::arg("running_mean").none(true).noconvert(),
        py::arg("running_var").none(true).noconvert(), py::arg("training"), py::arg("momentum"), py::arg("eps"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"), py::arg("divisor_override"),
        "avg_pool2d(sigmoid(batch_norm(input))), input (N, C, H, W): returns (pooled (N, C, P, Q), "
        "sigmoid(batch_norm(input)) (N, C, H, W), save_mean (C,), save_rstd (C,)).");
  m.def("batch_norm_sigmoid_avg_pool2d_backward", &py_sigmoid_pool_backward, py::arg("grad_output"),
        py::arg("output"), py::arg("input"), py::arg("weight").none(true), py::arg("bias").none(true),
        py::arg("save_mean"), py::arg("save_rstd"), py::arg("training"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("divisor_override"),
        "Backward of batch_norm_sigmoid_avg_pool2d_forward from the pooled gradient (N, C, P, Q) and its saved "
        "sigmoid output; returns those of batch_norm_backward.");
  m.def("batch_norm_sigmoid_forward", &py_sigmoid_forward, py::arg("input"), py::arg("weight").none(true),
        py::arg("bias").none(true), py::arg("running_mean").none(true).noconvert(),
        py::arg("running_var").none(true).noconvert(), py::arg("training"), py::arg("momentum"), py::arg("eps"),
        "sigmoid(batch_norm(input)) in one pass; the arguments and returns of batch_norm_forward.");
  m.def("batch_norm_sigmoid_backward", &py_sigmoid_backward, py::arg("grad_output"), py::arg("output"), py::arg("input"),
        py::arg("weight").none(true), py::arg("bias").none(true), py::arg("save_mean"), py::arg("save_rstd"),
        py::arg("training"),
        "Backward of batch_norm_sigmoid_forward from its output; returns those of batch_norm_backward.");
  m.def("batch_norm_forward", &py_batch_norm_forward, py::arg("input"), py::arg("weight").none(true),
        py::arg("bias").none(true), py::arg("running_mean").none(true).noconvert(),
        py::arg("running_var").none(true).noconvert(), py::arg("training"), py::arg("momentum"), py::arg("eps"),
        py::arg("relu") = false,
        "BatchNorm forward (optionally fused with ReLU). input: (N, C, *) float32; weight, bias: (C,) or None; "
        "running_mean, running_var: (C,) float32 updated in place when training, or None. "
        "Returns (output (N, C, *), save_mean (C,), save_rstd (C,)) for batch_norm_backward.");
  m.def("batch_norm_backward", &py_batch_norm_backward, py::arg("grad_output"), py::arg("input"),
        py::arg("weight").none(true), py::arg("bias").none(true), py::arg("save_mean"), py::arg("save_rstd"),
        py::arg("training"), py::arg("relu") = false,
        "BatchNorm backward. Returns (grad_input (N, C, *), grad_weight (C,) or None when weight is None, "
        "grad_bias (C,) or None when bias is None). save_mean/save_rstd come from batch_norm_forward.");
  m.def("batch_norm_add_relu_forward", &py_add_relu_forward, py::arg("input"), py::arg("residual"),
        py::arg("weight").none(true), py::arg("bias").none(true), py::arg("running_mean").none(true).noconvert(),
        py::arg("running_var").none(true).noconvert(), py::arg("training"), py::arg("momentum"), py::arg("eps"),
        "relu(batch_norm(input) + residual) in one pass; residual: the input's shape (N, C, *). Returns (output, "
        "save_mean (C,), save_rstd (C,), mask (uint8 bitmask of the ReLU, for batch_norm_add_relu_backward)).");
  m.def("batch_norm_add_relu_backward", &py_add_relu_backward, py::arg("grad_output"), py::arg("mask"),
        py::arg("input"), py::arg("weight").none(true), py::arg("bias").none(true), py::arg("save_mean"),
        py::arg("save_rstd"), py::arg("training"),
        "Backward of batch_norm_add_relu_forward. Returns (grad_input, grad_weight (C,) or None when weight is None, "
        "grad_bias (C,) or None when bias is None, grad_residual (N, C, *)).");
}

}  // namespace bind
}  // namespace fastdl
