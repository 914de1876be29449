// Common helpers for fastdl kernels: checked size arithmetic, argument errors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

namespace fastdl {

// Thrown for invalid arguments (bindings turn it into ValueError).
struct ArgumentError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Thrown when memory runs out (bindings turn it into MemoryError). The message names what was
// being allocated and the bytes asked for; the bindings put the op in front (array_check.h).
struct OutOfMemory : std::bad_alloc {
  OutOfMemory(std::string message, int64_t bytes_asked) : msg(std::move(message)), bytes(bytes_asked) {}
  const char* what() const noexcept override { return msg.c_str(); }
  std::string msg;
  int64_t bytes;  // -1 when not known (a std::bad_alloc from the standard library)
};

// "out of memory: <what> needs <bytes> bytes (<GiB> GiB)".
inline OutOfMemory out_of_memory(const std::string& what, int64_t bytes) {
  char gib[32];
  std::snprintf(gib, sizeof gib, "%.1f", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return OutOfMemory("out of memory: " + what + " needs " + std::to_string(bytes) + " bytes (" + gib + " GiB)", bytes);
}

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
