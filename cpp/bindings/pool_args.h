// Argument helpers of the pooling bindings (bind_pool.cpp), shared with the fused
// BatchNorm -> Sigmoid -> AvgPool2d binding (bind_batchnorm.cpp).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "array_check.h"
#include "fastdl/pool.h"

namespace fastdl {
namespace bind {

using Pair = std::pair<int64_t, int64_t>;

// make_pool2d_params for an (N, C, H, W) input, its ArgumentError as a ValueError naming op.
Pool2dParams pool_params(const char* op, const std::vector<int64_t>& xs, Pair kernel, Pair stride, Pair padding,
                         Pair dilation, bool ceil_mode);
// avg_pool2d's divisor_override: None -> 0, else a positive int.
int64_t divisor_arg(const py::object& d);

}  // namespace bind
}  // namespace fastdl
