// Test-only bindings (fastdl._C.testing) reaching each entry of the optimizer and loss kernel
// tables directly for a given ISA level: <family>_<entry>(isa, ...). A level the CPU lacks
// raises UnsupportedIsaError. Each call runs the serial kernel once on the whole input and
// returns new arrays (the inputs are never modified).
#include <string>

#include "../src/loss/loss_kernels.h"
#include "../src/optim/optim_kernels.h"
#include "array_check.h"

namespace fastdl {
namespace bind {

static FArray copy_of(const FArray& a) {
  FArray c = new_array(shape_of(a));
  std::copy(a.data(), a.data() + a.size(), c.mutable_data());
  return c;
}

// A new copy of an optional state `a` (src == a.data(), or nullptr when absent): None and
// nullptr when absent.
static OptionalOut optional_copy(const float* src, const FArray& a) {
  OptionalOut o = optional_output(src != nullptr, shape_of(a));
  if (src) std::copy(src, src + a.size(), o.data);
  return o;
}

// An optional float32 input of `like`'s shape: nullptr when None.
static const float* optional_like(const py::object& o, FArray& keep, const char* name, const py::array& like) {
  if (o.is_none()) return nullptr;
  keep = o.cast<FArray>();
  check_same_shape(keep, name, like, "the first tensor");
  return keep.data();
}

static py::tuple sgd_step(const std::string& isa, const FArray& param, py::object buf_o, const FArray& grad, double lr,
                          double momentum, double dampening, double weight_decay, bool nesterov, bool maximize,
                          bool init_buffer) {
  const auto& k = optim_kernels(parse_isa(isa));
  check_same_shape(param, "param", grad, "grad");
  FArray buf_in;
  const float* b = optional_like(buf_o, buf_in, "momentum_buffer", param);
  if ((momentum != 0.0) != (b != nullptr)) fail("optim_sgd_update: a momentum buffer is needed exactly when momentum != 0");
  FArray p = copy_of(param);
  OptionalOut buf_out = optional_copy(b, buf_in);
  const SgdCoeffs c = sgd_coeffs(lr, momentum, dampening, weight_decay, nesterov, maximize, init_buffer);
  k.sgd_update(p.mutable_data(), buf_out.data, grad.data(), p.size(), c);
  return py::make_tuple(p, buf_out.array);
}

static py::tuple adam_step(const std::string& isa, const FArray& param, const FArray& exp_avg, const FArray& exp_avg_sq,
                           py::object vmax_o, const FArray& grad, int64_t step, double lr, double beta1, double beta2,
                           double eps, double weight_decay, bool decoupled, bool maximize) {
  const auto& k = optim_kernels(parse_isa(isa));
  check_same_shape(param, "param", grad, "grad");
  check_same_shape(param, "param", exp_avg, "exp_avg");
  check_same_shape(param, "param", exp_avg_sq, "exp_avg_sq");
  if (step < 1) fail("optim_adam_update: step must be >= 1, got " + std::to_string(step));
  FArray vmax_in;
  const float* vm = optional_like(vmax_o, vmax_in, "max_exp_avg_sq", param);
  FArray p = copy_of(param), m = copy_of(exp_avg), v = copy_of(exp_avg_sq);
  OptionalOut vmax_out = optional_copy(vm, vmax_in);
  const AdamCoeffs c = adam_coeffs(step, lr, beta1, beta2, eps, weight_decay, decoupled, maximize, vm != nullptr);
  k.adam_update(p.mutable_data(), m.mutable_data(), v.mutable_data(), vmax_out.data, grad.data(), p.size(), c);
  return py::make_tuple(p, m, v, vmax_out.array);
}

// ---- loss: logits (R, C); class-index targets (R) or probability targets (R, C); weight (C) or None.
static const float* class_weight(const py::object& o, FArray& keep, int64_t C, float* wsum) {
  *wsum = static_cast<float>(C);
  if (o.is_none()) return nullptr;
  keep = o.cast<FArray>();
  check_shape(keep, "weight", {C});
  float s = 0.0f;  // the order loss.cpp sums in
  for (int64_t c = 0; c < C; ++c) s += keep.data()[c];
  *wsum = s;
  return keep.data();
}

static void check_targets(const IArray& t, int64_t R, int64_t C, int64_t ignore_index) {
  check_shape(t, "target", {R});
  for (int64_t i = 0; i < R; ++i)
    if (t.data()[i] != ignore_index && (t.data()[i] < 0 || t.data()[i] >= C))
      fail("target " + std::to_string(t.data()[i]) + " is out of range for " + std::to_string(C) + " classes");
}

static py::tuple ce_rows(const std::string& isa, const FArray& logits, const IArray& target, py::object w_o,
                         int64_t ignore_index, float eps) {
  const auto& k = loss_kernels(parse_isa(isa));
  check_ndim(logits, "logits", {2});
  const int64_t R = logits.shape(0), C = logits.shape(1);
  check_targets(target, R, C, ignore_index);
  FArray wk;
  float wsum;
  const float* w = class_weight(w_o, wk, C, &wsum);
  FArray loss = new_array({R}), prob = new_array({R, C});
  double tot[2] = {0.0, 0.0};
  k.cross_entropy_rows(loss.mutable_data(), prob.mutable_data(), tot, logits.data(), target.data(), w, R, C,
                       ignore_index, eps, wsum);
  return py::make_tuple(loss, prob, tot[0], tot[1]);
}

static FArray ce_backward_rows(const std::string& isa, const FArray& g, float scale, const FArray& prob,
                               const IArray& target, py::object w_o, int64_t ignore_index, float eps) {
  const auto& k = loss_kernels(parse_isa(isa));
  check_ndim(prob, "prob", {2});
  const int64_t R = prob.shape(0), C = prob.shape(1);
  check_shape(g, "g", {R});
  check_targets(target, R, C, ignore_index);
  FArray wk;
  float wsum;
  const float* w = class_weight(w_o, wk, C, &wsum);
  FArray d = new_array({R, C});
  k.cross_entropy_backward_rows(d.mutable_data(), g.data(), 1, scale, prob.data(), target.data(), w, R, C,
                                ignore_index, eps, wsum);
  return d;
}

static py::tuple ce_prob_rows(const std::string& isa, const FArray& logits, const FArray& target, py::object w_o,
                              float eps) {
  const auto& k = loss_kernels(parse_isa(isa));
  check_ndim(logits, "logits", {2});
  check_same_shape(logits, "logits", target, "target");
  const int64_t R = logits.shape(0), C = logits.shape(1);
  FArray wk;
  float wsum;
  const float* w = class_weight(w_o, wk, C, &wsum);
  FArray loss = new_array({R}), prob = new_array({R, C});
  double tot[2] = {0.0, 0.0};
  k.cross_entropy_prob_rows(loss.mutable_data(), prob.mutable_data(), tot, logits.data(), target.data(), w, R, C, eps);
  return py::make_tuple(loss, prob, tot[0]);
}

static FArray ce_prob_backward_rows(const std::string& isa, const FArray& g, float scale, const FArray& prob,
                                    const FArray& target, py::object w_o, float eps) {
  const auto& k = loss_kernels(parse_isa(isa));
  check_ndim(prob, "prob", {2});
  check_same_shape(prob, "prob", target, "target");
  const int64_t R = prob.shape(0), C = prob.shape(1);
  check_shape(g, "g", {R});
  FArray wk;
  float wsum;
  const float* w = class_weight(w_o, wk, C, &wsum);
  FArray d = new_array({R, C});
  k.cross_entropy_prob_backward_rows(d.mutable_data(), g.data(), 1, scale, prob.data(), target.data(), w, R, C, eps);
  return d;
}

static py::tuple bce_chunk(const std::string& isa, const FArray& x, const FArray& y, py::object w_o, py::object pw_o) {
  const auto& k = loss_kernels(parse_isa(isa));
  check_same_shape(x, "input", y, "target");
  FArray wk, pk;
  const float* w = optional_like(w_o, wk, "weight", x);
  const float* pw = optional_like(pw_o, pk, "pos_weight", x);
  FArray loss = new_array(shape_of(x));
  double tot = 0.0;
  k.bce_with_logits_chunk(loss.mutable_data(), &tot, x.data(), y.data(), w, pw, x.size());
  return py::make_tuple(loss, tot);
}

static py::tuple bce_backward_chunk(const std::string& isa, const FArray& g, float scale, const FArray& x,
                                    const FArray& y, py::object w_o, py::object pw_o) {
  const auto& k = loss_kernels(parse_isa(isa));
  check_same_shape(x, "input", y, "target");
  check_same_shape(x, "input", g, "g");
  FArray wk, pk;
  const float* w = optional_like(w_o, wk, "weight", x);
  const float* pw = optional_like(pw_o, pk, "pos_weight", x);
  FArray dx = new_array(shape_of(x)), dt = new_array(shape_of(x));
  k.bce_with_logits_backward_chunk(dx.mutable_data(), dt.mutable_data(), g.data(), 1, scale, x.data(), y.data(), w, pw,
                                   x.size());
  return py::make_tuple(dx, dt);
}

void bind_testing_optim_loss(py::module_& t) {
  t.def("optim_sgd_update", &sgd_step, py::arg("isa"), py::arg("param"), py::arg("momentum_buffer"), py::arg("grad"),
        py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
        py::arg("maximize"), py::arg("init_buffer"), "Returns (param, momentum_buffer or None), new arrays.");
  t.def("optim_adam_update", &adam_step, py::arg("isa"), py::arg("param"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("max_exp_avg_sq"), py::arg("grad"), py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("decoupled_weight_decay"), py::arg("maximize"),
        "Returns (param, exp_avg, exp_avg_sq, max_exp_avg_sq or None), new arrays.");
  t.def("loss_cross_entropy_rows", &ce_rows, py::arg("isa"), py::arg("logits"), py::arg("target"), py::arg("weight"),
        py::arg("ignore_index"), py::arg("label_smoothing"), "Returns (loss, prob, total, weight_total).");
  t.def("loss_cross_entropy_backward_rows", &ce_backward_rows, py::arg("isa"), py::arg("g"), py::arg("scale"),
        py::arg("prob"), py::arg("target"), py::arg("weight"), py::arg("ignore_index"), py::arg("label_smoothing"));
  t.def("loss_cross_entropy_prob_rows", &ce_prob_rows, py::arg("isa"), py::arg("logits"), py::arg("target"),
        py::arg("weight"), py::arg("label_smoothing"), "Returns (loss, prob, total).");
  t.def("loss_cross_entropy_prob_backward_rows", &ce_prob_backward_rows, py::arg("isa"), py::arg("g"), py::arg("scale"),
        py::arg("prob"), py::arg("target"), py::arg("weight"), py::arg("label_smoothing"));
  t.def("loss_bce_with_logits_chunk", &bce_chunk, py::arg("isa"), py::arg("input"), py::arg("target"), py::arg("weight"),
        py::arg("pos_weight"), "Returns (loss, total).");
  t.def("loss_bce_with_logits_backward_chunk", &bce_backward_chunk, py::arg("isa"), py::arg("g"), py::arg("scale"),
        py::arg("input"), py::arg("target"), py::arg("weight"), py::arg("pos_weight"), "Returns (dinput, dtarget).");
}

}  // namespace bind
}  // namespace fastdl
