// The one parallel-for of fastdl. Every parallel loop goes through parallel_for.
#pragma once
#include <algorithm>
#include <cstdint>
#ifdef FASTDL_HAVE_OPENMP
#include <omp.h>
#endif

namespace fastdl {

// Threads used by parallel_for. Starts at OMP_NUM_THREADS (or the core count).
int get_num_threads();
// n >= 1, else throws ArgumentError.
void set_num_threads(int n);
// Index of the calling thread inside a parallel_for (0 outside).
inline int thread_index() {
#ifdef FASTDL_HAVE_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Calls f(lo, hi) on disjoint chunks covering [begin, end). Stays serial (one call with the
// whole range, on the calling thread) when there is one thread, when the range holds fewer
// than 2 * grain items, or inside another parallel region. Chunks are contiguous and given to
// threads in order (thread t gets the t-th chunk), so per-thread partial results can be merged
// in a fixed order. grain >= 1.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t nt = std::min<int64_t>(get_num_threads(), n / grain);
#ifdef FASTDL_HAVE_OPENMP
  if (omp_in_parallel()) nt = 1;
#else
  nt = 1;
#endif
  if (nt <= 1) {
    f(begin, end);
    return;
  }
#ifdef FASTDL_HAVE_OPENMP
#pragma omp parallel num_threads(static_cast<int>(nt))
  {
    const int64_t t = omp_get_thread_num();
    const int64_t T = omp_get_num_threads();
    const int64_t lo = begin + n * t / T;
    const int64_t hi = begin + n * (t + 1) / T;
    if (lo < hi) f(lo, hi);
  }
#endif
}

// Number of chunks parallel_for will use for this range (for sizing per-thread buffers).
inline int64_t parallel_chunks(int64_t n, int64_t grain) {
  if (n <= 0) return 0;
  int64_t nt = std::min<int64_t>(get_num_threads(), n / std::max<int64_t>(grain, 1));
  return std::max<int64_t>(nt, 1);
}

}  // namespace fastdl
