// Bindings: version, ISA dispatch and threads.
#include "array_check.h"

#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "fastdl/cpu.h"
#include "fastdl/parallel.h"
#include "fastdl/peak.h"

namespace fastdl {
namespace bind {

// Activations and gradients are allocated and freed every step. glibc returns freed memory at
// the top of the heap to the OS (trim) and serves large blocks with mmap, so the next step
// page-faults every page again (docs/kernels.md §2: 5x slower elementwise ops). Keep freed memory
// for reuse instead: raise the trim threshold and pin the mmap threshold at glibc's maximum.
// Peak RSS is unchanged; FASTDL_KEEP_MALLOC=1 leaves malloc's defaults alone.
static void tune_malloc() {
#if defined(__GLIBC__)
  const char* keep = std::getenv("FASTDL_KEEP_MALLOC");
  if (keep && *keep && *keep != '0') return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
#endif
}

void bind_core(py::module_& m) {
  tune_malloc();
  m.def("get_isa", [] { return std::string(isa_name(active_isa())); },
        "The kernel path in use: 'avx512', 'avx2' or 'generic'.");
  m.def("set_isa", &set_isa, py::arg("name"),
        "Selects the kernel path ('generic', 'avx2' or 'avx512'); raises ValueError if the CPU lacks it.");
  m.def("cpu_supports", [](const std::string& name) { return cpu_supports(parse_isa(name)); },
        py::arg("name"));
  m.def("get_num_threads", &get_num_threads);
  m.def("_scratch_bytes", &scratch_bytes, "Bytes held by the calling thread's kernel scratch buffers.");
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
  m.def("fma_peak", [](const std::string& isa, double seconds) {
    const Isa level = parse_isa(isa);
    double gflops = 0;
    run_kernel("fma_peak", [&] { gflops = fma_peak_gflops(level, seconds); });
    return gflops;
  }, py::arg("isa"), py::arg("seconds") = 0.5,
        "Measured float32 FMA peak in GFLOP/s of `isa` on the current thread count.");
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
