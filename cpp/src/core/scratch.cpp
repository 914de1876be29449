// Named per-thread scratch buffers (scratch.h).
#include "fastdl/scratch.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "fastdl/common.h"

namespace fastdl {
namespace {
struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
struct Buffer {
  std::unique_ptr<float, AlignedFree> ptr;
  int64_t size = 0;
};
constexpr int kKeys = static_cast<int>(ScratchKey::count_);
thread_local Buffer t_buffers[kKeys];
}  // namespace

const char* scratch_name(ScratchKey key) {
  switch (key) {
    case ScratchKey::gemm_pack_a: return "gemm_pack_a";
    case ScratchKey::gemm_pack_b: return "gemm_pack_b";
    case ScratchKey::conv_col: return "conv_col";
    case ScratchKey::conv_dw_acc: return "conv_dw_acc";
    case ScratchKey::conv_trim: return "conv_trim";
    case ScratchKey::conv_pad: return "conv_pad";
    case ScratchKey::conv_class_col: return "conv_class_col";
    case ScratchKey::conv_class_w: return "conv_class_w";
    case ScratchKey::conv_class_taps: return "conv_class_taps";
    case ScratchKey::conv_direct_x: return "conv_direct_x";
    case ScratchKey::conv_direct_dy: return "conv_direct_dy";
    case ScratchKey::conv_direct_w: return "conv_direct_w";
    case ScratchKey::conv_direct_row: return "conv_direct_row";
    case ScratchKey::batchnorm_work: return "batchnorm_work";
    case ScratchKey::count_: break;
  }
  return "unknown";
}

float* scratch(ScratchKey key, int64_t n_floats) {
  const int k = static_cast<int>(key);
  FASTDL_CHECK(k >= 0 && k < kKeys, "scratch: unknown key");
  Buffer& b = t_buffers[k];
  if (n_floats > b.size) {
    const int64_t bytes = checked_mul(n_floats, static_cast<int64_t>(sizeof(float)), scratch_name(key));
    const int64_t rounded = checked_add(bytes, 63, scratch_name(key)) / 64 * 64;
    void* p = std::aligned_alloc(64, static_cast<size_t>(rounded));
    if (!p) throw out_of_memory(std::string("scratch buffer ") + scratch_name(key), rounded);
    b.ptr.reset(static_cast<float*>(p));
    b.size = n_floats;
  }
  return b.ptr.get();
}

}  // namespace fastdl
