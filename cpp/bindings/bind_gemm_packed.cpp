// Bindings: the pre-packed GEMM operand (fastdl/gemm_packed.h) as fastdl._C.PackedB,
// _C.pack_b and _C.gemm_packed (fastdl.ops.pack_b / gemm_packed wrap them).
#include <cstdint>
#include <string>

#include "array_check.h"
#include "fastdl/gemm_packed.h"

namespace fastdl {
namespace bind {

static PackedB pack(const FArray& b, bool trans_b, const std::string& isa) {
  check_ndim(b, "pack_b: b", {2});
  const int64_t K = trans_b ? b.shape(1) : b.shape(0);
  const int64_t N = trans_b ? b.shape(0) : b.shape(1);
  const Isa level = parse_isa(isa);
  PackedB p;
  const float* pb = b.data();
  run_kernel("pack_b", [&] { p = pack_b(level, trans_b, K, N, pb, b.shape(1)); });
  return p;
}

static py::object gemm_packed(const FArray& a, const PackedB& b, bool trans_a, float alpha,
                              float beta, const py::object& out) {
  check_ndim(a, "gemm_packed: a", {2});
  const int64_t M = trans_a ? a.shape(1) : a.shape(0);
  const int64_t K = trans_a ? a.shape(0) : a.shape(1);
  if (!b.data) fail("gemm_packed: b is an empty PackedB (make it with pack_b)");
  if (K != b.K)
    fail("gemm_packed: inner dimensions disagree: op(a) is " + shape_str(std::vector<int64_t>{M, K}) +
         " (a " + shape_str(a) + (trans_a ? ", transposed" : "") + ") and the packed b is " +
         shape_str(std::vector<int64_t>{b.K, b.N}));
  FOut c;
  if (out.is_none()) {
    c = new_array({M, b.N});
    beta = 0.0f;  // a fresh output has no previous value
  } else {
    if (!py::isinstance<FOut>(out))
      throw py::type_error("gemm_packed: out must be a float32 C-contiguous numpy array or None");
    c = py::reinterpret_borrow<FOut>(out);
    check_ndim(c, "gemm_packed: out", {2});
    check_shape(c, "gemm_packed: out", {M, b.N});
    check_writeable(c, "gemm_packed: out");
    check_no_overlap(c, "gemm_packed: out", a, "a");
  }
  const float* pa = a.data();
  float* pc = c.mutable_data();
  const int64_t lda = a.shape(1);
  run_kernel("gemm_packed", [&] { sgemm_packed(trans_a, M, alpha, pa, lda, b, beta, pc, b.N); });
  return std::move(c);
}

void bind_gemm_packed(py::module_& m) {
  py::class_<PackedB>(m, "PackedB", "op(b) packed once into one ISA's GEMM panel layout")
      .def_property_readonly("shape", [](const PackedB& p) { return py::make_tuple(p.K, p.N); })
      .def_property_readonly("isa", [](const PackedB& p) { return std::string(isa_name(p.isa)); })
      .def_property_readonly("kc", [](const PackedB& p) { return p.kc; })
      .def_property_readonly("nr", [](const PackedB& p) { return p.nr; })
      .def("__repr__", [](const PackedB& p) {
        return "PackedB(shape=(" + std::to_string(p.K) + ", " + std::to_string(p.N) + "), isa='" +
               isa_name(p.isa) + "')";
      });
  m.def("pack_b", &pack, py::arg("b"), py::arg("trans_b"), py::arg("isa"),
        "Packs op(b) (K x N) for gemm_packed on ISA level `isa`.");
  m.def("gemm_packed", &gemm_packed, py::arg("a"), py::arg("b"), py::arg("trans_a"),
        py::arg("alpha"), py::arg("beta"), py::arg("out"),
        "alpha * op(a) @ b_packed + beta * out, float32.");
}

}  // namespace bind
}  // namespace fastdl
