// Bindings for the optim kernel family: fused in-place SGD and Adam/AdamW updates.
#include <pybind11/stl.h>

#include <optional>

#include "array_check.h"
#include "fastdl/optim.h"

namespace fastdl {
namespace bind {

namespace {

// An in-place buffer: writeable, the same shape as param, not the same memory as param.
void check_buffer(const FOut& a, const char* name, const FOut& param) {
  check_same_shape(param, "param", a, name);
  check_writeable(a, name);
  if (shares_memory(a, param)) fail(std::string(name) + ": must not share memory with param");
}

void check_distinct(const FOut& a, const char* an, const FOut& b, const char* bn) {
  if (shares_memory(a, b)) fail(std::string(an) + " and " + bn + " must be different arrays (no shared memory)");
}

void sgd_update_py(FOut param, std::optional<FOut> momentum_buffer, FOut grad, double lr,
                   double momentum, double dampening, double weight_decay, bool nesterov,
                   bool maximize, bool init_buffer) {
  check_writeable(param, "param");
  check_same_shape(param, "param", grad, "grad");
  check_no_overlap(param, "param", grad, "grad", true);
  if (momentum != 0.0 && !momentum_buffer)
    fail("sgd_update: momentum != 0 needs a momentum_buffer the shape of param " + shape_str(param));
  if (momentum == 0.0 && momentum_buffer)
    fail("sgd_update: momentum_buffer must be None when momentum == 0");
  if (momentum_buffer) {
    check_buffer(*momentum_buffer, "momentum_buffer", param);
    check_distinct(*momentum_buffer, "momentum_buffer", grad, "grad");
  }
  if (nesterov && (momentum <= 0.0 || dampening != 0.0))
    fail("sgd_update: Nesterov momentum requires a momentum and zero dampening");
  const int64_t n = param.size();
  float* p = param.mutable_data();
  float* b = momentum_buffer ? momentum_buffer->mutable_data() : nullptr;
  const float* g = grad.data();
  run_kernel("sgd_update", [&] { sgd_update(p, b, g, n, lr, momentum, dampening, weight_decay, nesterov, maximize, init_buffer); });
}

void adam_update_py(FOut param, FOut exp_avg, FOut exp_avg_sq, std::optional<FOut> max_exp_avg_sq,
                    FOut grad, int64_t step, double lr, double beta1, double beta2, double eps,
                    double weight_decay, bool decoupled_weight_decay, bool maximize) {
  check_writeable(param, "param");
  check_same_shape(param, "param", grad, "grad");
  check_no_overlap(param, "param", grad, "grad", true);
  check_buffer(exp_avg, "exp_avg", param);
  check_buffer(exp_avg_sq, "exp_avg_sq", param);
  check_distinct(exp_avg, "exp_avg", exp_avg_sq, "exp_avg_sq");
  check_distinct(exp_avg, "exp_avg", grad, "grad");
  check_distinct(exp_avg_sq, "exp_avg_sq", grad, "grad");
  if (max_exp_avg_sq) {
    check_buffer(*max_exp_avg_sq, "max_exp_avg_sq", param);
    check_distinct(*max_exp_avg_sq, "max_exp_avg_sq", exp_avg, "exp_avg");
    check_distinct(*max_exp_avg_sq, "max_exp_avg_sq", exp_avg_sq, "exp_avg_sq");
    check_distinct(*max_exp_avg_sq, "max_exp_avg_sq", grad, "grad");
  }
  if (step < 1) fail("adam_update: step must be >= 1 (the count after this update), got " + std::to_string(step));
  if (!(beta1 >= 0.0 && beta1 < 1.0)) fail("adam_update: beta1 must be in [0, 1), got " + std::to_string(beta1));
  if (!(beta2 >= 0.0 && beta2 < 1.0)) fail("adam_update: beta2 must be in [0, 1), got " + std::to_string(beta2));
  const int64_t n = param.size();
  float* p = param.mutable_data();
  float* m = exp_avg.mutable_data();
  float* v = exp_avg_sq.mutable_data();
  float* vmax = max_exp_avg_sq ? max_exp_avg_sq->mutable_data() : nullptr;
  const float* g = grad.data();
  run_kernel("adam_update", [&] { adam_update(p, m, v, vmax, g, n, step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize); });
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("sgd_update", &sgd_update_py, py::arg("param").noconvert(),
        py::arg("momentum_buffer").noconvert(), py::arg("grad").noconvert(), py::arg("lr"),
        py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("nesterov") = false, py::arg("maximize") = false, py::arg("init_buffer") = false,
        "One torch.optim.SGD step on one tensor, in place. param, grad, momentum_buffer: "
        "float32 C-contiguous arrays of one shape (momentum_buffer None iff momentum == 0; with "
        "init_buffer it is only written: the first step sets it to the gradient).");
  m.def("adam_update", &adam_update_py, py::arg("param").noconvert(), py::arg("exp_avg").noconvert(),
        py::arg("exp_avg_sq").noconvert(), py::arg("max_exp_avg_sq").noconvert(),
        py::arg("grad").noconvert(), py::arg("step"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("weight_decay") = 0.0,
        py::arg("decoupled_weight_decay") = false, py::arg("maximize") = false,
        "One torch.optim.Adam (AdamW when decoupled_weight_decay) step on one tensor, in place. "
        "All arrays float32 C-contiguous of param's shape; max_exp_avg_sq None unless amsgrad; "
        "step is the count after this update (>= 1).");
}

}  // namespace bind
}  // namespace fastdl
