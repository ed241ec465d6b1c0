// DeepSeek-V3 fused decode kernels: one call per decoder-layer half for a few new tokens of one sequence
// (decoding, speculative verification). The native twins of src/backend/ts/deepseek.ts; contracts in
// src/backend/backend.ts (`mlaDecode`, `moeDecode`).
//
// mlaDecode: out[t] = x[t] + o_proj(absorbed MLA(input_layernorm(x[t]))) for the T new rows at positions
//   cacheLen … cacheLen + T − 1; writes their latent rows [c, kᴿ] into cache rows cacheLen … (causal among them).
// moeDecode: out[t] = h[t] + Σ_k g_k·SwiGLU_k(m) + SwiGLU_shared(m), m = post_attention_layernorm(h[t]), with the
//   group-limited sigmoid routing of DeepSeek-V3 (E = 0: a dense SwiGLU MLP, the "shared" weights).
// Numerics: matrix-vector products accumulate in f32 SIMD lanes (order differs from the reference's f64 sums);
// norms, rotary, softmax normaliser and gate sum in double. out may be the input array itself.
#pragma once

#include <cstdint>

#include "napi-args.h"

namespace kiln {

constexpr int kMaxGemvJobs = 512;
constexpr int64_t kMaxExperts = 1024;
constexpr int64_t kMaxLatent = 2048;
// Multiply-adds per thread chunk before a product is split over the pool.
constexpr int64_t kGemvGrainWork = 24576;

struct GemvJob {
  const float* W;  // [N, K] row-major
  int64_t K, N;
  const float* X;  // T rows of K at stride ldx
  int64_t ldx;
  float* Y;        // T rows of N at stride ldy
  int64_t ldy, T;
};

struct MlaDecodeArgs {
  const float* x;
  int64_t T, d, H, n, p, v, r, qr;
  float eps, scale;
  bool interleaved;
  const float *norm, *qA, *qANorm, *qB, *kvA, *kvANorm, *kvB, *o, *cos, *sin;
  float* cache;
  int64_t cacheLen;
  float* out;
};

struct MoeDecodeArgs {
  const float* h;
  int64_t T, d;
  float eps;
  const float* norm;
  int64_t E, K, G, kg;
  bool normTopk;
  float routedScale;
  const float *gate, *bias;
  int64_t I, Is;
  const float *sharedGate, *sharedUp, *sharedDown;
  // resolved by the binding after routing: 3 weight pointers per (t, k) and the gate values [T, K]
  const float* const* expertW;
  const float* gates;
  float* out;
};

void mlaDecode(const MlaDecodeArgs& a);
// Y[T, N] = X[T, K]·W[N, K]ᵀ for T ≤ 64 rows: each weight row read once for all T rows, rows split over the pool.
void linearRows(const float* X, int64_t T, int64_t K, const float* W, int64_t N, float* Y);
void moeRoute(const MoeDecodeArgs& a, int32_t* ids, float* gates);
// ids[t] = argmax_i W[i, :]·H[t, :] (W [N, K] f32), found by streaming the bf16 copy Wb with per-row error bounds
// (wNorm[i] = ‖W_i‖₂) and recomputing only the rows that can win; equals the argmax of linearRows' logits.
void headArgmax(const float* H, int64_t T, int64_t K, const float* W, const uint16_t* Wb, const float* wNorm, int64_t N,
                int32_t* ids);
// ids [N, K] = group-limited top-K of scores [N, E] + bias [E] (the selection of moeDecode's router).
void moeSelect(const float* scores, int64_t N, int64_t E, const float* bias, int64_t K, int64_t G, int64_t kg, int32_t* ids);
void moeDecode(const MoeDecodeArgs& a);

napi_value MlaDecodeBinding(napi_env env, napi_callback_info info);
napi_value MoeDecodeBinding(napi_env env, napi_callback_info info);
napi_value LinearRowsBinding(napi_env env, napi_callback_info info);
napi_value MoeSelectBinding(napi_env env, napi_callback_info info);
napi_value HeadArgmaxBinding(napi_env env, napi_callback_info info);

}  // namespace kiln
