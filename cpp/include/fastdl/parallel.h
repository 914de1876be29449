// The one parallel-for of fastdl. Every parallel loop goes through parallel_for.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

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

namespace detail {
// True on a pool worker, and on the calling thread while it runs chunks of a parallel_for.
bool in_parallel_region();
// The most chunks one parallel_for makes (and so the most threads it uses).
constexpr int64_t kMaxChunks = 256;
// Runs call(ctx, c) once for every chunk c in [0, chunks) on the calling thread and the pool's
// workers, and returns when all have finished; rethrows the first exception (see parallel_for).
void run_chunks(int64_t chunks, void (*call)(void*, int64_t), void* ctx);
}  // namespace detail

// One chunk (serial) when there is one thread, when the range holds fewer than 2 * grain
// items, or inside another parallel region; else min(threads, n / grain) chunks, all non-empty.
inline ParallelPlan parallel_plan(int64_t begin, int64_t end, int64_t grain) {
  const int64_t n = end - begin;
  if (n <= 0) return {begin, begin, 0};
  int64_t chunks = std::min<int64_t>(std::min<int64_t>(get_num_threads(), detail::kMaxChunks),
                                     n / std::max<int64_t>(grain, 1));
  if (detail::in_parallel_region()) chunks = 1;
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
// per chunk of the plan. With more than one chunk, the chunks are handed out one at a time to
// the calling thread and the workers of fastdl's thread pool, whichever asks first: a worker
// the OS has not scheduled yet simply gets none, so a busy machine costs at worst the serial
// time, never a wait for a descheduled thread (a static OpenMP split waits for it). Which
// thread runs a chunk is unspecified; per-chunk partial results are merged in chunk order by
// the caller, so results depend on plan.chunks only. A parallel_for from inside a chunk, or
// while another thread's parallel_for holds the pool, runs its chunks serially in order.
// Exceptions never cross threads unhandled: each chunk runs inside try/catch, the first
// exception is kept, chunks not yet started are skipped, and it is rethrown on the calling
// thread after all chunks have finished (a serial plan simply lets it propagate).
template <class F>
void parallel_for(const ParallelPlan& plan, F&& f) {
  if (plan.chunks <= 0) return;
  if (plan.chunks == 1) {
    detail::run_chunk(f, plan, 0);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  struct Job {
    Fn* f;
    const ParallelPlan* plan;
  } job{&f, &plan};
  detail::run_chunks(
      plan.chunks,
      [](void* p, int64_t c) {
        auto* j = static_cast<Job*>(p);
        detail::run_chunk(*j->f, *j->plan, c);
      },
      &job);
}

// parallel_for(parallel_plan(begin, end, grain), f). grain >= 1.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  parallel_for(parallel_plan(begin, end, grain), std::forward<F>(f));
}

}  // namespace fastdl
