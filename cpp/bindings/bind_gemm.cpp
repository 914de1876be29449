// Bindings: SGEMM on 2-D arrays.
#include "array_check.h"
#include "fastdl/gemm.h"

namespace fastdl {
namespace bind {

// C = alpha * op(a) @ op(b) + beta * C. `out`, when given, must be float32, C-contiguous and
// (M, N); it is C on input (read only when beta != 0) and the result on output.
static py::object gemm(const FArray& a, const FArray& b, bool trans_a, bool trans_b, float alpha,
                       float beta, py::object out) {
  check_ndim(a, "a", {2});
  check_ndim(b, "b", {2});
  const int64_t M = trans_a ? a.shape(1) : a.shape(0);
  const int64_t K = trans_a ? a.shape(0) : a.shape(1);
  const int64_t Kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t N = trans_b ? b.shape(0) : b.shape(1);
  if (K != Kb)
    fail("gemm: inner dimensions disagree: op(a) is " + shape_str(std::vector<int64_t>{M, K}) +
         " (a " + shape_str(a) + (trans_a ? ", transposed" : "") + ") and op(b) is " +
         shape_str(std::vector<int64_t>{Kb, N}) + " (b " + shape_str(b) + (trans_b ? ", transposed" : "") + ")");
  checked_mul(checked_mul(M, N, "gemm output"), K, "gemm work");
  FOut c;
  if (out.is_none()) {
    c = new_array({M, N});
    beta = 0.0f;  // a fresh output has no previous value
  } else {
    py::array o = py::reinterpret_borrow<py::array>(out);
    if (!py::isinstance<py::array>(out)) throw py::type_error("gemm: out must be a numpy array");
    if (!py::isinstance<py::array_t<float>>(out) || !(o.flags() & py::array::c_style))
      fail("gemm: out must be a float32 C-contiguous array, got dtype " + std::string(py::str(o.dtype())) +
           (o.flags() & py::array::c_style ? "" : " (not C-contiguous)"));
    check_shape(o, "gemm: out", {M, N});
    check_writeable(o, "gemm: out");
    c = py::reinterpret_borrow<FOut>(out);
  }
  const float* pa = a.data();
  const float* pb = b.data();
  float* pc = c.mutable_data();
  {
    py::gil_scoped_release nogil;
    sgemm(trans_a, trans_b, M, N, K, alpha, pa, a.shape(1), pb, b.shape(1), beta, pc, N);
  }
  return c;
}

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f,
        py::arg("out") = py::none(),
        "alpha * op(a) @ op(b) + beta * out, float32. a: (M, K) or (K, M) when trans_a; "
        "b: (K, N) or (N, K) when trans_b; out: (M, N) float32 C-contiguous or None.");
}

}  // namespace bind
}  // namespace fastdl
