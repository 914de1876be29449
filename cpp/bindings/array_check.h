// The one argument checker of the bindings. Every binding validates its arguments with these
// helpers before taking a pointer; errors name the argument and the shapes seen and become
// ValueError (ArgumentError), TypeError (pybind11 conversion) or OverflowError (sizes).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "fastdl/common.h"
#include "fastdl/scratch.h"

namespace fastdl {
namespace bind {
namespace py = pybind11;

// NumPy's NPY_ARRAY_ALIGNED (pybind11 has no name for it): without it a C-contiguous array at
// an odd byte offset (np.frombuffer(buf, np.float32, offset=1)) reaches the kernels as a
// misaligned float* - undefined behaviour (UBSAN: "load of misaligned address").
constexpr int kAligned = 0x0100;
// Inputs: any array-like is converted to float32 C-contiguous and aligned (a copy when needed).
using FArray = py::array_t<float, py::array::c_style | py::array::forcecast | kAligned>;
// Integer inputs (class targets, token ids, indices).
using IArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast | kAligned>;
// Buffers written in place (running stats, optimizer state, out=). Bind with .noconvert()
// so a wrong dtype/layout raises instead of writing into a temporary copy.
using FOut = py::array_t<float, py::array::c_style>;

// True when `h` already is what FArray converts to (an aligned float32 C-contiguous ndarray), so
// it can be borrowed without a conversion call (the fixed cost of small kernels).
inline bool is_float_array(py::handle h) {
  return FArray::check_(h) && (py::detail::array_proxy(h.ptr())->flags & kAligned) != 0;
}

inline std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  if (a.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) s << ",";
  s << ")";
  return s.str();
}

[[noreturn]] inline void fail(const std::string& msg) { throw ArgumentError(msg); }

// a.ndim must be one of `allowed`.
inline void check_ndim(const py::array& a, const char* name, std::initializer_list<int> allowed) {
  for (int d : allowed)
    if (a.ndim() == d) return;
  std::ostringstream s;
  s << name << ": expected ";
  bool first = true;
  for (int d : allowed) {
    s << (first ? "" : " or ") << d << "-D";
    first = false;
  }
  s << " array, got shape " << shape_str(a);
  fail(s.str());
}

// Exact shape; -1 in `expected` accepts any size in that dimension.
inline void check_shape(const py::array& a, const char* name, const std::vector<int64_t>& expected) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i)
    if (expected[i] >= 0 && a.shape(i) != expected[i]) ok = false;
  if (!ok) {
    std::vector<int64_t> e(expected);
    std::ostringstream s;
    s << name << ": expected shape " << shape_str(e) << " (-1 = any), got " << shape_str(a);
    fail(s.str());
  }
}

inline void check_same_shape(const py::array& a, const char* an, const py::array& b, const char* bn) {
  bool ok = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; ok && i < a.ndim(); ++i) ok = a.shape(i) == b.shape(i);
  if (!ok) fail(std::string(an) + " and " + bn + " must have the same shape, got " + shape_str(a) + " and " + shape_str(b));
}

inline void check_writeable(const py::array& a, const char* name) {
  if (!a.writeable()) fail(std::string(name) + ": array is read-only");
}

// True when a and b share at least one byte (exact for the C-contiguous arrays the kernels get:
// their byte ranges intersect).
inline bool shares_memory(const py::array& a, const py::array& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) return false;
  const char* ab = static_cast<const char*>(a.data());
  const char* bb = static_cast<const char*>(b.data());
  return ab < bb + b.nbytes() && bb < ab + a.nbytes();
}

// `out` is written while `in` is read: they must not share memory, except - when
// `same_ok` (elementwise ops, out=input) - being exactly the same memory.
inline void check_no_overlap(const py::array& out, const std::string& out_name, const py::array& in,
                             const std::string& in_name, bool same_ok = false) {
  if (!shares_memory(out, in)) return;
  if (same_ok && out.data() == in.data() && out.nbytes() == in.nbytes()) return;
  fail(out_name + " must not overlap " + in_name + (same_ok ? " (it may be the same array, in place)" : "") +
       ", got shapes " + shape_str(out) + " and " + shape_str(in));
}

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

// Product of a shape, overflow-checked (OverflowError before anything is allocated).
inline int64_t numel(const std::vector<int64_t>& shape, const char* what = "array size") {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(std::string(what) + ": negative dimension in " + shape_str(shape));
    n = checked_mul(n, d, what);
  }
  checked_mul(n, static_cast<int64_t>(sizeof(float)), what);
  return n;
}

// A new float32 C-contiguous array (uninitialised).
inline FArray new_array(const std::vector<int64_t>& shape) {
  numel(shape);
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  return FArray(s);
}

// A new float32 C-contiguous array filled with zeros.
inline FArray zeros(const std::vector<int64_t>& shape) {
  FArray a = new_array(shape);
  if (a.size() > 0) std::fill(a.mutable_data(), a.mutable_data() + a.size(), 0.0f);
  return a;
}

// Runs the kernel call f() with the GIL released (f touches no Python object). Running out of
// memory inside it - a scratch buffer (OutOfMemory) or any std::bad_alloc - leaves as
// OutOfMemory with `op` in front: MemoryError("conv2d_forward: out of memory: ...") in Python.
// `flops`, when given (>= 0), is the call's work: below kGilFlops (a few microseconds) the GIL
// stays held - releasing and retaking it costs more than another Python thread would gain.
constexpr double kGilFlops = 2.5e5;
template <class F>
void run_kernel_gil(const char* op, F&& f) {
  ScratchScope scratch_scope;  // the op's large scratch buffers are released when it returns
  try {
    f();
  } catch (const OutOfMemory& e) {
    throw OutOfMemory(std::string(op) + ": " + e.msg, e.bytes);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(std::string(op) + ": out of memory", -1);
  }
}
template <class F>
void run_kernel(const char* op, F&& f, double flops = -1.0) {
  if (flops >= 0.0 && flops < kGilFlops) return run_kernel_gil(op, f);
  py::gil_scoped_release nogil;
  run_kernel_gil(op, f);
}

// An output the caller may not want (e.g. a gradient nobody needs): a new float32 array of
// `shape` and its data pointer when `wanted`, else None and nullptr. Allocate holding the GIL.
struct OptionalOut {
  py::object array = py::none();
  float* data = nullptr;
};
inline OptionalOut optional_output(bool wanted, const std::vector<int64_t>& shape) {
  OptionalOut o;
  if (wanted) {
    FArray a = new_array(shape);
    o.data = a.mutable_data();
    o.array = a;
  }
  return o;
}

}  // namespace bind
}  // namespace fastdl
