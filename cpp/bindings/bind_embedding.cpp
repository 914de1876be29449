// Bindings for the embedding kernel family: lookup and scatter-add backward.
#include <string>

#include "array_check.h"
#include "fastdl/embedding.h"

namespace fastdl {
namespace bind {

static void check_ids(const IArray& ids, int64_t V) {
  const int64_t* p = ids.data();
  for (py::ssize_t i = 0; i < ids.size(); ++i)
    if (p[i] < 0 || p[i] >= V)
      fail("embedding: index " + std::to_string(p[i]) + " is out of range for a table of " + std::to_string(V) + " rows");
}

static FArray embedding_forward_py(const FArray& weight, const IArray& ids) {
  check_ndim(weight, "embedding: weight", {2});
  const int64_t V = weight.shape(0), D = weight.shape(1);
  check_ids(ids, V);
  std::vector<int64_t> shape = shape_of(ids);
  shape.push_back(D);
  FArray out = new_array(shape);
  float* po = out.mutable_data();
  run_kernel("embedding_forward", [&] {
    embedding_forward(po, ids.data(), weight.data(), ids.size(), V, D);
  });
  return out;
}

static FArray embedding_backward_py(const FArray& grad_out, const IArray& ids, int64_t num_embeddings,
                                    int64_t padding_idx) {
  if (num_embeddings < 0) fail("embedding_backward: num_embeddings must be >= 0");
  std::vector<int64_t> shape = shape_of(ids);
  const int64_t D = grad_out.ndim() >= 1 ? grad_out.shape(grad_out.ndim() - 1) : -1;
  shape.push_back(D);
  check_shape(grad_out, "embedding_backward: grad_output", shape);
  check_ids(ids, num_embeddings);
  FArray dw = new_array({num_embeddings, D});
  float* pd = dw.mutable_data();
  run_kernel("embedding_backward", [&] {
    embedding_backward(pd, ids.data(), grad_out.data(), ids.size(), num_embeddings, D, padding_idx);
  });
  return dw;
}

void bind_embedding(py::module_& m) {
  m.def("embedding_forward", &embedding_forward_py, py::arg("weight"), py::arg("indices"),
        "weight[indices]: weight (V, D), indices int64 of any shape, each in [0, V).");
  m.def("embedding_backward", &embedding_backward_py, py::arg("grad_output"), py::arg("indices"),
        py::arg("num_embeddings"), py::arg("padding_idx") = -1,
        "Scatter-add of grad_output (indices.shape + (D,)) into a (num_embeddings, D) gradient; duplicates "
        "are summed, row padding_idx (< 0: none) gets zero.");
}

}  // namespace bind
}  // namespace fastdl
