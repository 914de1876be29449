// Bindings for the loss kernel family.
#include "array_check.h"

namespace fastdl {
namespace bind {

void bind_loss(py::module_& m) {}

}  // namespace bind
}  // namespace fastdl
