// Bindings for the conv kernel family.
#include "array_check.h"

namespace fastdl {
namespace bind {

void bind_conv(py::module_& m) {}

}  // namespace bind
}  // namespace fastdl
