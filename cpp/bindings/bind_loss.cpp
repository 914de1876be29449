// Bindings for the loss family: cross_entropy (class indices or probabilities, fused with
// log-softmax), nll_loss, mse_loss, l1_loss, binary_cross_entropy_with_logits.
// Forward returns the reduced loss as a 0-d array ('mean'/'sum') or the per-sample losses
// ('none'), plus what backward needs; backward takes the upstream gradient of that result.
#include <string>

#include "array_check.h"
#include "fastdl/loss.h"

namespace fastdl {
namespace bind {

namespace {

enum class Reduction { none, mean, sum };

Reduction parse_reduction(const std::string& r) {
  if (r == "mean") return Reduction::mean;
  if (r == "sum") return Reduction::sum;
  if (r == "none") return Reduction::none;
  fail(r + " is not a valid value for reduction (expected 'mean', 'sum' or 'none')");
}

FArray scalar(double v) {
  FArray a = new_array({});
  *a.mutable_data() = static_cast<float>(v);
  return a;
}

// The reduced loss (0-d) or the per-element array.
FArray reduced(Reduction red, FArray& per, double total, double denom) {
  if (red == Reduction::none) return per;
  return scalar(red == Reduction::sum ? total : total / denom);
}

// Upstream gradient: 0-d/one value for 'mean'/'sum', the loss shape for 'none'. Returns
// (stride, scale) for the kernels' g_i = grad[i * stride] * scale.
std::pair<int64_t, float> grad_layout(const char* fn, Reduction red, const FArray& grad,
                                      const std::vector<int64_t>& loss_shape, double denom) {
  if (red == Reduction::none) {
    bool ok = grad.ndim() == static_cast<py::ssize_t>(loss_shape.size());
    for (size_t i = 0; ok && i < loss_shape.size(); ++i) ok = grad.shape(i) == loss_shape[i];
    if (!ok)
      fail(std::string(fn) + ": grad_output must have the loss shape " + shape_str(loss_shape) + ", got " +
           shape_str(grad));
    return {1, 1.0f};
  }
  if (grad.size() != 1)
    fail(std::string(fn) + ": grad_output of a reduced loss must hold one value, got shape " + shape_str(grad));
  return {0, red == Reduction::mean ? static_cast<float>(1.0 / denom) : 1.0f};
}

// Class-index targets: integer dtype, (N,), each in [0, C) or == ignore_index.
IArray class_target(const char* fn, const py::array& target, int64_t N, int64_t C, int64_t ignore_index) {
  const char kind = target.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error(std::string(fn) + ": class-index target must be an integer array (int64), got dtype " +
                         std::string(py::str(target.dtype())));
  if (target.ndim() != 1 || target.shape(0) != N)
    fail(std::string(fn) + ": Expected input batch_size (" + std::to_string(N) + ") to match target batch_size, target shape " +
         shape_str(target));
  IArray t = IArray::ensure(target);
  const int64_t* pt = t.data();
  for (int64_t i = 0; i < N; ++i)
    if (pt[i] != ignore_index && (pt[i] < 0 || pt[i] >= C))
      throw py::index_error("Target " + std::to_string(pt[i]) + " is out of bounds.");
  return t;
}

const float* class_weight(const char* fn, const py::object& weight, FArray& holder, int64_t C) {
  if (weight.is_none()) return nullptr;
  holder = FArray::ensure(weight);
  if (!holder) throw py::type_error(std::string(fn) + ": weight must be a float array or None");
  check_shape(holder, (std::string(fn) + ": weight").c_str(), {C});
  return holder.data();
}

void check_smoothing(float ls) {
  if (!(ls >= 0.0f && ls <= 1.0f)) fail("label_smoothing must be between 0.0 and 1.0. Got: " + std::to_string(ls));
}

// The checked arguments of a class-index loss (cross_entropy, nll_loss): x (N, C) named
// `xname`, the int64 targets, the optional per-class weight (pw points into wh or is null).
struct ClassArgs {
  Reduction red;
  int64_t N, C;
  IArray t;
  FArray wh;
  const float* pw;
};
ClassArgs class_args(const char* fn, const FArray& x, const char* xname, const py::array& target,
                     const py::object& weight, int64_t ignore_index, const std::string& reduction) {
  ClassArgs a;
  a.red = parse_reduction(reduction);
  check_ndim(x, xname, {2});
  a.N = x.shape(0);
  a.C = x.shape(1);
  a.t = class_target(fn, target, a.N, a.C, ignore_index);
  a.pw = class_weight(fn, weight, a.wh, a.C);
  return a;
}

// ---- cross_entropy, class indices ----------------------------------------------------------

py::tuple ce_forward(const FArray& logits, const py::array& target, py::object weight, int64_t ignore_index,
                     const std::string& reduction, float ls) {
  const char* fn = "cross_entropy";
  check_smoothing(ls);
  const ClassArgs a = class_args(fn, logits, "cross_entropy: input", target, weight, ignore_index, reduction);
  const Reduction red = a.red;
  const int64_t N = a.N, C = a.C;
  const float* pw = a.pw;
  const IArray& t = a.t;
  FArray prob = new_array({N, C});
  FArray per = red == Reduction::none ? new_array({N}) : FArray();
  float* pl = red == Reduction::none ? per.mutable_data() : nullptr;
  double tot[2] = {0.0, 0.0};
  const float* px = logits.data();
  const int64_t* pt = t.data();
  float* pp = prob.mutable_data();
  run_kernel("cross_entropy_forward", [&] {
    cross_entropy_forward(pl, pp, tot, px, pt, pw, N, C, ignore_index, ls);
  });
  return py::make_tuple(reduced(red, per, tot[0], tot[1]), prob, tot[1]);
}

FArray ce_backward(const FArray& grad, const FArray& prob, const py::array& target, py::object weight,
                   int64_t ignore_index, const std::string& reduction, float ls, double denom) {
  const char* fn = "cross_entropy_backward";
  check_smoothing(ls);
  const ClassArgs a = class_args(fn, prob, "cross_entropy_backward: prob", target, weight, ignore_index, reduction);
  const Reduction red = a.red;
  const int64_t N = a.N, C = a.C;
  const float* pw = a.pw;
  const IArray& t = a.t;
  const auto gl = grad_layout(fn, red, grad, {N}, denom);
  FArray dx = new_array({N, C});
  const float* pg = grad.data();
  const float* pp = prob.data();
  const int64_t* pt = t.data();
  float* pdx = dx.mutable_data();
  run_kernel("cross_entropy_backward", [&] {
    cross_entropy_backward(pdx, pg, gl.first, gl.second, pp, pt, pw, N, C, ignore_index, ls);
  });
  return dx;
}

// ---- cross_entropy, class probabilities ----------------------------------------------------

py::tuple ce_prob_forward(const FArray& logits, const FArray& target, py::object weight, const std::string& reduction,
                          float ls) {
  const char* fn = "cross_entropy";
  const Reduction red = parse_reduction(reduction);
  check_ndim(logits, "cross_entropy: input", {2});
  check_smoothing(ls);
  check_same_shape(logits, "cross_entropy: input", target, "probability target");
  const int64_t N = logits.shape(0), C = logits.shape(1);
  FArray wh;
  const float* pw = class_weight(fn, weight, wh, C);
  FArray prob = new_array({N, C});
  FArray per = red == Reduction::none ? new_array({N}) : FArray();
  float* pl = red == Reduction::none ? per.mutable_data() : nullptr;
  double tot[1] = {0.0};
  const float* px = logits.data();
  const float* pt = target.data();
  float* pp = prob.mutable_data();
  run_kernel("cross_entropy_prob_forward", [&] {
    cross_entropy_prob_forward(pl, pp, tot, px, pt, pw, N, C, ls);
  });
  return py::make_tuple(reduced(red, per, tot[0], static_cast<double>(N)), prob);
}

FArray ce_prob_backward(const FArray& grad, const FArray& prob, const FArray& target, py::object weight,
                        const std::string& reduction, float ls) {
  const char* fn = "cross_entropy_backward";
  const Reduction red = parse_reduction(reduction);
  check_ndim(prob, "cross_entropy_backward: prob", {2});
  check_smoothing(ls);
  check_same_shape(prob, "cross_entropy_backward: prob", target, "probability target");
  const int64_t N = prob.shape(0), C = prob.shape(1);
  FArray wh;
  const float* pw = class_weight(fn, weight, wh, C);
  const auto gl = grad_layout(fn, red, grad, {N}, static_cast<double>(N));
  FArray dx = new_array({N, C});
  const float* pg = grad.data();
  const float* pp = prob.data();
  const float* pt = target.data();
  float* pdx = dx.mutable_data();
  run_kernel("cross_entropy_prob_backward", [&] {
    cross_entropy_prob_backward(pdx, pg, gl.first, gl.second, pp, pt, pw, N, C, ls);
  });
  return dx;
}

// ---- nll_loss ------------------------------------------------------------------------------

py::tuple nll_forward(const FArray& logp, const py::array& target, py::object weight, int64_t ignore_index,
                      const std::string& reduction) {
  const char* fn = "nll_loss";
  const ClassArgs a = class_args(fn, logp, "nll_loss: input", target, weight, ignore_index, reduction);
  const Reduction red = a.red;
  const int64_t N = a.N, C = a.C;
  const float* pw = a.pw;
  const IArray& t = a.t;
  FArray per = red == Reduction::none ? new_array({N}) : FArray();
  float* pl = red == Reduction::none ? per.mutable_data() : nullptr;
  double tot[2] = {0.0, 0.0};
  const float* px = logp.data();
  const int64_t* pt = t.data();
  run_kernel("nll_loss_forward", [&] {
    nll_loss_forward(pl, tot, px, pt, pw, N, C, ignore_index);
  });
  return py::make_tuple(reduced(red, per, tot[0], tot[1]), tot[1]);
}

FArray nll_backward(const FArray& grad, const py::array& target, py::object weight, int64_t ignore_index,
                    const std::string& reduction, double denom, int64_t C) {
  const char* fn = "nll_loss_backward";
  const Reduction red = parse_reduction(reduction);
  if (target.ndim() != 1) fail("nll_loss_backward: target must be 1-D, got shape " + shape_str(target));
  const int64_t N = target.shape(0);
  if (C < 0) fail("nll_loss_backward: C must be >= 0");
  IArray t = class_target(fn, target, N, C, ignore_index);
  FArray wh;
  const float* pw = class_weight(fn, weight, wh, C);
  const auto gl = grad_layout(fn, red, grad, {N}, denom);
  FArray dx = new_array({N, C});
  const float* pg = grad.data();
  const int64_t* pt = t.data();
  float* pdx = dx.mutable_data();
  run_kernel("nll_loss_backward", [&] {
    nll_loss_backward(pdx, pg, gl.first, gl.second, pt, pw, N, C, ignore_index);
  });
  return dx;
}

// ---- elementwise losses --------------------------------------------------------------------

using ElemFwd = void (*)(float*, double*, const float*, const float*, int64_t);
using ElemBwd = void (*)(float*, float*, const float*, int64_t, float, const float*, const float*, int64_t);

FArray elem_forward(const char* fn, ElemFwd f, const FArray& x, const FArray& y, const std::string& reduction) {
  const Reduction red = parse_reduction(reduction);
  check_same_shape(x, (std::string(fn) + ": input").c_str(), y, "target");
  FArray per = red == Reduction::none ? new_array(shape_of(x)) : FArray();
  float* pl = red == Reduction::none ? per.mutable_data() : nullptr;
  double tot[1] = {0.0};
  const float* px = x.data();
  const float* pyv = y.data();
  const int64_t n = x.size();
  run_kernel(fn, [&] {
    f(pl, tot, px, pyv, n);
  });
  return reduced(red, per, tot[0], static_cast<double>(n));
}

py::tuple elem_backward(const char* fn, ElemBwd f, const FArray& grad, const FArray& x, const FArray& y,
                        const std::string& reduction, bool input_grad, bool target_grad) {
  const Reduction red = parse_reduction(reduction);
  check_same_shape(x, (std::string(fn) + ": input").c_str(), y, "target");
  const auto gl = grad_layout(fn, red, grad, shape_of(x), static_cast<double>(x.size()));
  const OptionalOut dx = optional_output(input_grad, shape_of(x)), dt = optional_output(target_grad, shape_of(x));
  float* pdx = dx.data;
  float* pdt = dt.data;
  const float* pg = grad.data();
  const float* px = x.data();
  const float* pyv = y.data();
  const int64_t n = x.size();
  run_kernel(fn, [&] {
    f(pdx, pdt, pg, gl.first, gl.second, px, pyv, n);
  });
  return py::make_tuple(dx.array, dt.array);
}

const float* same_shape_opt(const char* what, const py::object& a, FArray& holder, const FArray& like) {
  if (a.is_none()) return nullptr;
  holder = FArray::ensure(a);
  if (!holder) throw py::type_error(std::string(what) + " must be a float array or None");
  check_same_shape(holder, what, like, "input");
  return holder.data();
}

FArray bce_forward(const FArray& x, const FArray& y, py::object weight, py::object pos_weight,
                   const std::string& reduction) {
  const Reduction red = parse_reduction(reduction);
  if (x.ndim() != y.ndim() || shape_of(x) != shape_of(y))
    fail("binary_cross_entropy_with_logits: Target size (" + shape_str(y) + ") must be the same as input size (" +
         shape_str(x) + ")");
  FArray wh, ph;
  const float* pw = same_shape_opt("binary_cross_entropy_with_logits: weight", weight, wh, x);
  const float* ppw = same_shape_opt("binary_cross_entropy_with_logits: pos_weight", pos_weight, ph, x);
  FArray per = red == Reduction::none ? new_array(shape_of(x)) : FArray();
  float* pl = red == Reduction::none ? per.mutable_data() : nullptr;
  double tot[1] = {0.0};
  const float* px = x.data();
  const float* pyv = y.data();
  const int64_t n = x.size();
  run_kernel("bce_with_logits_forward", [&] {
    bce_with_logits_forward(pl, tot, px, pyv, pw, ppw, n);
  });
  return reduced(red, per, tot[0], static_cast<double>(n));
}

py::tuple bce_backward(const FArray& grad, const FArray& x, const FArray& y, py::object weight, py::object pos_weight,
                       const std::string& reduction, bool input_grad, bool target_grad) {
  const char* fn = "binary_cross_entropy_with_logits_backward";
  const Reduction red = parse_reduction(reduction);
  check_same_shape(x, "binary_cross_entropy_with_logits_backward: input", y, "target");
  FArray wh, ph;
  const float* pw = same_shape_opt("binary_cross_entropy_with_logits: weight", weight, wh, x);
  const float* ppw = same_shape_opt("binary_cross_entropy_with_logits: pos_weight", pos_weight, ph, x);
  const auto gl = grad_layout(fn, red, grad, shape_of(x), static_cast<double>(x.size()));
  const OptionalOut dx = optional_output(input_grad, shape_of(x)), dt = optional_output(target_grad, shape_of(x));
  float* pdx = dx.data;
  float* pdt = dt.data;
  const float* pg = grad.data();
  const float* px = x.data();
  const float* pyv = y.data();
  const int64_t n = x.size();
  run_kernel("bce_with_logits_backward", [&] {
    bce_with_logits_backward(pdx, pdt, pg, gl.first, gl.second, px, pyv, pw, ppw, n);
  });
  return py::make_tuple(dx.array, dt.array);
}

}  // namespace

void bind_loss(py::module_& m) {
  const auto none = py::none();
  m.def("cross_entropy_forward", &ce_forward, py::arg("input"), py::arg("target"), py::arg("weight") = none,
        py::arg("ignore_index") = -100, py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0f,
        "Fused log_softmax + nll. input (N, C) logits, target (N,) int64 class indices, weight (C,) or None. "
        "Returns (loss, prob, denominator): loss 0-d ('mean'/'sum') or (N,) ('none'); prob = softmax(input) "
        "(N, C) for backward; denominator = sum of w[target] over non-ignored rows.");
  m.def("cross_entropy_backward", &ce_backward, py::arg("grad_output"), py::arg("prob"), py::arg("target"),
        py::arg("weight") = none, py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
        py::arg("label_smoothing") = 0.0f, py::arg("denominator") = 1.0, "d loss / d input, (N, C).");
  m.def("cross_entropy_prob_forward", &ce_prob_forward, py::arg("input"), py::arg("target"), py::arg("weight") = none,
        py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0f,
        "Cross-entropy with class-probability targets (N, C). Returns (loss, prob).");
  m.def("cross_entropy_prob_backward", &ce_prob_backward, py::arg("grad_output"), py::arg("prob"), py::arg("target"),
        py::arg("weight") = none, py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0f);
  m.def("nll_loss_forward", &nll_forward, py::arg("input"), py::arg("target"), py::arg("weight") = none,
        py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
        "input (N, C) log-probabilities, target (N,) int64. Returns (loss, denominator).");
  m.def("nll_loss_backward", &nll_backward, py::arg("grad_output"), py::arg("target"), py::arg("weight") = none,
        py::arg("ignore_index") = -100, py::arg("reduction") = "mean", py::arg("denominator") = 1.0,
        py::arg("num_classes") = 0);
  m.def("mse_loss_forward",
        [](const FArray& x, const FArray& y, const std::string& r) { return elem_forward("mse_loss", mse_loss_forward, x, y, r); },
        py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  m.def("mse_loss_backward",
        [](const FArray& g, const FArray& x, const FArray& y, const std::string& r, bool ig, bool tg) {
          return elem_backward("mse_loss_backward", mse_loss_backward, g, x, y, r, ig, tg);
        },
        py::arg("grad_output"), py::arg("input"), py::arg("target"), py::arg("reduction") = "mean",
        py::arg("input_grad") = true, py::arg("target_grad") = false, "(dinput or None, dtarget or None)");
  m.def("l1_loss_forward",
        [](const FArray& x, const FArray& y, const std::string& r) { return elem_forward("l1_loss", l1_loss_forward, x, y, r); },
        py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  m.def("l1_loss_backward",
        [](const FArray& g, const FArray& x, const FArray& y, const std::string& r, bool ig, bool tg) {
          return elem_backward("l1_loss_backward", l1_loss_backward, g, x, y, r, ig, tg);
        },
        py::arg("grad_output"), py::arg("input"), py::arg("target"), py::arg("reduction") = "mean",
        py::arg("input_grad") = true, py::arg("target_grad") = false);
  m.def("bce_with_logits_forward", &bce_forward, py::arg("input"), py::arg("target"), py::arg("weight") = none,
        py::arg("pos_weight") = none, py::arg("reduction") = "mean",
        "weight / pos_weight: None or already broadcast to the input shape.");
  m.def("bce_with_logits_backward", &bce_backward, py::arg("grad_output"), py::arg("input"), py::arg("target"),
        py::arg("weight") = none, py::arg("pos_weight") = none, py::arg("reduction") = "mean",
        py::arg("input_grad") = true, py::arg("target_grad") = false);
}

}  // namespace bind
}  // namespace fastdl
