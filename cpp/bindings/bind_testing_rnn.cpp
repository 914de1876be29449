// Test-only bindings (fastdl._C.testing) reaching each fused cell of the recurrent kernel table
// directly for a given ISA level: rnn_<cell>(isa, ...) over all N rows at once (no threading).
// A level the CPU lacks raises UnsupportedIsaError. Inputs are never modified. Layouts:
// cpp/src/rnn/rnn_kernels.h.
#include <string>

#include "../src/rnn/rnn_kernels.h"
#include "array_check.h"

namespace fastdl {
namespace bind {

struct CellShape {
  int64_t N, H;
};

// a is (N, G*H); returns N and H.
static CellShape cell_shape(const FArray& a, const char* name, int64_t G) {
  check_ndim(a, name, {2});
  if (a.shape(1) % G != 0) fail(std::string(name) + ": the second dimension must be a multiple of " + std::to_string(G) + ", got " + shape_str(a));
  return CellShape{a.shape(0), a.shape(1) / G};
}

static FArray copy_array(const FArray& a) {
  FArray c = new_array(shape_of(a));
  std::copy(a.data(), a.data() + a.size(), c.mutable_data());
  return c;
}

static const float* optional_state(const py::object& o, FArray& keep, const char* name, CellShape s) {
  if (o.is_none()) return nullptr;
  keep = o.cast<FArray>();
  check_shape(keep, name, {s.N, s.H});
  return keep.data();
}

static FArray rnn_fwd(const std::string& isa, bool relu, const FArray& pre) {
  const auto& k = rnn_kernels(parse_isa(isa));
  const CellShape s = cell_shape(pre, "pre", 1);
  FArray h = new_array({s.N, s.H});
  k.rnn_cell_forward(relu, h.mutable_data(), pre.data(), 0, s.N, s.H);
  return h;
}

static FArray rnn_bwd(const std::string& isa, bool relu, const FArray& dy, const FArray& dh_carry, const FArray& h) {
  const auto& k = rnn_kernels(parse_isa(isa));
  const CellShape s = cell_shape(h, "h", 1);
  check_shape(dy, "dy", {s.N, s.H});
  check_shape(dh_carry, "dh_carry", {s.N, s.H});
  FArray dpre = new_array({s.N, s.H});
  k.rnn_cell_backward(relu, dpre.mutable_data(), dy.data(), dh_carry.data(), h.data(), 0, s.N, s.H);
  return dpre;
}

static py::tuple lstm_fwd(const std::string& isa, const FArray& pre, py::object c_prev_o) {
  const auto& k = rnn_kernels(parse_isa(isa));
  const CellShape s = cell_shape(pre, "gates", 4);
  FArray ck;
  const float* c_prev = optional_state(c_prev_o, ck, "c_prev", s);
  FArray gates = copy_array(pre), h = new_array({s.N, s.H}), c = new_array({s.N, s.H});
  k.lstm_cell_forward(h.mutable_data(), c.mutable_data(), gates.mutable_data(), c_prev, 0, s.N, 0, s.H, s.H);
  return py::make_tuple(h, c, gates);
}

static py::tuple lstm_bwd(const std::string& isa, const FArray& dy, const FArray& dh_carry, const FArray& dc_in,
                          const FArray& gates, const FArray& c, py::object c_prev_o) {
  const auto& k = rnn_kernels(parse_isa(isa));
  const CellShape s = cell_shape(gates, "gates", 4);
  check_shape(dy, "dy", {s.N, s.H});
  check_shape(dh_carry, "dh_carry", {s.N, s.H});
  check_shape(dc_in, "dc", {s.N, s.H});
  check_shape(c, "c", {s.N, s.H});
  FArray ck;
  const float* c_prev = optional_state(c_prev_o, ck, "c_prev", s);
  FArray dgates = new_array({s.N, 4 * s.H}), dc = copy_array(dc_in);
  k.lstm_cell_backward(dgates.mutable_data(), dc.mutable_data(), dy.data(), dh_carry.data(), gates.data(), c.data(),
                       c_prev, 0, s.N, s.H);
  return py::make_tuple(dgates, dc);
}

static py::tuple gru_fwd(const std::string& isa, const FArray& gx, const FArray& gh, py::object b_hh_o,
                         const FArray& h_prev) {
  const auto& k = rnn_kernels(parse_isa(isa));
  const CellShape s = cell_shape(gx, "gates", 3);
  check_shape(gh, "gh", {s.N, 3 * s.H});
  check_shape(h_prev, "h_prev", {s.N, s.H});
  FArray bk;
  const float* b_hh = nullptr;
  if (!b_hh_o.is_none()) {
    bk = b_hh_o.cast<FArray>();
    check_shape(bk, "b_hh", {3 * s.H});
    b_hh = bk.data();
  }
  FArray gates = copy_array(gx), h = new_array({s.N, s.H}), hn = new_array({s.N, s.H});
  k.gru_cell_forward(h.mutable_data(), gates.mutable_data(), hn.mutable_data(), gh.data(), b_hh, h_prev.data(), 0, s.N,
                     0, s.H, s.H);
  return py::make_tuple(h, gates, hn);
}

static py::tuple gru_bwd(const std::string& isa, const FArray& dy, const FArray& dh_carry, const FArray& gates,
                         const FArray& hn, const FArray& h_prev) {
  const auto& k = rnn_kernels(parse_isa(isa));
  const CellShape s = cell_shape(gates, "gates", 3);
  check_shape(dy, "dy", {s.N, s.H});
  check_shape(dh_carry, "dh_carry", {s.N, s.H});
  check_shape(hn, "hn", {s.N, s.H});
  check_shape(h_prev, "h_prev", {s.N, s.H});
  FArray dgx = new_array({s.N, 3 * s.H}), dgh = new_array({s.N, 3 * s.H}), dhp = new_array({s.N, s.H});
  k.gru_cell_backward(dgx.mutable_data(), dgh.mutable_data(), dhp.mutable_data(), dy.data(), dh_carry.data(),
                      gates.data(), hn.data(), h_prev.data(), 0, s.N, s.H);
  return py::make_tuple(dgx, dgh, dhp);
}

void bind_testing_rnn(py::module_& t) {
  t.def("rnn_rnn_cell_forward", &rnn_fwd, py::arg("isa"), py::arg("relu"), py::arg("pre"));
  t.def("rnn_rnn_cell_backward", &rnn_bwd, py::arg("isa"), py::arg("relu"), py::arg("dy"), py::arg("dh_carry"),
        py::arg("h"));
  t.def("rnn_lstm_cell_forward", &lstm_fwd, py::arg("isa"), py::arg("pre"), py::arg("c_prev"),
        "pre (N, 4H) pre-activations -> (h, c, activated gates).");
  t.def("rnn_lstm_cell_backward", &lstm_bwd, py::arg("isa"), py::arg("dy"), py::arg("dh_carry"), py::arg("dc"),
        py::arg("gates"), py::arg("c"), py::arg("c_prev"), "-> (dgates, dc_prev).");
  t.def("rnn_gru_cell_forward", &gru_fwd, py::arg("isa"), py::arg("gx"), py::arg("gh"), py::arg("b_hh"),
        py::arg("h_prev"), "gx = W_ih x + b_ih (N, 3H), gh = W_hh h' (N, 3H) -> (h, gates r z n, hn).");
  t.def("rnn_gru_cell_backward", &gru_bwd, py::arg("isa"), py::arg("dy"), py::arg("dh_carry"), py::arg("gates"),
        py::arg("hn"), py::arg("h_prev"), "-> (dgx, dgh, dh_prev direct part).");
}

}  // namespace bind
}  // namespace fastdl
