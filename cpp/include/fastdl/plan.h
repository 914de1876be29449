// A compiled training / inference step: a static list of kernel calls on buffers (the plan
// of python/fastdl/compiler, see docs/compile.md). No Python, no allocation in run().
//
// Buffers are numbered 0..n-1. Each is either
//   - an arena buffer: a byte offset into the plan's one 64-byte aligned arena (offsets come
//     from the liveness planner in python/fastdl/compiler/memory.py; buffers whose lifetimes
//     do not overlap share bytes), or
//   - an external buffer: a pointer bound from outside (parameter and gradient arrays,
//     optimizer state, the step's inputs, the loss), re-bound whenever the owner's array changes.
// Per-call scalars (learning rate, Adam step, ...) are read from a double table the caller
// owns and may change between runs. Each step names an op of the table in plan_ops.cpp, its
// buffer ids (-1 = absent), integer arguments (sizes, flags) and constant float arguments.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fastdl {

struct PlanStep {
  int op = 0;
  std::vector<int> buf;       // buffer ids, -1 = none
  std::vector<int64_t> i;     // integer arguments (sizes, flags, enum values)
  std::vector<double> f;      // constant scalar arguments
  std::vector<int> s;         // indices into the per-call scalar table
};

// Op codes by name ("linear_forward", "gemm", ...); -1 when unknown.
int plan_op_code(const std::string& name);
// Names of all ops, indexed by code.
std::vector<std::string> plan_op_names();
// Runs one step on resolved buffer pointers (plan_ops.cpp). Throws ArgumentError for a
// malformed step (wrong number of buffers or arguments): the plan validates at add time.
void plan_run_step(const PlanStep& st, void* const* ptr, const double* scalars);
// Checks a step's argument counts against its op (throws ArgumentError naming the op).
void plan_check_step(const PlanStep& st);

class Plan {
 public:
  explicit Plan(int n_buffers);
  int n_buffers() const { return static_cast<int>(ptr_.size()); }
  // One arena of `bytes` bytes (64-byte aligned), allocated here once.
  void allocate_arena(int64_t bytes);
  // Use `other`'s arena (plans that never run at the same time share one allocation). Every
  // arena buffer of this plan must be placed again (place() checks it fits).
  void share_arena(const Plan& other);
  // Drop this plan's hold on its arena (freed when no plan shares it); place() again after
  // allocate_arena / share_arena before the next run.
  void release_arena();
  int64_t arena_bytes() const { return arena_bytes_; }
  void place(int buf, int64_t offset, int64_t bytes);  // an arena buffer
  void bind(int buf, void* p);                          // an external buffer
  void add_step(PlanStep st);
  void set_scalars(const double* s, int64_t n) {
    scalars_ = s;
    n_scalars_ = n;
    checked_ = false;
  }
  int64_t n_steps() const { return static_cast<int64_t>(steps_.size()); }
  const PlanStep& step(int64_t k) const { return steps_[k]; }
  // Executes every step in order. Every buffer a step uses must be placed or bound and every
  // scalar index inside the table (checked once after each change, ArgumentError otherwise).
  void run() const;
  // run(), adding each step's wall time to seconds[k] (n_steps() entries): the profiler.
  void run_timed(double* seconds) const;

 private:
  void unplace();
  std::vector<void*> ptr_;
  std::vector<bool> placed_;
  std::vector<PlanStep> steps_;
  std::shared_ptr<void> arena_;
  int64_t arena_bytes_ = 0;
  const double* scalars_ = nullptr;
  int64_t n_scalars_ = 0;
  mutable bool checked_ = false;
  void validate() const;
};

}  // namespace fastdl
