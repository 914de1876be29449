// Bindings: linear layer forward (bias-filled SGEMM), backward (dx, dW, db) and column sums.
#include <cstdint>

#include "array_check.h"
#include "fastdl/gemm.h"
#include "fastdl/linear.h"

namespace fastdl {
namespace bind {

// y (M, N) = x (M, K) @ weight^T (weight (N, K)) + bias (N,) or no bias when None.
static FArray linear_forward(const FArray& x, const FArray& w, const py::object& bias) {
  check_ndim(x, "linear_forward: x", {2});
  check_ndim(w, "linear_forward: weight", {2});
  const int64_t M = x.shape(0), K = x.shape(1), N = w.shape(0);
  if (w.shape(1) != K)
    fail("linear_forward: x " + shape_str(x) + " and weight " + shape_str(w) +
         " disagree (expected weight (out_features, " + std::to_string(K) + "))");
  FArray b;
  const float* pb = nullptr;
  if (!bias.is_none()) {
    b = FArray::ensure(bias);
    if (!b) throw py::error_already_set();
    check_shape(b, "linear_forward: bias", {N});
    pb = b.data();
  }
  checked_mul(checked_mul(M, N, "linear output size"), K, "linear work M*N*K");
  FArray y = new_array({M, N});
  const float* px = x.data();
  const float* pw = w.data();
  float* py_ = y.mutable_data();
  run_kernel("linear_forward", [&] {
    ::fastdl::linear_forward(py_, px, pw, pb, M, N, K);
  });
  return y;
}

// Gradients of y = x @ w^T + b for dy (M, N), x (M, K), w (N, K): (dx, dw, db), each None
// unless requested: dx = dy @ w, dw = dy^T @ x, db = dy.sum(0).
static py::tuple linear_backward(const FArray& dy, const FArray& x, const FArray& w, bool need_x,
                                 bool need_w, bool need_b) {
  check_ndim(dy, "linear_backward: dy", {2});
  check_ndim(x, "linear_backward: x", {2});
  check_ndim(w, "linear_backward: weight", {2});
  const int64_t M = x.shape(0), K = x.shape(1), N = w.shape(0);
  check_shape(w, "linear_backward: weight", {N, K});
  check_shape(dy, "linear_backward: dy", {M, N});
  const OptionalOut dx = optional_output(need_x, {M, K});
  const OptionalOut dw = optional_output(need_w, {N, K});
  const OptionalOut db = optional_output(need_b, {N});
  const float* pdy = dy.data();
  const float* px = x.data();
  const float* pw = w.data();
  run_kernel("linear_backward", [&] {
    if (dx.data) sgemm(false, false, M, K, N, 1.0f, pdy, N, pw, K, 0.0f, dx.data, K);
    if (dw.data) sgemm(true, false, N, K, M, 1.0f, pdy, N, px, K, 0.0f, dw.data, K);
    if (db.data) sum_rows(db.data, pdy, M, N);
  });
  return py::make_tuple(dx.array, dw.array, db.array);
}

// out (N,) = x (M, N) summed over rows (x.sum(axis=0)).
static FArray sum_rows_py(const FArray& x) {
  check_ndim(x, "sum_rows: x", {2});
  const int64_t M = x.shape(0), N = x.shape(1);
  FArray out = new_array({N});
  const float* px = x.data();
  float* po = out.mutable_data();
  run_kernel("sum_rows", [&] {
    sum_rows(po, px, M, N);
  });
  return out;
}

void bind_linear(py::module_& m) {
  m.def("linear_forward", &linear_forward, py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(),
        "x (M, K) @ weight^T + bias: weight (N, K), bias (N,) or None; returns (M, N).");
  m.def("linear_backward", &linear_backward, py::arg("dy"), py::arg("x"), py::arg("weight"),
        py::arg("need_x") = true, py::arg("need_weight") = true, py::arg("need_bias") = true,
        "(dx, dweight, dbias) of linear_forward for dy (M, N); None where not requested.");
  m.def("sum_rows", &sum_rows_py, py::arg("x"), "x (M, N) summed over rows: (N,) == x.sum(axis=0).");
}

}  // namespace bind
}  // namespace fastdl
