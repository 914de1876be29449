// Bindings for the batchnorm kernel family.
#include "array_check.h"

namespace fastdl {
namespace bind {

void bind_batchnorm(py::module_& m) {}

}  // namespace bind
}  // namespace fastdl
