// Named per-thread scratch buffers and the per-thread scratch arena (scratch.h).
#include "fastdl/scratch.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "fastdl/common.h"

namespace fastdl {
namespace {
constexpr int kKeys = static_cast<int>(ScratchKey::count_);

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

// Outside a scope: one growing buffer per key.
struct Buffer {
  std::unique_ptr<float, AlignedFree> ptr;
  int64_t size = 0;   // floats asked for
  int64_t bytes = 0;  // bytes allocated
};

// 64-byte aligned memory of `bytes` (a multiple of 64), or nullptr. Large blocks are mapped on
// their own (page aligned, outside the malloc heap, returned to the system when freed).
void* map_bytes(int64_t bytes) {
#if defined(__linux__)
  void* p = mmap(nullptr, static_cast<size_t>(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
#else
  return std::aligned_alloc(64, static_cast<size_t>(bytes));
#endif
}
void unmap_bytes(void* p, int64_t bytes) {
  if (!p) return;
#if defined(__linux__)
  munmap(p, static_cast<size_t>(bytes));
#else
  (void)bytes;
  std::free(p);
#endif
}

// Inside a scope: slices of one arena, a stack (each scope hands back what it took). A request
// the arena cannot hold gets a block of its own (`extra`); the most bytes live at once (`high`)
// size the arena when the outermost scope ends.
struct Arena {
  char* base = nullptr;
  int64_t cap = 0;          // bytes mapped
  int64_t used = 0;         // bytes sliced by the open scopes
  int64_t extra_bytes = 0;  // bytes of the own blocks
  int64_t high = 0;         // most of used + extra_bytes since the outermost scope opened
  std::vector<std::pair<void*, int64_t>> extra;
  float* slice[kKeys] = {};
  int64_t slice_floats[kKeys] = {};

  ~Arena() {
    release_extra();
    unmap_bytes(base, cap);
  }
  void release_extra(size_t keep = 0) {
    while (extra.size() > keep) {
      unmap_bytes(extra.back().first, extra.back().second);
      extra_bytes -= extra.back().second;
      extra.pop_back();
    }
  }
  // End of the outermost scope: every slice back; the arena grows to the most bytes live at once.
  void reset() {
    release_extra();
    for (int k = 0; k < kKeys; ++k) {
      slice[k] = nullptr;
      slice_floats[k] = 0;
    }
    if (high > cap) {
      unmap_bytes(base, cap);
      const int64_t bytes = (high + 4095) / 4096 * 4096;  // high <= bytes mapped: no overflow
      base = static_cast<char*>(map_bytes(bytes));
      cap = base ? bytes : 0;  // out of memory: the next scope works from extra blocks
    }
    used = 0;
    high = 0;
  }
};

thread_local Buffer t_buffers[kKeys];
thread_local Arena t_arena;
thread_local int t_scope_depth = 0;

// Bytes of a buffer of n_floats, a multiple of 64 and at least 64: an empty request still gets
// memory (aligned_alloc and mmap of 0 bytes fail, which read as out of memory).
int64_t rounded_bytes(ScratchKey key, int64_t n_floats) {
  const int64_t bytes = checked_mul(n_floats, static_cast<int64_t>(sizeof(float)), scratch_name(key));
  return std::max<int64_t>(64, checked_add(bytes, 63, scratch_name(key)) / 64 * 64);
}

float* arena_scratch(int k, ScratchKey key, int64_t n_floats) {
  Arena& a = t_arena;
  if (a.slice[k] && n_floats <= a.slice_floats[k]) return a.slice[k];
  const int64_t rounded = rounded_bytes(key, n_floats);
  void* p = nullptr;
  if (a.base && rounded <= a.cap - a.used) {
    p = a.base + a.used;
    a.used += rounded;
  } else {
    const int64_t mapped = checked_add(rounded, 4095, scratch_name(key)) / 4096 * 4096;
    p = map_bytes(mapped);
    if (!p) throw out_of_memory(std::string("scratch buffer ") + scratch_name(key), rounded);
    a.extra.emplace_back(p, mapped);
    a.extra_bytes += mapped;
  }
  a.high = std::max(a.high, checked_add(a.used, a.extra_bytes, "scratch arena"));
  a.slice[k] = static_cast<float*>(p);
  a.slice_floats[k] = n_floats;
  return a.slice[k];
}
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
    case ScratchKey::conv_direct_x: return "conv_direct_x";
    case ScratchKey::conv_direct_dy: return "conv_direct_dy";
    case ScratchKey::conv_direct_w: return "conv_direct_w";
    case ScratchKey::conv_direct_row: return "conv_direct_row";
    case ScratchKey::conv_relu_dy: return "conv_relu_dy";
    case ScratchKey::batchnorm_work: return "batchnorm_work";
    case ScratchKey::pool_act_plane: return "pool_act_plane";
    case ScratchKey::count_: break;
  }
  return "unknown";
}

float* scratch(ScratchKey key, int64_t n_floats) {
  const int k = static_cast<int>(key);
  FASTDL_CHECK(k >= 0 && k < kKeys, "scratch: unknown key");
  if (t_scope_depth > 0) return arena_scratch(k, key, n_floats);
  Buffer& b = t_buffers[k];
  if (n_floats > b.size) {
    const int64_t rounded = rounded_bytes(key, n_floats);
    void* p = std::aligned_alloc(64, static_cast<size_t>(rounded));
    if (!p) throw out_of_memory(std::string("scratch buffer ") + scratch_name(key), rounded);
    b.ptr.reset(static_cast<float*>(p));
    b.size = n_floats;
    b.bytes = rounded;
  }
  return b.ptr.get();
}

ScratchScope::ScratchScope() : used_(t_arena.used), n_extra_(static_cast<int64_t>(t_arena.extra.size())) {
  for (int k = 0; k < kKeys; ++k) {
    slice_[k] = t_arena.slice[k];
    floats_[k] = t_arena.slice_floats[k];
  }
  ++t_scope_depth;
}

ScratchScope::~ScratchScope() {
  if (--t_scope_depth == 0) {
    t_arena.reset();
    return;
  }
  t_arena.release_extra(static_cast<size_t>(n_extra_));
  t_arena.used = used_;
  for (int k = 0; k < kKeys; ++k) {
    t_arena.slice[k] = slice_[k];
    t_arena.slice_floats[k] = floats_[k];
  }
}

int64_t scratch_bytes() {
  int64_t total = t_arena.cap + t_arena.extra_bytes;
  for (const Buffer& b : t_buffers) total += b.bytes;
  return total;
}

}  // namespace fastdl
