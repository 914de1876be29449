// Bindings: version, ISA dispatch and threads.
#include "array_check.h"
#include "fastdl/cpu.h"
#include "fastdl/parallel.h"

namespace fastdl {
namespace bind {

void bind_core(py::module_& m) {
  m.def("get_isa", [] { return std::string(isa_name(active_isa())); },
        "The kernel path in use: 'avx512', 'avx2' or 'generic'.");
  m.def("set_isa", &set_isa, py::arg("name"),
        "Selects the kernel path ('generic', 'avx2' or 'avx512'); raises ValueError if the CPU lacks it.");
  m.def("cpu_supports", [](const std::string& name) { return cpu_supports(parse_isa(name)); },
        py::arg("name"));
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", [](int64_t n) {
    if (n < 1 || n > 4096) throw ArgumentError("set_num_threads: n must be in [1, 4096], got " + std::to_string(n));
    set_num_threads(static_cast<int>(n));
  }, py::arg("n"));
#ifdef FASTDL_SANITIZE_CANARY
  // CI proof that the sanitizer is active: a deliberate heap overflow (sanitized builds only).
  m.def("_sanitizer_canary", [] {
    volatile int n = 8;
    int* p = new int[n];
    p[n] = 1;  // one past the end
    int v = p[0];
    delete[] p;
    return v;
  });
#endif
  m.def("has_openmp", [] {
#ifdef FASTDL_HAVE_OPENMP
    return true;
#else
    return false;
#endif
  });
}

}  // namespace bind
}  // namespace fastdl
