// Rotary position embedding (RoFormer, Su et al. 2021): the native twin of src/backend/ts/rope.ts.
//
// x [rows, D] contiguous; the first rotaryDim columns of each row are rotated in pairs, the rest copied. Row r
// reads row r % tableRows of the contiguous cos/sin tables [tableRows, rotaryDim/2]. Pairs are (2i, 2i+1) when
// interleaved, else (i, i + rotaryDim/2); (a, b) -> (a·cos − b·sin, b·cos + a·sin), by −θ when inverse.
// Computed in double and rounded once, like the reference, so results are bit-identical to it. out may equal x
// (in place) but must not otherwise overlap it. Parallel over rows; the caller validates sizes.
#pragma once

#include <cstdint>

#include "napi-args.h"

namespace kiln {

struct RotaryArgs {
  const float* x;
  int64_t rows, D, rotaryDim;
  const float* cos;
  const float* sin;
  int64_t tableRows;
  bool interleaved, inverse;
  float* out;
};

void rotary(const RotaryArgs& a);

// rotary(x, rows, D, rotaryDim, cos, sin, tableRows, interleaved, inverse, out) (see native-addon.ts)
napi_value RotaryBinding(napi_env env, napi_callback_info info);

}  // namespace kiln
