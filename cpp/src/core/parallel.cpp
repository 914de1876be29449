// Thread count and per-thread workspaces.
#include "fastdl/parallel.h"

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
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

namespace {
struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
struct Workspace {
  std::unique_ptr<float, AlignedFree> ptr;
  int64_t size = 0;
};
constexpr int kSlots = 8;
thread_local Workspace t_ws[kSlots];
}  // namespace

float* thread_workspace(int64_t n_floats, int slot) {
  FASTDL_CHECK(slot >= 0 && slot < kSlots, "thread_workspace: bad slot");
  Workspace& w = t_ws[slot];
  if (n_floats > w.size) {
    const int64_t bytes = checked_mul(n_floats, static_cast<int64_t>(sizeof(float)), "workspace");
    const int64_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, static_cast<size_t>(rounded));
    if (!p) throw std::bad_alloc();
    w.ptr.reset(static_cast<float*>(p));
    w.size = n_floats;
  }
  return w.ptr.get();
}

}  // namespace fastdl
