// fastdl._C: one module; each kernel family registers its functions in bind_<family>.cpp.
#include <pybind11/pybind11.h>

#include "../src/core/dispatch.h"
#include "fastdl/common.h"

namespace py = pybind11;

namespace fastdl {
namespace bind {
void bind_core(py::module_& m);
void bind_gemm(py::module_& m);
void bind_gemm_packed(py::module_& m);
void bind_activation(py::module_& m);
void bind_loss(py::module_& m);
void bind_optim(py::module_& m);
void bind_conv(py::module_& m);
void bind_pool(py::module_& m);
void bind_batchnorm(py::module_& m);
void bind_rnn(py::module_& m);
void bind_embedding(py::module_& m);
void bind_testing_activation(py::module_& t);
void bind_testing_optim_loss(py::module_& t);
void bind_testing_rnn(py::module_& t);
void bind_testing_gemm_conv(py::module_& t);
void bind_testing_conv_direct(py::module_& t);
void bind_testing_pool_bn(py::module_& t);
void bind_linear(py::module_& m);
void bind_plan(py::module_& m);
}  // namespace bind
}  // namespace fastdl

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastdl C++ kernels (float32, row-major / NCHW, OpenMP + SIMD)";
  // Raised by the test-only bindings (fastdl._C.testing) for an ISA level the CPU lacks.
  static py::exception<fastdl::UnsupportedIsa> unsupported_isa(m, "UnsupportedIsaError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fastdl::ArgumentError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const fastdl::OutOfMemory& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const fastdl::UnsupportedIsa& e) {
      PyErr_SetString(unsupported_isa.ptr(), e.what());
    }
  });
  // fastdl._C.testing: test-only bindings that reach each entry of each family's per-ISA
  // kernel table directly (<family>_<entry>(isa, ...)); never used by the package itself.
  py::module_ testing = m.def_submodule("testing", "test-only access to the per-ISA kernel tables");
  using namespace fastdl::bind;
  bind_testing_activation(testing);
  bind_testing_optim_loss(testing);
  bind_testing_rnn(testing);
  bind_testing_gemm_conv(testing);
  bind_testing_conv_direct(testing);
  bind_testing_pool_bn(testing);
  bind_core(m);
  bind_gemm(m);
  bind_gemm_packed(m);
  bind_activation(m);
  bind_loss(m);
  bind_optim(m);
  bind_conv(m);
  bind_pool(m);
  bind_batchnorm(m);
  bind_rnn(m);
  bind_embedding(m);
  bind_linear(m);
  bind_plan(m);
}
