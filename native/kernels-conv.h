// im2col / col2im for one sample of an N-d convolution, spatial rank 1..3: the native twins of
// src/backend/ts/conv.ts (same layouts, chunking and results — bit-identical: im2col copies, and col2im adds each
// input element's contributions in the reference's order).
//
// A rank-r geometry is read as the last r of (D, H, W) with the leading ones 1 (kernel 1, stride 1, padding 0,
// dilation 1); the arrays below are already padded to 3 that way, and `rank` says where the outermost real dim is
// (index 3 − rank), the one the chunk [outStart, outStart + outCount) restricts.
//   x   [C, D, H, W]
//   col [C·kD·kH·kW, L] with L = (chunk of the outermost real output dim) × (the remaining output dims), row
//       (c, kd, kh, kw), column (od, oh, ow):
//   col[(c, k), o] = x[c, od·sD − pD + kd·dD, oh·sH − pH + kh·dH, ow·sW − pW + kw·dW], 0 in the padding.
// im2col writes every col entry of the chunk; col2im ADDS each col entry into the x position it came from.
// Parallel and race-free: im2col over col row segments (each written by one thread), col2im over x rows
// (c, id, ih), each owned by one thread that gathers every (kd, kh, kw) contribution to it.
#pragma once

#include <cstdint>

#include "napi-args.h"

namespace kiln {

struct ConvGeometry {
  int64_t channels;
  int rank;             // 1..3
  int64_t in[3];        // D, H, W
  int64_t kernel[3];
  int64_t stride[3];
  int64_t padding[3];   // leading pad
  int64_t dilation[3];
  int64_t out[3];       // full output size
  int64_t outStart, outCount;  // chunk of the outermost real output dim
};

void im2col(const ConvGeometry& g, const float* x, float* col);
void col2im(const ConvGeometry& g, const float* col, float* x);

// im2col(x, channels, rank, in×3, kernel×3, stride×3, padding×3, dilation×3, outSize×3 ... ) — see native-addon.ts.
napi_value Im2colBinding(napi_env env, napi_callback_info info);
napi_value Col2imBinding(napi_env env, napi_callback_info info);

}  // namespace kiln
