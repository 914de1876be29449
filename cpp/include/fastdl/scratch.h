// Kernel scratch memory, requested by name (the model is oneDNN's scratchpad registry,
// src/common/memory_tracking.hpp). Every buffer a kernel borrows has a key here, so two
// kernels can never hand out the same buffer by accident (one may call the other: the conv
// family runs the GEMM on its im2col columns, BatchNorm may be fused into a GEMM).
#pragma once
#include <cstdint>

namespace fastdl {

// One key per scratch buffer in the library. Add a key next to its family; never reuse one.
enum class ScratchKey : int {
  gemm_pack_a,      // packed micro-panels of A (gemm)
  gemm_pack_b,      // packed micro-panels of B, or B transposed for the direct path (gemm)
  conv_col,         // im2col / col2im column buffer (conv)
  conv_dw_acc,      // per-thread weight-gradient accumulator (conv backward)
  conv_trim,        // weight / weight-gradient slice without all-padding taps (conv)
  conv_pad,         // zero-padded input image of the small weight-gradient kernel (conv)
  conv_class_col,   // columns and outputs of one class of output positions (conv tap classes)
  conv_class_w,     // weight slice of one class (conv tap classes)
  conv_direct_x,    // input of an image group in the blocked layout (conv_direct)
  conv_direct_dy,   // output gradient of an image group in the blocked layout (conv_direct)
  conv_direct_w,    // blocked weights, blocked weight gradient (conv_direct)
  conv_direct_row,  // one blocked output row of a chunk (conv_direct)
  conv_relu_dy,     // output gradient masked by a fused ReLU (conv backward)
  batchnorm_work,   // expanded per-element coefficients / partial sums (batchnorm)
  pool_act_plane,   // one activated plane of avg_pool2d_act without a saved output (pool)
  count_            // number of keys (not a key)
};

// Name of a key, for error messages ("conv_col").
const char* scratch_name(ScratchKey key);

// A 64-byte aligned buffer of at least n_floats floats, private to the calling thread and
// reused between calls (grows, never shrinks; inside a ScratchScope it is a slice of the thread's
// arena). Valid until the same thread asks for the same key again, or until the thread's
// outermost ScratchScope ends. Throws OutOfMemory naming the key and the bytes asked for when
// memory runs out (the bindings add the op); the thread's previous buffer for the key is kept.
float* scratch(ScratchKey key, int64_t n_floats);

// Marks one kernel call on the calling thread (the bindings' run_kernel opens one per op; a
// compiled plan's run opens one more per step inside it). Inside a scope the thread's buffers
// are slices of one per-thread arena: each key gets its own slice, so two kernels that nest
// never share memory, and when a scope ends the slices taken inside it are handed back (the
// arena is a stack), so the next op reuses the same bytes. When the outermost scope ends the
// arena grows to the most bytes that were live at once, if that was more than it holds (until
// then, requests it cannot hold get blocks of their own). So a thread holds the largest single
// op's scratch, not the sum of every key's largest request over all ops: ResNet-18's training
// step held 16-20 MB of per-key buffers at its peak, where one op needs a few MB. The arena is
// mapped apart from the malloc heap and stays resident, so it adds no page faults per op.
// Outside any scope (OpenMP workers inside a kernel, C++ benchmarks) a thread keeps one
// growing buffer per key, as described above.
class ScratchScope {
 public:
  ScratchScope();
  ~ScratchScope();
  ScratchScope(const ScratchScope&) = delete;
  ScratchScope& operator=(const ScratchScope&) = delete;

 private:
  static constexpr int kKeys = static_cast<int>(ScratchKey::count_);
  int64_t used_;       // the arena's bump offset at entry
  int64_t n_extra_;    // its number of own blocks at entry
  float* slice_[kKeys];  // the slices held at entry
  int64_t floats_[kKeys];
};

// Bytes the calling thread's scratch buffers hold now (for tests and memory reports).
int64_t scratch_bytes();

}  // namespace fastdl
