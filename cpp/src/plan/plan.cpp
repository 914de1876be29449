// Plan: the buffer table, the arena and the run loop (see fastdl/plan.h).
#include "fastdl/plan.h"

#include <chrono>
#include <cstdlib>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "fastdl/common.h"
#include "fastdl/scratch.h"

namespace fastdl {

Plan::Plan(int n_buffers) {
  FASTDL_CHECK(n_buffers >= 0, "Plan: n_buffers must be >= 0");
  ptr_.assign(static_cast<size_t>(n_buffers), nullptr);
  placed_.assign(static_cast<size_t>(n_buffers), false);
}

void Plan::unplace() {
  for (size_t b = 0; b < ptr_.size(); ++b)
    if (placed_[b]) {
      ptr_[b] = nullptr;
      placed_[b] = false;
    }
  checked_ = false;
}

void Plan::allocate_arena(int64_t bytes) {
  FASTDL_CHECK(bytes >= 0, "Plan.allocate_arena: bytes must be >= 0, got " + std::to_string(bytes));
  // At least one line, so that every placed buffer (even an empty one) has a non-null address.
  const int64_t rounded = checked_add(bytes, 127, "plan arena") / 64 * 64;
  unplace();
  arena_.reset();
#if defined(__linux__)
  // The arena is mapped on its own (page aligned, returned to the system when released), after
  // handing the heap's free pages back: the eager step that traced this plan freed its
  // activations into the heap, and the peak RSS of a compiled run should not count them twice.
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  void* p = mmap(nullptr, static_cast<size_t>(rounded), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw out_of_memory("plan arena", rounded);
  const size_t len = static_cast<size_t>(rounded);
  arena_.reset(p, [len](void* q) { munmap(q, len); });
#else
  void* p = std::aligned_alloc(64, static_cast<size_t>(rounded));
  if (!p) throw out_of_memory("plan arena", rounded);
  arena_.reset(p, [](void* q) { std::free(q); });
#endif
  arena_bytes_ = bytes;
}

void Plan::release_arena() {
  unplace();
  arena_.reset();
  arena_bytes_ = 0;
}

void Plan::share_arena(const Plan& other) {
  FASTDL_CHECK(other.arena_ != nullptr, "Plan.share_arena: the other plan has no arena");
  unplace();
  arena_ = other.arena_;
  arena_bytes_ = other.arena_bytes_;
}

void Plan::place(int buf, int64_t offset, int64_t bytes) {
  FASTDL_CHECK(buf >= 0 && buf < n_buffers(), "Plan.place: buffer id " + std::to_string(buf) + " out of range");
  FASTDL_CHECK(offset >= 0 && offset % 64 == 0 && bytes >= 0 && checked_add(offset, bytes, "plan buffer") <= arena_bytes_,
               "Plan.place: buffer " + std::to_string(buf) + " at offset " + std::to_string(offset) + " (" +
                   std::to_string(bytes) + " bytes) does not fit the arena of " + std::to_string(arena_bytes_) +
                   " bytes (or is not 64-byte aligned)");
  FASTDL_CHECK(arena_ != nullptr, "Plan.place: no arena (allocate_arena or share_arena first)");
  ptr_[buf] = static_cast<char*>(arena_.get()) + offset;
  placed_[buf] = true;
  checked_ = false;
}

void Plan::bind(int buf, void* p) {
  FASTDL_CHECK(buf >= 0 && buf < n_buffers(), "Plan.bind: buffer id " + std::to_string(buf) + " out of range");
  ptr_[buf] = p;
  placed_[buf] = false;
  if (p == nullptr) checked_ = false;  // binding a non-null pointer cannot break a validated plan
}

void Plan::add_step(PlanStep st) {
  plan_check_step(st);
  for (int b : st.buf)
    FASTDL_CHECK(b >= -1 && b < n_buffers(), "Plan.add_step: buffer id " + std::to_string(b) + " out of range");
  for (int s : st.s) FASTDL_CHECK(s >= 0, "Plan.add_step: negative scalar index");
  steps_.push_back(std::move(st));
  checked_ = false;
}

void Plan::validate() const {
  for (const PlanStep& st : steps_) {
    for (int b : st.buf)
      FASTDL_CHECK(b < 0 || ptr_[b] != nullptr, "Plan.run: buffer " + std::to_string(b) + " used by op " +
                                                    plan_op_names()[st.op] + " is neither placed nor bound");
    for (int s : st.s)
      FASTDL_CHECK(s < n_scalars_, "Plan.run: scalar index " + std::to_string(s) + " used by op " +
                                       plan_op_names()[st.op] + " is beyond the scalar table (" +
                                       std::to_string(n_scalars_) + ")");
  }
  checked_ = true;
}

void Plan::run() const {
  if (!checked_) validate();
  for (const PlanStep& st : steps_) {
    ScratchScope step_scope;  // each step's scratch is handed back for the next (scratch.h)
    plan_run_step(st, ptr_.data(), scalars_);
  }
}

void Plan::run_timed(double* seconds) const {
  if (!checked_) validate();
  for (size_t k = 0; k < steps_.size(); ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    ScratchScope step_scope;
    plan_run_step(steps_[k], ptr_.data(), scalars_);
    seconds[k] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
}

}  // namespace fastdl
