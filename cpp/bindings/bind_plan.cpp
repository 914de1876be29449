// Bindings: fastdl._C.Plan, the replay engine of compiled steps (fastdl/plan.h;
// python/fastdl/compiler builds plans, docs/compile.md describes them).
#include <cstdint>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "array_check.h"
#include "fastdl/batchnorm.h"
#include "fastdl/plan.h"

namespace fastdl {
namespace bind {

namespace {

// The plan plus the Python objects whose memory it points into (kept alive here).
class PyPlan {
 public:
  explicit PyPlan(int n_buffers) : plan_(n_buffers), keep_(static_cast<size_t>(n_buffers < 0 ? 0 : n_buffers)) {}

  void allocate_arena(int64_t bytes) { plan_.allocate_arena(bytes); }
  void share_arena(const PyPlan& other) { plan_.share_arena(other.plan_); }
  void release_arena() { plan_.release_arena(); }
  void place(int buf, int64_t offset, int64_t bytes) { plan_.place(buf, offset, bytes); }

  // An external buffer: a C-contiguous, aligned, writeable array of exactly `nbytes` bytes.
  void bind(int buf, const py::array& a, int64_t nbytes) {
    check_array(a, "Plan.bind: buffer " + std::to_string(buf), nbytes, true);
    plan_.bind(buf, const_cast<void*>(a.data()));
    keep_.at(static_cast<size_t>(buf)) = a;
  }

  void add_step(const std::string& op, std::vector<int> buf, std::vector<int64_t> ints, std::vector<double> f,
                std::vector<int> s) {
    PlanStep st;
    st.op = plan_op_code(op);
    if (st.op < 0) fail("Plan.add_step: unknown op '" + op + "'");
    st.buf = std::move(buf);
    st.i = std::move(ints);
    st.f = std::move(f);
    st.s = std::move(s);
    plan_.add_step(std::move(st));
  }

  void set_scalars(const py::array_t<double, py::array::c_style>& s) {
    check_ndim(s, "Plan.set_scalars: scalars", {1});
    plan_.set_scalars(s.data(), s.shape(0));
    scalars_ = s;
  }

  // The buffers run(*inputs) binds, with the byte size and numpy dtype character each must have.
  void set_inputs(std::vector<int> bufs, std::vector<int64_t> nbytes, std::string kinds) {
    if (bufs.size() != nbytes.size() || bufs.size() != kinds.size())
      fail("Plan.set_inputs: bufs, nbytes and kinds must have the same length");
    inputs_ = std::move(bufs);
    input_bytes_ = std::move(nbytes);
    input_kinds_ = std::move(kinds);
  }

  void run(const py::args& args) {
    bind_inputs(args);
    // The input pointers stay in the table after the run; every run binds all of them again.
    run_kernel("Plan.run", [&] { plan_.run(); });
  }

  // run(*inputs) timing every step: [seconds of step k] (the profiler of bench/compile_ab.py).
  std::vector<double> run_timed(const py::args& args) {
    bind_inputs(args);
    std::vector<double> t(static_cast<size_t>(plan_.n_steps()), 0.0);
    run_kernel("Plan.run_timed", [&] { plan_.run_timed(t.data()); });
    return t;
  }

  py::list steps() const {
    py::list out;
    const std::vector<std::string> names = plan_op_names();
    for (int64_t k = 0; k < plan_.n_steps(); ++k) {
      const PlanStep& st = plan_.step(k);
      out.append(py::make_tuple(names[st.op], st.buf, st.i));
    }
    return out;
  }

  int64_t arena_bytes() const { return plan_.arena_bytes(); }

 private:
  void bind_inputs(const py::args& args) {
    if (args.size() != inputs_.size())
      fail("Plan.run: expected " + std::to_string(inputs_.size()) + " input arrays, got " +
           std::to_string(args.size()));
    for (size_t k = 0; k < inputs_.size(); ++k) {
      py::handle h = args[k];
      if (!py::isinstance<py::array>(h)) fail("Plan.run: input " + std::to_string(k) + " must be a numpy array");
      const auto a = py::reinterpret_borrow<py::array>(h);
      const std::string what = "Plan.run: input " + std::to_string(k);
      check_array(a, what, input_bytes_[k], false);
      if (a.dtype().kind() != (input_kinds_[k] == 'f' ? 'f' : 'i') || a.itemsize() != (input_kinds_[k] == 'f' ? 4 : 8))
        fail(what + ": expected dtype " + (input_kinds_[k] == 'f' ? "float32" : "int64") + ", got " +
             std::string(py::str(a.dtype())));
      plan_.bind(inputs_[k], const_cast<void*>(a.data()));
    }
  }

  static void check_array(const py::array& a, const std::string& what, int64_t nbytes, bool writeable) {
    const int need = py::array::c_style | kAligned;
    if ((a.flags() & need) != need) fail(what + ": array must be C-contiguous and aligned, got shape " + shape_str(a));
    if (writeable) check_writeable(a, what.c_str());
    if (static_cast<int64_t>(a.nbytes()) != nbytes)
      fail(what + ": expected " + std::to_string(nbytes) + " bytes, got shape " + shape_str(a) + " (" +
           std::to_string(a.nbytes()) + " bytes)");
  }

  Plan plan_;
  std::vector<py::object> keep_;
  py::object scalars_;
  std::vector<int> inputs_;
  std::vector<int64_t> input_bytes_;
  std::string input_kinds_;
};

}  // namespace

void bind_plan(py::module_& m) {
  py::class_<PyPlan>(m, "Plan", "A compiled step: a static list of kernel calls on arena and bound buffers.")
      .def(py::init<int>(), py::arg("n_buffers"))
      .def("allocate_arena", &PyPlan::allocate_arena, py::arg("bytes"), "Allocate the one arena (64-byte aligned).")
      .def("release_arena", &PyPlan::release_arena,
           "Drop this plan's hold on its arena (freed when no other plan shares it).")
      .def("share_arena", &PyPlan::share_arena, py::arg("other"),
           "Use other's arena (then place every arena buffer again).")
      .def("place", &PyPlan::place, py::arg("buf"), py::arg("offset"), py::arg("bytes"),
           "Buffer `buf` lives at byte `offset` of the arena.")
      .def("bind", &PyPlan::bind, py::arg("buf"), py::arg("array"), py::arg("nbytes"),
           "Buffer `buf` is the memory of `array` (C-contiguous, writeable, exactly nbytes).")
      .def("add_step", &PyPlan::add_step, py::arg("op"), py::arg("buf"), py::arg("ints"), py::arg("floats"),
           py::arg("scalars"), "Append one kernel call (op names: Plan.op_names()).")
      .def("set_scalars", &PyPlan::set_scalars, py::arg("scalars").noconvert(),
           "The float64 table per-call scalars are read from (kept alive; may change between runs).")
      .def("set_inputs", &PyPlan::set_inputs, py::arg("bufs"), py::arg("nbytes"), py::arg("kinds"),
           "The buffers run(*arrays) binds; kinds: one 'f' (float32) or 'i' (int64) per input.")
      .def("run", &PyPlan::run, "Bind the input arrays and run every step, GIL released.")
      .def("run_timed", &PyPlan::run_timed, "run(*inputs) timing each step: [seconds of step k].")
      .def_static("batch_norm_mask_bytes", &batch_norm_mask_bytes, py::arg("N"), py::arg("C"), py::arg("S"),
                  "Bytes of the ReLU mask of batch_norm_add_relu_forward on (N, C, S).")
      .def("steps", &PyPlan::steps, "[(op name, buffer ids, integer arguments)] in order.")
      .def_property_readonly("arena_bytes", &PyPlan::arena_bytes)
      .def_static("op_names", &plan_op_names, "Names of the ops a plan step may call.");
}

}  // namespace bind
}  // namespace fastdl
