// Strided-view iteration for the elementwise drivers: up to 3 input operands over one shape, each with its own
// element offset and strides, read from the packed Float64Array the TS binding passes
// ([ndim, shape..., strides of operand 0..., strides of operand 1..., ...]). The output is contiguous in shape order.
// After coalesce() size-1 dims are dropped and mergeable neighbours joined, so a dense view becomes one long row.
#pragma once

#include <cstdint>
#include <string>

#include "kernels-args.h"

namespace kiln {

constexpr int kMaxRank = 32;

struct Strided {
  int nd = 0;
  int nops = 0;
  int64_t shape[kMaxRank];
  int64_t st[3][kMaxRank];
  int64_t off[3];
  int64_t total = 0;  // number of elements
  int64_t len() const { return nd > 0 ? shape[nd - 1] : 1; }
  int64_t rows() const { return len() > 0 ? total / len() : 0; }
};

// Parses dims (argument index `di`) for `nops` operands with the given offsets and checks every reachable element
// of operand k lies inside an array of lengths[k] elements. Returns false (JS error thrown) on bad input.
bool parseStrided(KArgs& a, size_t di, int nops, const int64_t* offsets, const int64_t* lengths,
                  const char* const* names, Strided* s);

// Drops size-1 dims and merges dims whose strides chain for every operand.
void coalesce(Strided* s);

// Calls fn(row, offs) for rows [r0, r1) of s (offs: each operand's element offset at the row's start).
template <class Fn>
void forRows(const Strided& s, int64_t r0, int64_t r1, Fn fn) {
  const int nd = s.nd;
  int64_t idx[kMaxRank];
  int64_t offs[3] = {s.off[0], s.off[1], s.off[2]};
  int64_t rem = r0;
  for (int d = nd - 2; d >= 0; --d) {
    idx[d] = rem % s.shape[d];
    rem /= s.shape[d];
    for (int o = 0; o < s.nops; ++o) offs[o] += idx[d] * s.st[o][d];
  }
  for (int64_t r = r0; r < r1; ++r) {
    fn(r, offs);
    for (int d = nd - 2; d >= 0; --d) {
      for (int o = 0; o < s.nops; ++o) offs[o] += s.st[o][d];
      if (++idx[d] < s.shape[d]) break;
      for (int o = 0; o < s.nops; ++o) offs[o] -= s.st[o][d] * s.shape[d];
      idx[d] = 0;
    }
  }
}

}  // namespace kiln
