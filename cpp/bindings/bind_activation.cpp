// Bindings for the activation family: elementwise activations (+ exp), softmax / log_softmax
// over any dim, and dropout.
#include <string>

#include "array_check.h"
#include "fastdl/activation.h"
#include "fastdl/dropout.h"
#include "fastdl/softmax.h"

namespace fastdl {
namespace bind {

namespace {

// A fresh float32 array of `shape`, or `out` after checking it (float32, C-contiguous,
// writeable, exactly `shape`, and either the input itself or sharing no memory with it).
FArray output_for(const char* fn, py::object out, const py::array& like) {
  if (out.is_none()) return new_array(shape_of(like));
  if (!py::isinstance<py::array>(out)) throw py::type_error(std::string(fn) + ": out must be a numpy array");
  py::array o = py::reinterpret_borrow<py::array>(out);
  if (!py::isinstance<py::array_t<float>>(out) || !(o.flags() & py::array::c_style))
    fail(std::string(fn) + ": out must be a float32 C-contiguous array, got dtype " + std::string(py::str(o.dtype())) +
         (o.flags() & py::array::c_style ? "" : " (not C-contiguous)"));
  check_same_shape(o, (std::string(fn) + ": out").c_str(), like, "input");
  check_writeable(o, (std::string(fn) + ": out").c_str());
  check_no_overlap(o, std::string(fn) + ": out", like, "input", true);  // out=input: in place
  return py::reinterpret_borrow<FArray>(out);
}

FArray act_forward(Activation act, const char* fn, const FArray& x, float param, py::object out) {
  FArray y = output_for(fn, out, x);
  const float* px = x.data();
  float* py_ = y.mutable_data();
  const int64_t n = x.size();
  run_kernel(fn, [&] {
    activation_forward(act, py_, px, n, param);
  });
  return y;
}

FArray act_backward(Activation act, const char* fn, const FArray& dy, const FArray& saved, const char* saved_name,
                    float param) {
  check_same_shape(dy, (std::string(fn) + ": grad_output").c_str(), saved, saved_name);
  FArray dx = new_array(shape_of(dy));
  const float* pdy = dy.data();
  const float* ps = saved.data();
  float* pdx = dx.mutable_data();
  const int64_t n = dy.size();
  run_kernel(fn, [&] {
    activation_backward(act, pdx, pdy, ps, n, param);
  });
  return dx;
}

struct Dims {
  int64_t outer, C, inner;
};

// (outer, C, inner) of x around `dim` (negative dims count from the end; a 0-d array is one
// value). Out of range -> IndexError with torch's wording.
Dims split_dims(const py::array& x, int64_t dim, const char* fn) {
  const int64_t nd = x.ndim();
  const int64_t lo = nd == 0 ? -1 : -nd, hi = nd == 0 ? 0 : nd - 1;
  if (dim < lo || dim > hi)
    throw py::index_error(std::string(fn) + ": Dimension out of range (expected to be in range of [" +
                          std::to_string(lo) + ", " + std::to_string(hi) + "], but got " + std::to_string(dim) + ")");
  if (nd == 0) return {1, 1, 1};
  if (dim < 0) dim += nd;
  Dims d{1, x.shape(dim), 1};
  for (int64_t i = 0; i < dim; ++i) d.outer *= x.shape(i);
  for (int64_t i = dim + 1; i < nd; ++i) d.inner *= x.shape(i);
  return d;
}

FArray softmax_fwd(bool log, const FArray& x, int64_t dim, py::object out) {
  const char* fn = log ? "log_softmax" : "softmax";
  const Dims d = split_dims(x, dim, fn);
  FArray y = output_for(fn, out, x);
  const float* px = x.data();
  float* py_ = y.mutable_data();
  run_kernel(fn, [&] {
    if (log)
      log_softmax_forward(py_, px, d.outer, d.C, d.inner);
    else
      softmax_forward(py_, px, d.outer, d.C, d.inner);
  });
  return y;
}

FArray softmax_bwd(bool log, const FArray& dy, const FArray& y, int64_t dim) {
  const char* fn = log ? "log_softmax_backward" : "softmax_backward";
  check_same_shape(dy, (std::string(fn) + ": grad_output").c_str(), y, "output");
  const Dims d = split_dims(y, dim, fn);
  FArray dx = new_array(shape_of(y));
  const float* pdy = dy.data();
  const float* pyv = y.data();
  float* pdx = dx.mutable_data();
  run_kernel(fn, [&] {
    if (log)
      log_softmax_backward(pdx, pdy, pyv, d.outer, d.C, d.inner);
    else
      softmax_backward(pdx, pdy, pyv, d.outer, d.C, d.inner);
  });
  return dx;
}

using U8Array = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;

void check_p(float p, const char* fn) {
  if (!(p >= 0.0f && p <= 1.0f))
    fail(std::string(fn) + ": dropout probability has to be between 0 and 1, but got " + std::to_string(p));
}

py::tuple dropout_fwd(const FArray& x, float p, uint64_t seed) {
  check_p(p, "dropout");
  FArray y = new_array(shape_of(x));
  std::vector<py::ssize_t> s(x.shape(), x.shape() + x.ndim());
  U8Array mask(s);
  const float* px = x.data();
  float* py_ = y.mutable_data();
  uint8_t* pm = mask.mutable_data();
  const int64_t n = x.size();
  run_kernel("dropout_forward", [&] {
    dropout_forward(py_, pm, px, n, p, seed);
  });
  return py::make_tuple(y, mask);
}

FArray dropout_bwd(const FArray& dy, const U8Array& mask, float p) {
  check_p(p, "dropout_backward");
  check_same_shape(dy, "dropout_backward: grad_output", mask, "mask");
  FArray dx = new_array(shape_of(dy));
  const float* pdy = dy.data();
  const uint8_t* pm = mask.data();
  float* pdx = dx.mutable_data();
  const int64_t n = dy.size();
  run_kernel("dropout_backward", [&] {
    dropout_backward(pdx, pdy, pm, n, p);
  });
  return dx;
}

}  // namespace

void bind_activation(py::module_& m) {
  const auto none = py::none();
  m.def("relu_forward", [](const FArray& x, py::object out) { return act_forward(Activation::relu, "relu", x, 0.f, out); },
        py::arg("x"), py::arg("out") = none, "max(x, 0), float32, any shape; out: same-shape float32 buffer or None.");
  m.def("relu_backward",
        [](const FArray& dy, const FArray& y) { return act_backward(Activation::relu, "relu_backward", dy, y, "output", 0.f); },
        py::arg("grad_output"), py::arg("output"), "grad_output where output > 0, else 0.");
  m.def("leaky_relu_forward",
        [](const FArray& x, float s, py::object out) { return act_forward(Activation::leaky_relu, "leaky_relu", x, s, out); },
        py::arg("x"), py::arg("negative_slope") = 0.01f, py::arg("out") = none);
  m.def("leaky_relu_backward",
        [](const FArray& dy, const FArray& x, float s) {
          return act_backward(Activation::leaky_relu, "leaky_relu_backward", dy, x, "input", s);
        },
        py::arg("grad_output"), py::arg("input"), py::arg("negative_slope") = 0.01f);
  m.def("elu_forward", [](const FArray& x, float a, py::object out) { return act_forward(Activation::elu, "elu", x, a, out); },
        py::arg("x"), py::arg("alpha") = 1.0f, py::arg("out") = none);
  m.def("elu_backward",
        [](const FArray& dy, const FArray& x, float a) { return act_backward(Activation::elu, "elu_backward", dy, x, "input", a); },
        py::arg("grad_output"), py::arg("input"), py::arg("alpha") = 1.0f);
  m.def("sigmoid_forward",
        [](const FArray& x, py::object out) { return act_forward(Activation::sigmoid, "sigmoid", x, 0.f, out); },
        py::arg("x"), py::arg("out") = none);
  m.def("sigmoid_backward",
        [](const FArray& dy, const FArray& y) {
          return act_backward(Activation::sigmoid, "sigmoid_backward", dy, y, "output", 0.f);
        },
        py::arg("grad_output"), py::arg("output"));
  m.def("tanh_forward", [](const FArray& x, py::object out) { return act_forward(Activation::tanh, "tanh", x, 0.f, out); },
        py::arg("x"), py::arg("out") = none);
  m.def("tanh_backward",
        [](const FArray& dy, const FArray& y) { return act_backward(Activation::tanh, "tanh_backward", dy, y, "output", 0.f); },
        py::arg("grad_output"), py::arg("output"));
  m.def("exp", [](const FArray& x, py::object out) { return act_forward(Activation::exp, "exp", x, 0.f, out); },
        py::arg("x"), py::arg("out") = none,
        "exp(x), float32 (AVX2 path: <= 4 ulp, 0 below ln FLT_MIN, inf above ln FLT_MAX).");

  m.def("softmax_forward", [](const FArray& x, int64_t dim, py::object out) { return softmax_fwd(false, x, dim, out); },
        py::arg("x"), py::arg("dim"), py::arg("out") = none);
  m.def("log_softmax_forward", [](const FArray& x, int64_t dim, py::object out) { return softmax_fwd(true, x, dim, out); },
        py::arg("x"), py::arg("dim"), py::arg("out") = none);
  m.def("softmax_backward", [](const FArray& dy, const FArray& y, int64_t dim) { return softmax_bwd(false, dy, y, dim); },
        py::arg("grad_output"), py::arg("output"), py::arg("dim"));
  m.def("log_softmax_backward",
        [](const FArray& dy, const FArray& y, int64_t dim) { return softmax_bwd(true, dy, y, dim); },
        py::arg("grad_output"), py::arg("output"), py::arg("dim"));

  m.def("dropout_forward", &dropout_fwd, py::arg("x"), py::arg("p"), py::arg("seed"),
        "(y, mask): mask uint8 (1 = kept), y = x * mask / (1 - p); deterministic in (seed, index).");
  m.def("dropout_backward", &dropout_bwd, py::arg("grad_output"), py::arg("mask"), py::arg("p"),
        "grad_output * mask / (1 - p) (0 when p == 1).");
}

}  // namespace bind
}  // namespace fastdl
