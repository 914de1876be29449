// Bindings for the pool kernel family.
#include "array_check.h"

namespace fastdl {
namespace bind {

void bind_pool(py::module_& m) {}

}  // namespace bind
}  // namespace fastdl
