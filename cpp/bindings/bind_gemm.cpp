// Bindings: SGEMM on 2-D arrays, plus the GEMM tuning knobs (for benchmarks and tests).
#include <cstdint>

#include "array_check.h"
#include "fastdl/gemm.h"

namespace fastdl {
namespace bind {

// Any numeric array-like as an ndarray of its own dtype (no float32 copy yet, so shape checks
// run before anything the size of the operands is allocated).
static py::array as_numeric_array(const py::object& x, const char* name) {
  if (is_float_array(x)) return py::reinterpret_borrow<py::array>(x);
  if (x.is_none() || py::isinstance<py::str>(x) || py::isinstance<py::bytes>(x))
    throw py::type_error(std::string("gemm: ") + name + " must be an array, got " +
                         std::string(py::str(py::type::of(x).attr("__name__"))));
  py::array a = py::array::ensure(x);
  if (!a) {
    PyErr_Clear();
    throw py::type_error(std::string("gemm: ") + name + " must be an array-like of numbers");
  }
  const char kind = a.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
    throw py::type_error(std::string("gemm: ") + name + " must be numeric, got dtype " +
                         std::string(py::str(a.dtype())));
  return a;
}

// The work run_kernel weighs against kGilFlops for a product of M*N*K multiply-adds. The SGEMM
// runs at ~100 GFLOP/s, so the shared threshold (2.5e5 flop) would hand the GIL back and forth
// around a 2.5 us product; releasing and retaking it costs ~400 instructions (callgrind), ~2 %
// of a 16x100x150 product. A GEMM keeps the GIL below 1e6 flop (~10 us) instead.
static double gil_flops(int64_t mnk) {
  const double flops = 2.0 * double(mnk);
  return flops < 1e6 ? 0.0 : flops;
}

// C = alpha * op(a) @ op(b) + beta * C. `out`, when given, must be float32, C-contiguous,
// writeable and (M, N); it is C on input (read only when beta != 0) and the result on output.
// Operands that already are aligned float32 C-contiguous arrays are used as they are (no
// conversion call, no new array): the fixed cost of a small product is mostly this binding.
static py::object gemm_checked(const py::object& a_obj, const py::object& b_obj, bool trans_a,
                               bool trans_b, float alpha, float beta, const py::object& out) {
  py::array a0 = as_numeric_array(a_obj, "a");
  py::array b0 = as_numeric_array(b_obj, "b");
  check_ndim(a0, "gemm: a", {2});
  check_ndim(b0, "gemm: b", {2});
  const int64_t M = trans_a ? a0.shape(1) : a0.shape(0);
  const int64_t K = trans_a ? a0.shape(0) : a0.shape(1);
  const int64_t Kb = trans_b ? b0.shape(1) : b0.shape(0);
  const int64_t N = trans_b ? b0.shape(0) : b0.shape(1);
  if (K != Kb)
    fail("gemm: inner dimensions disagree: op(a) is " + shape_str(std::vector<int64_t>{M, K}) +
         " (a " + shape_str(a0) + (trans_a ? ", transposed" : "") + ") and op(b) is " +
         shape_str(std::vector<int64_t>{Kb, N}) + " (b " + shape_str(b0) +
         (trans_b ? ", transposed" : "") + ")");
  checked_mul(checked_mul(M, N, "gemm output size M*N"), K, "gemm work M*N*K");
  checked_mul(checked_mul(M, N, "gemm output size M*N"), int64_t(sizeof(float)),
              "gemm output size M*N");
  const bool has_out = !out.is_none();
  if (has_out) {
    if (!py::isinstance<py::array>(out))
      throw py::type_error("gemm: out must be a numpy array or None, got " +
                           std::string(py::str(py::type::of(out).attr("__name__"))));
    const auto o = py::reinterpret_borrow<py::array>(out);
    if (!py::isinstance<py::array_t<float>>(o))
      fail("gemm: out must be float32, got dtype " + std::string(py::str(o.dtype())));
    check_ndim(o, "gemm: out", {2});
    if (o.shape(0) != M || o.shape(1) != N) check_shape(o, "gemm: out", {M, N});
    if (!(o.flags() & py::array::c_style)) fail("gemm: out must be C-contiguous");
    check_writeable(o, "gemm: out");
  }
  const FArray a = is_float_array(a0) ? py::reinterpret_borrow<FArray>(a0) : FArray::ensure(a0);
  const FArray b = is_float_array(b0) ? py::reinterpret_borrow<FArray>(b0) : FArray::ensure(b0);
  if (!a || !b) throw py::error_already_set();
  py::object result;
  float* pc;
  if (has_out) {
    auto c = py::reinterpret_borrow<py::array>(out);
    if (shares_memory(c, a)) check_no_overlap(c, "gemm: out", a, "a");
    if (shares_memory(c, b)) check_no_overlap(c, "gemm: out", b, "b");
    pc = static_cast<float*>(c.mutable_data());
    result = out;
  } else {
    FArray c = new_array({M, N});
    pc = c.mutable_data();
    result = std::move(c);
    beta = 0.0f;  // a fresh output has no previous value
  }
  const float* pa = a.data();
  const float* pb = b.data();
  const int64_t lda = a.shape(1), ldb = b.shape(1);
  run_kernel("gemm", [&] {
    sgemm(trans_a, trans_b, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, N);
  }, gil_flops(M * N * K));
  return result;
}

// ---- The fast entry. A 6x784x25 product takes ~2.3 us in the kernel; pybind11's dispatcher
// and the checks above add ~0.8 us of fixed cost per call from Python (callgrind: ~2,500
// instructions of ~5,200 per 1x1x1 call). _C.gemm is therefore a plain CPython vectorcall
// function: it parses its arguments itself and, when every array already is what the kernel
// takes, reads shapes and pointers straight from the array structs. Anything else - other
// types, conversions, every error - goes through gemm_checked above.

// `h` is a 2-D array that FArray takes as it is (is_float_array), and writeable when
// `writeable`: its data and dims, else nullptr.
static char* plain_f32_2d(PyObject* h, bool writeable, const py::ssize_t** dims) {
  if (!is_float_array(h)) return nullptr;
  const auto* arr = py::detail::array_proxy(h);
  if (arr->nd != 2 || (writeable && !(arr->flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_))) return nullptr;
  *dims = arr->dimensions;
  return arr->data;
}

// The call when a, b and out (an array or None) are plain float32 arrays whose shapes agree
// and out overlaps neither operand; nullptr (nothing raised) when the general path must decide.
static PyObject* gemm_plain(PyObject* a_obj, PyObject* b_obj, bool trans_a, bool trans_b,
                            float alpha, float beta, PyObject* out) {
  const py::ssize_t *da, *db, *dc = nullptr;
  const char* pa = plain_f32_2d(a_obj, false, &da);
  const char* pb = pa ? plain_f32_2d(b_obj, false, &db) : nullptr;
  if (!pb) return nullptr;
  const int64_t M = trans_a ? da[1] : da[0], K = trans_a ? da[0] : da[1];
  const int64_t N = trans_b ? db[0] : db[1];
  if ((trans_b ? db[1] : db[0]) != K) return nullptr;
  int64_t mn, mnk;
  if (__builtin_mul_overflow(M, N, &mn) || __builtin_mul_overflow(mn, K, &mnk) ||
      mn > (int64_t(1) << 60))
    return nullptr;
  char* pc = nullptr;
  if (out != Py_None) {
    pc = plain_f32_2d(out, true, &dc);
    if (!pc || dc[0] != M || dc[1] != N) return nullptr;
    const auto disjoint = [&](const char* p, int64_t bytes) {
      return mn == 0 || bytes == 0 || pc + mn * 4 <= p || p + bytes <= pc;
    };
    if (!disjoint(pa, M * K * 4) || !disjoint(pb, K * N * 4)) return nullptr;
  }
  py::object result;
  if (pc) {
    result = py::reinterpret_borrow<py::object>(out);
  } else {
    FArray c = new_array({M, N});
    pc = reinterpret_cast<char*>(c.mutable_data());
    result = std::move(c);
    beta = 0.0f;  // a fresh output has no previous value
  }
  const float *fa = reinterpret_cast<const float*>(pa), *fb = reinterpret_cast<const float*>(pb);
  float* fc = reinterpret_cast<float*>(pc);
  run_kernel("gemm", [&] {
    sgemm(trans_a, trans_b, M, N, K, alpha, fa, da[1], fb, db[1], beta, fc, N);
  }, gil_flops(mnk));
  return result.release().ptr();
}

constexpr int kGemmArgs = 7;
constexpr const char* kGemmArgNames[kGemmArgs] = {"a", "b", "trans_a", "trans_b", "alpha",
                                                  "beta", "out"};
// The names interned (bind_gemm): a keyword at a call site is the same interned string, so
// matching it is a pointer comparison.
static PyObject* g_gemm_arg_names[kGemmArgs];

// A flag as pybind11's bool caster takes it: True / False / None, or any object with __bool__
// (numpy.bool_, integers).
static bool flag_arg(PyObject* o, const char* name) {
  if (o == nullptr || o == Py_False || o == Py_None) return false;
  if (o == Py_True) return true;
  const PyNumberMethods* nb = Py_TYPE(o)->tp_as_number;
  if (nb == nullptr || nb->nb_bool == nullptr)
    throw py::type_error(std::string("gemm: ") + name + " must be a bool, got " +
                         Py_TYPE(o)->tp_name);
  const int r = nb->nb_bool(o);
  if (r < 0) throw py::error_already_set();
  return r != 0;
}

// A float as pybind11's float caster takes it: a Python float, or anything with __float__ /
// __index__.
static float number_arg(PyObject* o, const char* name, float dflt) {
  if (o == nullptr) return dflt;
  if (PyFloat_CheckExact(o)) return static_cast<float>(PyFloat_AS_DOUBLE(o));
  const double v = PyFloat_AsDouble(o);
  if (v == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    throw py::type_error(std::string("gemm: ") + name + " must be a number, got " +
                         Py_TYPE(o)->tp_name);
  }
  return static_cast<float>(v);
}

static PyObject* gemm_vectorcall(PyObject*, PyObject* const* args, Py_ssize_t nargs,
                                 PyObject* kwnames) {
  try {
    PyObject* v[kGemmArgs] = {};
    if (nargs > kGemmArgs)
      throw py::type_error("gemm() takes at most 7 arguments (" + std::to_string(nargs) +
                           " given)");
    for (Py_ssize_t i = 0; i < nargs; ++i) v[i] = args[i];
    const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; ++i) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, i);
      int j = 0;
      while (j < kGemmArgs && key != g_gemm_arg_names[j]) ++j;
      if (j == kGemmArgs)
        for (j = 0; j < kGemmArgs && PyUnicode_CompareWithASCIIString(key, kGemmArgNames[j]); ++j) {
        }
      if (j == kGemmArgs)
        throw py::type_error("gemm() got an unexpected keyword argument '" +
                             std::string(py::str(key)) + "'");
      if (v[j] != nullptr)
        throw py::type_error(std::string("gemm() got multiple values for argument '") +
                             kGemmArgNames[j] + "'");
      v[j] = args[nargs + i];
    }
    for (int j = 0; j < 2; ++j)
      if (v[j] == nullptr)
        throw py::type_error(std::string("gemm() missing required argument '") +
                             kGemmArgNames[j] + "'");
    const bool ta = flag_arg(v[2], "trans_a"), tb = flag_arg(v[3], "trans_b");
    const float alpha = number_arg(v[4], "alpha", 1.0f), beta = number_arg(v[5], "beta", 0.0f);
    PyObject* out = v[6] ? v[6] : Py_None;
    if (PyObject* r = gemm_plain(v[0], v[1], ta, tb, alpha, beta, out)) return r;
    return gemm_checked(py::reinterpret_borrow<py::object>(v[0]),
                        py::reinterpret_borrow<py::object>(v[1]), ta, tb, alpha, beta,
                        py::reinterpret_borrow<py::object>(out))
        .release()
        .ptr();
  } catch (...) {
    py::detail::try_translate_exceptions();  // sets the Python error of the active exception
    return nullptr;
  }
}

static PyMethodDef gemm_def = {
    "gemm", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(gemm_vectorcall)),
    METH_FASTCALL | METH_KEYWORDS,
    "gemm(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None)\n--\n\n"
    "``alpha * op(a) @ op(b) + beta * out`` in float32 (op = transpose when trans_*).\n\n"
    "Like ``torch.addmm(out, op(a), op(b), beta=beta, alpha=alpha)`` on 2-D arrays. ``a`` and\n"
    "``b`` are 2-D numeric array-likes, converted to float32 C-contiguous when they are not.\n"
    "``out``, when given, must be a writeable float32 C-contiguous array of the result's shape\n"
    "(M, N) that does not overlap ``a`` or ``b``; it is written in place and returned, and read\n"
    "only when ``beta != 0`` (``beta == 0`` ignores NaN in it). Without ``out`` a new array is\n"
    "returned and ``beta`` has no effect. K == 0 gives ``beta * out`` (zeros for a new array);\n"
    "``alpha == 0`` gives ``beta * out`` without reading ``a`` or ``b``. The flags and scalars\n"
    "are best passed by keyword (positionally they follow in the order of the signature).\n\n"
    "Raises TypeError for non-arrays/non-numeric dtypes, ValueError for wrong ndim, inner\n"
    "dimensions that disagree or a bad ``out``, OverflowError when M*N*K overflows int64."};

static py::dict config_dict(const GemmConfig& c) {
  py::dict d;
  d["mc"] = c.mc;
  d["kc"] = c.kc;
  d["nc"] = c.nc;
  d["path"] = c.path;
  d["thread_flops"] = c.thread_flops;
  return d;
}

void bind_gemm(py::module_& m) {
  for (int j = 0; j < kGemmArgs; ++j)
    if (!(g_gemm_arg_names[j] = PyUnicode_InternFromString(kGemmArgNames[j])))
      throw py::error_already_set();
  PyObject* fn = PyCFunction_NewEx(&gemm_def, nullptr, m.attr("__name__").ptr());
  if (!fn) throw py::error_already_set();
  m.add_object("gemm", py::reinterpret_steal<py::object>(fn));
  m.def("_gemm_config", [] { return config_dict(gemm_config()); },
        "The SGEMM blocking/path knobs: dict(mc, kc, nc, path, thread_flops).");
  m.def("_gemm_default_config", [] { return config_dict(default_gemm_config()); });
  m.def("_set_gemm_config",
        [](int64_t mc, int64_t kc, int64_t nc, int path, int64_t thread_flops) {
          set_gemm_config(GemmConfig{mc, kc, nc, path, thread_flops});
        },
        py::arg("mc"), py::arg("kc"), py::arg("nc"), py::arg("path"), py::arg("thread_flops"),
        "Sets the SGEMM knobs (tuning/tests only): mc multiple of 6, nc multiple of 16, "
        "kc >= 1, path 0 auto / 1 direct / 2 packed / 3 dot, thread_flops >= 0.");
}

}  // namespace bind
}  // namespace fastdl
