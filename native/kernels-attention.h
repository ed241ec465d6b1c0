// Fused memory-efficient attention (FlashAttention-2 style) on the CPU: the native twin of
// src/backend/ts/attention.ts, with the same semantics (see that file and the Backend interface).
//
// Letters: B = batch, H = query heads, Hkv = key/value heads (H % Hkv == 0; query head h reads kv head
// h / (H/Hkv)), Tq / Tk = query / key lengths, D = q·k head dim, Dv = value head dim. Dense row-major layouts:
//   q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv], out/dout [B, H, Tq, Dv], lse [B, H, Tq],
//   dq [B, H, Tq, D], dk [B, Hkv, Tk, D], dv [B, Hkv, Tk, Dv].
// mask: null, or an additive f32 view broadcast to [B, H, Tq, Tk]: element (b, h, i, j) at
//   mask[b*msB + h*msH + i*msQ + j*msK] (pointer already at the view's offset; strides may be 0).
// causal: query i sees keys j <= i + Tk - Tq (bottom-right aligned). A row whose keys are all blocked gets output 0,
// lse = -inf and no gradient (never NaN).
//
// Algorithm: the query heads sharing a kv head are stacked into one row block (so grouped-query attention packs
// each K/V tile once for all of them); scores are produced tile by tile by the GEMM micro-kernel of the active ISA
// (gemm.h) and never stored beyond one tile (rows x keys); softmax statistics are kept online. The operands every
// task re-reads are packed once per call into GEMM panels (forward: K and V per key block; backward: Q and dout
// per query block), a batch of groups at a time under a memory bound (about the size of K + V, resp. 4 x q).
// The forward runs in parallel over (batch, kv head, query block); the backward over (batch, kv head, key chunk)
// so each task owns its dk/dv rows, with dq accumulated by the task owning the group when groups can balance the
// threads, else in per-chunk partial buffers summed at the end. Causal tiles above the diagonal are skipped.
// Per-thread scratch is O(tile); the Tq x Tk scores are never allocated.
// Accumulation is fp32 (the TS reference uses fp64): results agree to rounding.
// The caller validates every size and extent (addon binding); kernels do not throw.
#pragma once

#include <cstdint>

namespace kiln {

struct AttentionArgs {
  const float* q;
  const float* k;
  const float* v;
  const float* mask;  // null = no mask
  int64_t msB, msH, msQ, msK;
  int64_t B, H, Hkv, Tq, Tk, D, Dv;
  float scale;
  bool causal;
};

// Writes out [B, H, Tq, Dv] and lse [B, H, Tq].
void attentionForward(const AttentionArgs& a, float* out, float* lse);

// From the forward's out and lse and the output gradient dout, writes dq, dk, dv (all overwritten).
void attentionBackward(const AttentionArgs& a, const float* out, const float* lse, const float* dout, float* dq,
                       float* dk, float* dv);

}  // namespace kiln

// ── N-API bindings (listed in addon.cc's kExports; JS contract in src/backend/native-addon.ts) ──
#include "napi-args.h"

namespace kiln {

// attentionForward(q, k, v, mask, maskOff, msB, msH, msQ, msK, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, out, lse)
napi_value AttentionForwardBinding(napi_env env, napi_callback_info info);
// attentionBackward(q, k, v, mask, maskOff, msB, msH, msQ, msK, out, lse, dout, B, H, Hkv, Tq, Tk, D, Dv, scale,
//                   causal, dq, dk, dv)
napi_value AttentionBackwardBinding(napi_env env, napi_callback_info info);

}  // namespace kiln
