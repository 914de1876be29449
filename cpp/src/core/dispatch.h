// Kernel tables: how every kernel family picks its per-ISA code (the model is XNNPACK's
// src/configs/*-config.c and BLIS's bli_cntx_init_<arch>.c).
//
// Each family cpp/src/<family>/ has a private <family>_kernels.h declaring
//   struct <Family>Kernels { <function pointers>; <block sizes / tile constants>; };
//   namespace generic { const <Family>Kernels& <family>_kernels(); }   // <family>_generic.cpp
//   namespace avx2    { const <Family>Kernels& <family>_kernels(); }   // <family>_avx2.cpp
//   namespace avx512  { const <Family>Kernels& <family>_kernels(); }   // <family>_avx512.cpp, if any
// and its dispatcher <family>.cpp defines
//   const <Family>Kernels& <family>_kernels(Isa isa) {
//     return select_kernels<<Family>Kernels>(isa, &generic::<family>_kernels,
//                                           FASTDL_AVX2_TABLE(avx2::<family>_kernels),
//                                           FASTDL_AVX512_TABLE(avx512::<family>_kernels));
//   }
// A public entry point reads the table once, `const auto& k = <family>_kernels(active_isa());`,
// and passes `k` down (never re-reading the ISA inside a loop or a parallel region). The
// test-only bindings call <family>_kernels(isa) for a given level to reach each entry directly.
#pragma once
#include <stdexcept>
#include <string>

#include "fastdl/cpu.h"

namespace fastdl {

// Thrown when a table is asked for an ISA level the CPU (or this build) lacks; the bindings
// turn it into fastdl._C.UnsupportedIsaError, which tests report as a skip.
struct UnsupportedIsa : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#if defined(FASTDL_HAVE_AVX2)
#define FASTDL_AVX2_TABLE(fn) (&fn)
#else
#define FASTDL_AVX2_TABLE(fn) nullptr
#endif
#if defined(FASTDL_HAVE_AVX512)
#define FASTDL_AVX512_TABLE(fn) (&fn)
#else
#define FASTDL_AVX512_TABLE(fn) nullptr
#endif

// The table for `isa`: that level's own table, or the best lower one the family has (a family
// without AVX-512 code runs its AVX2 table on the avx512 level). Throws UnsupportedIsa when
// the CPU lacks `isa`.
template <class Table>
const Table& select_kernels(Isa isa, const Table& (*generic_table)(), const Table& (*avx2_table)(),
                            const Table& (*avx512_table)()) {
  if (!cpu_supports(isa))
    throw UnsupportedIsa(std::string("ISA '") + isa_name(isa) + "' is not supported by this CPU/build");
  if (isa == Isa::avx512 && avx512_table) return avx512_table();
  if (isa >= Isa::avx2 && avx2_table) return avx2_table();
  return generic_table();
}

}  // namespace fastdl
