// Thread count and the thread pool behind parallel_for (the template lives in parallel.h).
#include "fastdl/parallel.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>
#ifdef FASTDL_HAVE_OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTDL_PAUSE() _mm_pause()
#else
#define FASTDL_PAUSE() ((void)0)
#endif

#include "fastdl/common.h"

namespace fastdl {

static int initial_threads() {
#ifdef FASTDL_HAVE_OPENMP
  return std::max(1, omp_get_max_threads());  // honours OMP_NUM_THREADS
#else
  return 1;
#endif
}

static std::atomic<int> g_threads{0};

// libgomp is not fork-safe: a forked child that enters a parallel region after the parent
// used one hangs (its pool threads do not exist in the child). The child therefore runs fastdl
// serially, and set_num_threads(n > 1) there raises instead of deadlocking later.
static std::atomic<bool> g_forked_child{false};
static void on_fork_child() {
  g_threads.store(1);
  g_forked_child.store(true);
}
static const bool g_atfork_registered = [] {
  pthread_atfork(nullptr, nullptr, on_fork_child);
  return true;
}();

int get_num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = initial_threads();
    g_threads.store(n, std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) {
  FASTDL_CHECK(n >= 1, "set_num_threads: n must be >= 1, got " + std::to_string(n));
  if (n > 1 && g_forked_child.load())
    throw std::runtime_error("set_num_threads(" + std::to_string(n) +
                             "): this process is a fork() child; OpenMP cannot start threads after "
                             "fork, so fastdl stays serial here (start workers with "
                             "multiprocessing 'spawn' or 'forkserver' to use threads)");
  g_threads.store(n, std::memory_order_relaxed);
}

// ---- the thread pool ---------------------------------------------------------------------------
//
// One job at a time: the caller publishes (call, ctx) and a packed state word
//   epoch (32 bits) | workers allowed (10 bits) | chunks (11 bits) | next unclaimed chunk (11 bits)
// and then, like every worker whose index is below the allowed count, claims chunks with a compare-and-swap on that word until none
// is left; it returns once `done` counts every chunk. A successful claim proves the job is still
// live (its caller waits for that very chunk), so the job's fields are stable while the chunk
// runs; a worker that wakes late sees next == chunks, or a newer epoch, and claims nothing.
// Idle workers spin (yielding) for kSpin, then sleep on a condition variable until the next
// publication.
// The pool is never destroyed (its threads are detached): exiting the process needs no join.
namespace {

constexpr auto kSpin = std::chrono::microseconds(50);
constexpr int kMaxWorkers = static_cast<int>(detail::kMaxChunks) - 1;

thread_local bool t_in_region = false;

uint64_t pack(uint64_t epoch, uint64_t allowed, uint64_t chunks) { return epoch << 32 | allowed << 22 | chunks << 11; }
uint64_t allowed_of(uint64_t s) { return (s >> 22) & 0x3ff; }
uint64_t chunks_of(uint64_t s) { return (s >> 11) & 0x7ff; }
uint64_t next_of(uint64_t s) { return s & 0x7ff; }
// Whether worker `index` (-1: the caller) may claim a chunk of the job in state s.
bool claimable(uint64_t s, int index) {
  return next_of(s) < chunks_of(s) && (index < 0 || static_cast<uint64_t>(index) < allowed_of(s));
}

struct Pool {
  std::mutex busy;  // held by the caller whose job is published
  std::atomic<uint64_t> state{0};
  std::atomic<int64_t> done{0};
  void (*call)(void*, int64_t) = nullptr;
  void* ctx = nullptr;
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  uint32_t epoch = 0;
  std::mutex sleep_mutex;
  std::condition_variable wake;
  std::atomic<int> sleepers{0};
  int workers = 0;

  // Claims and runs chunks of the published job until none is left (index: the worker's, -1
  // for the caller). Returns whether it ran any.
  bool work(int index) {
    bool ran = false;
    uint64_t s = state.load(std::memory_order_acquire);
    while (claimable(s, index)) {
      if (!state.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire))
        continue;
      const int64_t c = static_cast<int64_t>(next_of(s));
      if (!failed.load(std::memory_order_relaxed)) {
        try {
          call(ctx, c);
        } catch (...) {
          if (!failed.exchange(true)) error = std::current_exception();  // first one wins
        }
      }
      ran = true;
      done.fetch_add(1, std::memory_order_release);  // the job may vanish right after this
      s = state.load(std::memory_order_acquire);
    }
    return ran;
  }

  void worker_loop(int index) {
    t_in_region = true;  // a worker never starts a nested parallel_for
    for (;;) {
      const uint64_t seen = state.load(std::memory_order_acquire);
      if (claimable(seen, index)) {
        work(index);
        continue;
      }
      // Spin, yielding the core each round: a worker sharing a core with the caller (a busy
      // or pinned process) must not take the caller's time slice.
      const auto until = std::chrono::steady_clock::now() + kSpin;
      bool changed = false;
      for (int round = 0; !(changed = state.load(std::memory_order_acquire) != seen) &&
                          std::chrono::steady_clock::now() < until;
           ++round) {
        if (round < 16)
          for (int i = 0; i < 32; ++i) FASTDL_PAUSE();
        else
          sched_yield();
      }
      if (changed) continue;
      sleepers.fetch_add(1);  // seq_cst: ordered against publish()'s store and load
      {
        std::unique_lock<std::mutex> lock(sleep_mutex);
        wake.wait(lock, [&] { return state.load() != seen; });
      }
      sleepers.fetch_sub(1);
    }
  }

  void grow(int wanted) {  // called with `busy` held
    wanted = std::min(wanted, kMaxWorkers);
    for (; workers < wanted; ++workers) {
      std::thread t([this, index = workers] { worker_loop(index); });
      pthread_setname_np(t.native_handle(), "fastdl-worker");
      t.detach();
    }
  }

  // Publishes a job of `chunks` chunks that workers [0, allowed) may help with.
  void publish(int64_t chunks, int allowed, void (*fn)(void*, int64_t), void* arg) {  // `busy` held
    call = fn;
    ctx = arg;
    failed.store(false, std::memory_order_relaxed);
    error = nullptr;
    done.store(0, std::memory_order_relaxed);
    state.store(pack(++epoch, static_cast<uint64_t>(allowed), static_cast<uint64_t>(chunks)));  // seq_cst
    if (sleepers.load() > 0) {
      { std::lock_guard<std::mutex> lock(sleep_mutex); }
      wake.notify_all();
    }
  }
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: detached workers may still wait on it at exit
  return *p;
}

void run_serial(int64_t chunks, void (*call)(void*, int64_t), void* ctx) {
  std::exception_ptr error;
  const bool outer = t_in_region;
  t_in_region = true;
  for (int64_t c = 0; c < chunks && !error; ++c) {
    try {
      call(ctx, c);
    } catch (...) {
      error = std::current_exception();
    }
  }
  t_in_region = outer;
  if (error) std::rethrow_exception(error);
}

}  // namespace

bool detail::in_parallel_region() { return t_in_region; }

void detail::run_chunks(int64_t chunks, void (*call)(void*, int64_t), void* ctx) {
  // Threads used: the caller and up to (thread count - 1) workers, never more than chunks (a
  // plan whose chunk count follows the shape may have more chunks than threads).
  const int helpers = static_cast<int>(std::min<int64_t>(chunks, get_num_threads())) - 1;
  Pool& p = pool();
  if (helpers <= 0 || chunks > detail::kMaxChunks || t_in_region || g_forked_child.load() ||
      !p.busy.try_lock()) {
    run_serial(chunks, call, ctx);
    return;
  }
  std::unique_lock<std::mutex> held(p.busy, std::adopt_lock);
  try {
    p.grow(helpers);
  } catch (const std::system_error&) {  // no more threads: the pool works with those it has
  }
  p.publish(chunks, helpers, call, ctx);
  t_in_region = true;
  p.work(-1);
  t_in_region = false;
  // Only chunks other threads have claimed are left: wait for them (spin briefly, then yield
  // the core - on a busy machine the thread we wait for may need it).
  for (int spins = 0; p.done.load(std::memory_order_acquire) < chunks; ++spins) {
    if (spins < 2000)
      FASTDL_PAUSE();
    else
      sched_yield();
  }
  std::exception_ptr error = p.error;
  p.error = nullptr;
  held.unlock();
  if (error) std::rethrow_exception(error);
}

}  // namespace fastdl
