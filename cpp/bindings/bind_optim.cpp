// Bindings for the optim kernel family.
#include "array_check.h"

namespace fastdl {
namespace bind {

void bind_optim(py::module_& m) {}

}  // namespace bind
}  // namespace fastdl
