// Fused Transformer-XL relative-position attention (ERNIE 3.0's attention) and the seeded dropout mask: the native
// twins of src/backend/ts/relattn.ts (full contract there). Letters: B batch, H heads, T queries, M memory keys,
// K = M + T keys, Dh head dim, d = H·Dh, P position-key rows (P >= K + T - 1). Dense layouts:
//   q [B, T, H, Dh], k / v [B, K, H, Dh], rk [P, H, Dh] (row p <-> distance M + T - 1 - p), u / vb [H, Dh],
//   keyMask [B, K] (nonzero = attend) or null, out / dout / dq [B, T, H, Dh], dk / dv [B, K, H, Dh],
//   drk [P, H, Dh], du / dvb [H, Dh], lse [B, H, T].
//   s_ij = scale·((q_i + u)·k_j + (q_i + vb)·rk_{T-1-i+j}); causal: j <= M + i; softmax over visible keys;
//   attention dropout with the counter-based hash of element ((b·H + h)·T + i)·K + j (seeds seed0, seed1).
// Algorithm: per (batch, head, tile of up to 64 queries) the content scores [n, kEnd] and the position scores of the
// tile's sliding window of W = kEnd + n - 1 distances [n, W] (W = kEnd when causal: later columns are future keys)
// are two GEMMs on the tile (gemm.h on the calling
// thread, operands read in place with leading dimension d); row r of the window, shifted by n - 1 - r, gives the
// row's position scores (the relative shift without copies). Softmax, masks and dropout run on the tile rows
// (vectorised per ISA); P·V is a third GEMM written straight into out. Only the tile's scores live (O(64 × (K + W))
// floats per thread); lse is kept for the backward, which recomputes each tile's scores and runs the transposed
// products per (batch, head) task (owning its dk / dv rows), accumulating drk / du / dvb in one buffer per pool
// thread, summed at the end. Accumulation is fp32 (the reference uses fp64): results agree to rounding.
// The caller validates sizes and extents (binding); kernels do not throw.
#pragma once

#include <cstdint>

#include "napi-args.h"

namespace kiln {

struct RelAttnArgs {
  const float* q;
  const float* k;
  const float* v;
  const float* rk;
  const float* u;
  const float* vb;
  const float* keyMask;  // null = every key
  int64_t B, H, T, M, Dh, P;
  float scale;
  bool causal;
  double dropP;  // in [0, 1); 0 = no dropout
  uint32_t seed0, seed1;
};

void relAttentionForward(const RelAttnArgs& a, float* out, float* lse);
void relAttentionBackward(const RelAttnArgs& a, const float* out, const float* lse, const float* dout, float* dq,
                          float* dk, float* dv, float* drk, float* du, float* dvb);
// out[x] = 1/(1 - p) where the seeded uniform of x is >= p, else 0, for x < n.
void dropoutMask(float* out, int64_t n, double p, uint32_t seed0, uint32_t seed1);

// relAttentionForward(q, k, v, rk, u, vb, keyMask | null, dims, out, lse)
// relAttentionBackward(q, k, v, rk, u, vb, keyMask | null, dims, out, lse, dout, dq, dk, dv, drk, du, dvb)
//   dims: Float64Array [B, H, T, M, Dh, P, scale, causal, dropP, seed0, seed1]
// dropoutMask(out, n, p, seed0, seed1)
napi_value RelAttentionForwardBinding(napi_env env, napi_callback_info info);
napi_value RelAttentionBackwardBinding(napi_env env, napi_callback_info info);
napi_value DropoutMaskBinding(napi_env env, napi_callback_info info);

}  // namespace kiln
