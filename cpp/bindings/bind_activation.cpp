// Bindings for the activation kernel family.
#include "array_check.h"

namespace fastdl {
namespace bind {

void bind_activation(py::module_& m) {}

}  // namespace bind
}  // namespace fastdl
