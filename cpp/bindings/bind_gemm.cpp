// Bindings: SGEMM on 2-D arrays, plus the GEMM tuning knobs (for benchmarks and tests).
#include <cstdint>

#include "array_check.h"
#include "fastdl/gemm.h"

namespace fastdl {
namespace bind {

// Any numeric array-like as an ndarray of its own dtype (no float32 copy yet, so shape checks
// run before anything the size of the operands is allocated).
static py::array as_numeric_array(const py::object& x, const char* name) {
  if (is_float_array(x)) return py::reinterpret_borrow<py::array>(x);
  if (x.is_none() || py::isinstance<py::str>(x) || py::isinstance<py::bytes>(x))
    throw py::type_error(std::string("gemm: ") + name + " must be an array, got " +
                         std::string(py::str(py::type::of(x).attr("__name__"))));
  py::array a = py::array::ensure(x);
  if (!a) {
    PyErr_Clear();
    throw py::type_error(std::string("gemm: ") + name + " must be an array-like of numbers");
  }
  const char kind = a.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
    throw py::type_error(std::string("gemm: ") + name + " must be numeric, got dtype " +
                         std::string(py::str(a.dtype())));
  return a;
}

// C = alpha * op(a) @ op(b) + beta * C. `out`, when given, must be float32, C-contiguous,
// writeable and (M, N); it is C on input (read only when beta != 0) and the result on output.
// Operands that already are aligned float32 C-contiguous arrays are used as they are (no
// conversion call, no new array): the fixed cost of a small product is mostly this binding.
static py::object gemm(const py::object& a_obj, const py::object& b_obj, bool trans_a,
                       bool trans_b, float alpha, float beta, const py::object& out) {
  py::array a0 = as_numeric_array(a_obj, "a");
  py::array b0 = as_numeric_array(b_obj, "b");
  check_ndim(a0, "gemm: a", {2});
  check_ndim(b0, "gemm: b", {2});
  const int64_t M = trans_a ? a0.shape(1) : a0.shape(0);
  const int64_t K = trans_a ? a0.shape(0) : a0.shape(1);
  const int64_t Kb = trans_b ? b0.shape(1) : b0.shape(0);
  const int64_t N = trans_b ? b0.shape(0) : b0.shape(1);
  if (K != Kb)
    fail("gemm: inner dimensions disagree: op(a) is " + shape_str(std::vector<int64_t>{M, K}) +
         " (a " + shape_str(a0) + (trans_a ? ", transposed" : "") + ") and op(b) is " +
         shape_str(std::vector<int64_t>{Kb, N}) + " (b " + shape_str(b0) +
         (trans_b ? ", transposed" : "") + ")");
  checked_mul(checked_mul(M, N, "gemm output size M*N"), K, "gemm work M*N*K");
  checked_mul(checked_mul(M, N, "gemm output size M*N"), int64_t(sizeof(float)),
              "gemm output size M*N");
  const bool has_out = !out.is_none();
  if (has_out) {
    if (!py::isinstance<py::array>(out))
      throw py::type_error("gemm: out must be a numpy array or None, got " +
                           std::string(py::str(py::type::of(out).attr("__name__"))));
    const auto o = py::reinterpret_borrow<py::array>(out);
    if (!py::isinstance<py::array_t<float>>(o))
      fail("gemm: out must be float32, got dtype " + std::string(py::str(o.dtype())));
    check_ndim(o, "gemm: out", {2});
    if (o.shape(0) != M || o.shape(1) != N) check_shape(o, "gemm: out", {M, N});
    if (!(o.flags() & py::array::c_style)) fail("gemm: out must be C-contiguous");
    check_writeable(o, "gemm: out");
  }
  const FArray a = is_float_array(a0) ? py::reinterpret_borrow<FArray>(a0) : FArray::ensure(a0);
  const FArray b = is_float_array(b0) ? py::reinterpret_borrow<FArray>(b0) : FArray::ensure(b0);
  if (!a || !b) throw py::error_already_set();
  py::object result;
  float* pc;
  if (has_out) {
    auto c = py::reinterpret_borrow<py::array>(out);
    if (shares_memory(c, a)) check_no_overlap(c, "gemm: out", a, "a");
    if (shares_memory(c, b)) check_no_overlap(c, "gemm: out", b, "b");
    pc = static_cast<float*>(c.mutable_data());
    result = out;
  } else {
    FArray c = new_array({M, N});
    pc = c.mutable_data();
    result = std::move(c);
    beta = 0.0f;  // a fresh output has no previous value
  }
  const float* pa = a.data();
  const float* pb = b.data();
  const int64_t lda = a.shape(1), ldb = b.shape(1);
  run_kernel("gemm", [&] {
    sgemm(trans_a, trans_b, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, N);
  }, 2.0 * double(M) * double(N) * double(K));
  return result;
}

static py::dict config_dict(const GemmConfig& c) {
  py::dict d;
  d["mc"] = c.mc;
  d["kc"] = c.kc;
  d["nc"] = c.nc;
  d["path"] = c.path;
  d["thread_flops"] = c.thread_flops;
  return d;
}

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f,
        py::arg("out") = py::none(),
        "alpha * op(a) @ op(b) + beta * out, float32. a: (M, K) or (K, M) when trans_a; "
        "b: (K, N) or (N, K) when trans_b; out: (M, N) float32 C-contiguous or None.");
  m.def("_gemm_config", [] { return config_dict(gemm_config()); },
        "The SGEMM blocking/path knobs: dict(mc, kc, nc, path, thread_flops).");
  m.def("_gemm_default_config", [] { return config_dict(default_gemm_config()); });
  m.def("_set_gemm_config",
        [](int64_t mc, int64_t kc, int64_t nc, int path, int64_t thread_flops) {
          set_gemm_config(GemmConfig{mc, kc, nc, path, thread_flops});
        },
        py::arg("mc"), py::arg("kc"), py::arg("nc"), py::arg("path"), py::arg("thread_flops"),
        "Sets the SGEMM knobs (tuning/tests only): mc multiple of 6, nc multiple of 16, "
        "kc >= 1, path 0 auto / 1 direct / 2 packed / 3 dot, thread_flops >= 0.");
}

}  // namespace bind
}  // namespace fastdl
