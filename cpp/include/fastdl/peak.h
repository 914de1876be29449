// The machine's measured float32 FMA peak: the denominator of every "fraction of peak" that
// the benchmarks report (bench/*.py print achieved GFLOP/s / this).
#pragma once
#include "fastdl/cpu.h"

namespace fastdl {

// GFLOP/s of 12 independent vector FMA chains on `isa`'s widest vectors, run on every thread
// of the current thread count at once (one loop per thread) for about `seconds`; the best of
// a few repetitions. Throws ArgumentError for seconds outside (0, 60] and UnsupportedIsa for a
// level the CPU lacks.
double fma_peak_gflops(Isa isa, double seconds);

}  // namespace fastdl
