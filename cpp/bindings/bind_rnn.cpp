// Bindings for the rnn kernel family: sequence forward / backward of one recurrent layer and
// direction (RNN tanh/relu, LSTM, GRU), and the mode constants RNN_TANH, RNN_RELU, LSTM, GRU.
#include <string>

#include "array_check.h"
#include "fastdl/rnn.h"

namespace fastdl {
namespace bind {

static const char* mode_name(RnnMode m) {
  switch (m) {
    case RnnMode::rnn_tanh: return "RNN_TANH";
    case RnnMode::rnn_relu: return "RNN_RELU";
    case RnnMode::lstm: return "LSTM";
    default: return "GRU";
  }
}

static RnnMode to_mode(int mode) {
  if (mode < 0 || mode > 3)
    fail("rnn: mode must be _C.RNN_TANH (0), RNN_RELU (1), LSTM (2) or GRU (3), got " + std::to_string(mode));
  return static_cast<RnnMode>(mode);
}

// An optional float32 array: absent (None, a null pointer for the kernel) or present.
struct Opt {
  FArray arr;
  bool present = false;
  explicit operator bool() const { return present; }
  const float* data() const { return present ? arr.data() : nullptr; }
  float* mutable_data() { return present ? arr.mutable_data() : nullptr; }
  py::object obj() const { return present ? py::object(arr) : py::none(); }
};

static Opt make_opt(FArray a) { return Opt{std::move(a), true}; }
static Opt none_opt() { return Opt{}; }

// None -> absent; else a float32 C-contiguous array of exactly `shape`.
static Opt optional_array(const py::object& o, const char* name, const std::vector<int64_t>& shape) {
  if (o.is_none()) return none_opt();
  FArray a = FArray::ensure(o);
  if (!a) throw py::error_already_set();
  check_shape(a, name, shape);
  return make_opt(std::move(a));
}

static const float* ptr(const Opt& a) { return a.data(); }

struct RnnShapes {
  int64_t T, N, I, H, G;
};

static RnnShapes check_layer(RnnMode mode, const FArray& x, const FArray& w_ih, const FArray& w_hh) {
  check_ndim(x, "rnn: input", {3});
  check_ndim(w_ih, "rnn: weight_ih", {2});
  check_ndim(w_hh, "rnn: weight_hh", {2});
  RnnShapes s{x.shape(0), x.shape(1), x.shape(2), w_hh.shape(1), rnn_num_gates(mode)};
  check_shape(w_hh, (std::string("rnn: weight_hh of ") + mode_name(mode)).c_str(), {s.G * s.H, s.H});
  if (w_ih.shape(1) != s.I)
    fail("rnn: input has " + std::to_string(s.I) + " features (shape " + shape_str(x) +
         ") but weight_ih expects " + std::to_string(w_ih.shape(1)) + " (shape " + shape_str(w_ih) + ")");
  check_shape(w_ih, "rnn: weight_ih", {s.G * s.H, s.I});
  numel({s.T, s.N, s.G * s.H}, "rnn: gate buffer");
  return s;
}

static py::tuple rnn_forward(int mode_i, const FArray& x, py::object h0_o, py::object c0_o, const FArray& w_ih,
                             const FArray& w_hh, py::object b_ih_o, py::object b_hh_o, bool reverse) {
  const RnnMode mode = to_mode(mode_i);
  const RnnShapes s = check_layer(mode, x, w_ih, w_hh);
  Opt h0 = optional_array(h0_o, "rnn: h0", {s.N, s.H});
  Opt c0 = optional_array(c0_o, "rnn: c0", {s.N, s.H});
  if (c0 && mode != RnnMode::lstm) fail("rnn: c0 is only used by LSTM");
  Opt b_ih = optional_array(b_ih_o, "rnn: bias_ih", {s.G * s.H});
  Opt b_hh = optional_array(b_hh_o, "rnn: bias_hh", {s.G * s.H});
  const bool is_rnn = mode == RnnMode::rnn_tanh || mode == RnnMode::rnn_relu;
  FArray y = new_array({s.T, s.N, s.H});
  FArray h_n = new_array({s.N, s.H});
  Opt c_n = mode == RnnMode::lstm ? make_opt(new_array({s.N, s.H})) : none_opt();
  Opt gates = is_rnn ? none_opt() : make_opt(new_array({s.T, s.N, s.G * s.H}));
  Opt extra = is_rnn ? none_opt() : make_opt(new_array({s.T, s.N, s.H}));
  float* py_ = y.mutable_data();
  float* phn = h_n.mutable_data();
  float* pcn = c_n.mutable_data();
  float* pg = gates.mutable_data();
  float* pe = extra.mutable_data();
  run_kernel("rnn_forward", [&] {
    rnn_sequence_forward(mode, py_, phn, pcn, pg, pe, x.data(), ptr(h0), ptr(c0), w_ih.data(), w_hh.data(),
                         ptr(b_ih), ptr(b_hh), s.T, s.N, s.I, s.H, reverse);
  });
  return py::make_tuple(y, h_n, c_n.obj(), gates.obj(), extra.obj());
}

static py::tuple rnn_backward(int mode_i, py::object gates_o, py::object extra_o, const FArray& y,
                              const FArray& x, py::object h0_o, py::object c0_o, const FArray& w_ih,
                              const FArray& w_hh, bool has_bias, const FArray& dy, py::object dh_n_o,
                              py::object dc_n_o, bool reverse, bool need_dx) {
  const RnnMode mode = to_mode(mode_i);
  const RnnShapes s = check_layer(mode, x, w_ih, w_hh);
  const bool is_rnn = mode == RnnMode::rnn_tanh || mode == RnnMode::rnn_relu;
  Opt gates = optional_array(gates_o, "rnn: saved gates", {s.T, s.N, s.G * s.H});
  Opt extra = optional_array(extra_o, "rnn: saved states", {s.T, s.N, s.H});
  if (!is_rnn && (!gates || !extra)) fail(std::string("rnn: ") + mode_name(mode) + " backward needs the saved gates and states");
  check_shape(y, "rnn: output", {s.T, s.N, s.H});
  check_shape(dy, "rnn: grad_output", {s.T, s.N, s.H});
  Opt h0 = optional_array(h0_o, "rnn: h0", {s.N, s.H});
  Opt c0 = optional_array(c0_o, "rnn: c0", {s.N, s.H});
  Opt dh_n = optional_array(dh_n_o, "rnn: grad_h_n", {s.N, s.H});
  Opt dc_n = optional_array(dc_n_o, "rnn: grad_c_n", {s.N, s.H});
  Opt dx = need_dx ? make_opt(new_array({s.T, s.N, s.I})) : none_opt();
  FArray dh0 = new_array({s.N, s.H});
  Opt dc0 = mode == RnnMode::lstm ? make_opt(new_array({s.N, s.H})) : none_opt();
  FArray dw_ih = new_array({s.G * s.H, s.I});
  FArray dw_hh = new_array({s.G * s.H, s.H});
  Opt db_ih = has_bias ? make_opt(new_array({s.G * s.H})) : none_opt();
  Opt db_hh = has_bias ? make_opt(new_array({s.G * s.H})) : none_opt();
  float* pdx = dx.mutable_data();
  float* pdh0 = dh0.mutable_data();
  float* pdc0 = dc0.mutable_data();
  float* pdwi = dw_ih.mutable_data();
  float* pdwh = dw_hh.mutable_data();
  float* pdbi = db_ih.mutable_data();
  float* pdbh = db_hh.mutable_data();
  run_kernel("rnn_backward", [&] {
    rnn_sequence_backward(mode, pdx, pdh0, pdc0, pdwi, pdwh, pdbi, pdbh, ptr(gates), ptr(extra), y.data(), x.data(),
                          ptr(h0), ptr(c0), w_ih.data(), w_hh.data(), dy.data(), ptr(dh_n), ptr(dc_n), s.T, s.N,
                          s.I, s.H, reverse);
  });
  return py::make_tuple(dx.obj(), dh0, dc0.obj(), dw_ih, dw_hh, db_ih.obj(), db_hh.obj());
}

void bind_rnn(py::module_& m) {
  // The one definition of the mode numbers (fastdl::RnnMode); Python passes these names.
  for (RnnMode md : {RnnMode::rnn_tanh, RnnMode::rnn_relu, RnnMode::lstm, RnnMode::gru})
    m.attr(mode_name(md)) = static_cast<int>(md);
  m.def("rnn_forward", &rnn_forward, py::arg("mode"), py::arg("input"), py::arg("h0"), py::arg("c0"),
        py::arg("weight_ih"), py::arg("weight_hh"), py::arg("bias_ih"), py::arg("bias_hh"), py::arg("reverse") = false,
        "One recurrent layer and direction. mode: RNN_TANH, RNN_RELU, LSTM or GRU. input (T, N, I); "
        "h0, c0 (N, H) or None; weight_ih (G*H, I); weight_hh (G*H, H); biases (G*H,) or None. "
        "Returns (output (T, N, H), h_n, c_n or None, gates or None, states or None); the last two are "
        "saved for rnn_backward.");
  m.def("rnn_backward", &rnn_backward, py::arg("mode"), py::arg("gates"), py::arg("states"), py::arg("output"),
        py::arg("input"), py::arg("h0"), py::arg("c0"), py::arg("weight_ih"), py::arg("weight_hh"),
        py::arg("has_bias"), py::arg("grad_output"), py::arg("grad_h_n"), py::arg("grad_c_n"),
        py::arg("reverse") = false, py::arg("need_input_grad") = true,
        "Backward of rnn_forward. Returns (grad_input or None, grad_h0, grad_c0 or None, grad_weight_ih, "
        "grad_weight_hh, grad_bias_ih or None, grad_bias_hh or None).");
}

}  // namespace bind
}  // namespace fastdl
