// Common helpers for fastdl kernels: checked size arithmetic, argument errors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace fastdl {

// Thrown for invalid arguments (bindings turn it into ValueError).
struct ArgumentError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

#define FASTDL_CHECK(cond, msg)                                   \
  do {                                                            \
    if (!(cond)) throw ::fastdl::ArgumentError(std::string(msg)); \
  } while (0)

// a * b for non-negative sizes; throws std::overflow_error (OverflowError in Python) on overflow.
inline int64_t checked_mul(int64_t a, int64_t b, const char* what = "size") {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
    throw std::overflow_error(std::string(what) + " overflows int64");
  return r;
}
inline int64_t checked_add(int64_t a, int64_t b, const char* what = "size") {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw std::overflow_error(std::string(what) + " overflows int64");
  return r;
}

}  // namespace fastdl
