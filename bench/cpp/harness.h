// Small in-house benchmark harness (used when Google Benchmark is not installed, and for
// its plain output): repeat a callable until a time budget is spent, report median and best.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

namespace bench {

struct Stats {
  double median_s = 0;  // median seconds per call
  double best_s = 0;    // fastest call
  int reps = 0;
};

inline double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// CPU time of the calling thread: on a shared machine it excludes the time slices other
// processes take from this core (single-threaded measurements only).
inline double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Calls f() once to warm up, then at least min_reps times and until min_seconds of wall time
// have passed (at most max_reps calls). cpu_time: measure with thread_cpu_seconds().
template <class F>
Stats time_it(F&& f, int min_reps = 5, double min_seconds = 0.25, int max_reps = 2000,
              bool cpu_time = false) {
  f();
  std::vector<double> t;
  const double start = wall_seconds();
  while (static_cast<int>(t.size()) < max_reps) {
    const double t0 = cpu_time ? thread_cpu_seconds() : wall_seconds();
    f();
    const double t1 = cpu_time ? thread_cpu_seconds() : wall_seconds();
    t.push_back(t1 - t0);
    if (static_cast<int>(t.size()) >= min_reps && wall_seconds() - start >= min_seconds) break;
  }
  std::sort(t.begin(), t.end());
  Stats s;
  s.reps = static_cast<int>(t.size());
  s.best_s = t.front();
  s.median_s = t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2]);
  return s;
}

// Median wall seconds of exactly `reps` calls after one warm-up.
template <class F>
double median_seconds(int reps, F&& f) {
  return time_it(f, reps, 0.0, reps).median_s;
}

inline double gflops(double flops, double seconds) { return flops / seconds * 1e-9; }

inline bool has_flag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], flag) == 0) return true;
  return false;
}

// Deterministic pseudo-random fill in [-1, 1) (xorshift; no <random> in benchmarks).
inline void fill_random(float* p, size_t n, unsigned seed) {
  unsigned x = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = static_cast<float>(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}

}  // namespace bench
