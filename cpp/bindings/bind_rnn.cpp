// Bindings for the rnn kernel family.
#include "array_check.h"

namespace fastdl {
namespace bind {

void bind_rnn(py::module_& m) {}

}  // namespace bind
}  // namespace fastdl
