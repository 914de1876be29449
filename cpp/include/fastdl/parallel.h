// The one parallel-for of fastdl. Every parallel loop goes through parallel_for.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <utility>
#ifdef FASTDL_HAVE_OPENMP
#include <omp.h>
#endif

namespace fastdl {

// Threads used by parallel_for. Starts at OMP_NUM_THREADS (or the core count).
int get_num_threads();
// n >= 1, else throws ArgumentError.
void set_num_threads(int n);

// How one parallel_for splits [begin, end): `chunks` contiguous chunks, chunk c covering
// [lo(c), hi(c)). Made once per parallel call from ONE reading of the thread count, so a
// set_num_threads from another thread while it runs changes nothing: a caller that sizes
// per-chunk buffers makes the plan first, sizes the buffers from plan.chunks, and passes the
// same plan to parallel_for.
struct ParallelPlan {
  int64_t begin = 0, end = 0, chunks = 0;  // chunks == 0 only for an empty range
  int64_t lo(int64_t c) const { return begin + (end - begin) * c / chunks; }
  int64_t hi(int64_t c) const { return begin + (end - begin) * (c + 1) / chunks; }
};

// One chunk (serial) when there is one thread, when the range holds fewer than 2 * grain
// items, or inside another parallel region; else min(threads, n / grain) chunks, all non-empty.
inline ParallelPlan parallel_plan(int64_t begin, int64_t end, int64_t grain) {
  const int64_t n = end - begin;
  if (n <= 0) return {begin, begin, 0};
  int64_t chunks = std::min<int64_t>(get_num_threads(), n / std::max<int64_t>(grain, 1));
#ifdef FASTDL_HAVE_OPENMP
  if (omp_in_parallel()) chunks = 1;
#else
  chunks = 1;
#endif
  return {begin, end, std::max<int64_t>(chunks, 1)};
}

namespace detail {
template <class F>
void run_chunk(F& f, const ParallelPlan& plan, int64_t c) {
  if constexpr (std::is_invocable_v<F&, int64_t, int64_t, int64_t>)
    f(plan.lo(c), plan.hi(c), c);
  else
    f(plan.lo(c), plan.hi(c));
}
}  // namespace detail

// Calls f(lo, hi) - or f(lo, hi, chunk) when f takes a chunk index in [0, plan.chunks) - once
// per chunk of the plan. With more than one chunk, chunk t runs on thread t of one OpenMP region
// (if the runtime grants fewer threads, each thread takes every T-th chunk), so per-chunk
// partial results can be merged in chunk order.
// Exceptions never cross the region: each chunk runs inside try/catch, the first exception is
// kept, chunks not yet started are skipped, and it is rethrown on the calling thread after the
// region has ended (a serial plan simply lets it propagate).
template <class F>
void parallel_for(const ParallelPlan& plan, F&& f) {
  if (plan.chunks <= 0) return;
  if (plan.chunks == 1) {
    detail::run_chunk(f, plan, 0);
    return;
  }
#ifdef FASTDL_HAVE_OPENMP
  std::exception_ptr error;
  std::atomic<bool> failed{false};
#pragma omp parallel num_threads(static_cast<int>(plan.chunks))
  {
    const int64_t T = omp_get_num_threads();
    for (int64_t c = omp_get_thread_num(); c < plan.chunks && !failed.load(std::memory_order_relaxed); c += T) {
      try {
        detail::run_chunk(f, plan, c);
      } catch (...) {
        if (!failed.exchange(true)) error = std::current_exception();  // first one wins
      }
    }
  }
  if (error) std::rethrow_exception(error);
#else
  for (int64_t c = 0; c < plan.chunks; ++c) detail::run_chunk(f, plan, c);
#endif
}

// parallel_for(parallel_plan(begin, end, grain), f). grain >= 1.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  parallel_for(parallel_plan(begin, end, grain), std::forward<F>(f));
}

}  // namespace fastdl
