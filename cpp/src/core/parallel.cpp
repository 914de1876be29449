// Thread count (the one parallel_for lives in parallel.h).
#include "fastdl/parallel.h"

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <thread>

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

}  // namespace fastdl
