// DeepSeek-V3 training kernels: the fused LM-head cross-entropy (gradient written over the logits) and the MoE
// combine (the gate-weighted sum of each token's K expert rows, and its backward). The native twins of the
// references in src/backend/ts/deepseek-train.ts; contracts in src/backend/backend.ts (`crossEntropyInPlace`,
// `moeCombine`, `moeCombineBackward`).
//
// crossEntropyInPlace: per row r of x [rows, cols] with target t = targets[r]: loss[r] = logsumexp(x_r) − x_r[t] and
//   x_r ← softmax(x_r) − onehot(t); a row whose target is ignoreIndex gets loss 0 and a zero gradient row.
// moeCombine: out[n, :] = Σ_{k<K} g[n, k]·src[pos[n, k], :] (g = 1 when gates is null), k ascending.
// moeCombineBackward: dsrc[pos[n, k], :] = g[n, k]·dy[n, :] (1·dy when gates is null); dgates[n, k] =
//   dy[n, :]·src[pos[n, k], :] (when dgates is not null). pos entries are distinct rows of src.
// swiglu: A = silu(G) ⊙ U; swigluBackward: dU = dA ⊙ silu(G), dG = dA ⊙ U ⊙ silu'(G) (dG may alias G, dU U).
// Numerics: exp in f32 (Cephes polynomial, ≤ 2 ulp), the softmax normaliser summed in double; combine sums and dot
// products in f32 SIMD lanes (the references accumulate in double).
#pragma once

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <cstdint>

namespace kiln {

void crossEntropyInPlace(float* x, int64_t rows, int64_t cols, const int32_t* targets, int64_t ignoreIndex, float* loss);
void moeCombine(const float* src, int64_t d, const int32_t* pos, const float* gates, int64_t N, int64_t K, float* out);
void moeCombineBackward(const float* dy, const float* src, int64_t d, const int32_t* pos, const float* gates, int64_t N,
                        int64_t K, float* dsrc, float* dgates);

void swiglu(const float* G, const float* U, int64_t n, float* A);
void swigluBackward(const float* G, const float* U, const float* dA, int64_t n, float* dG, float* dU);

napi_value CrossEntropyInPlaceBinding(napi_env env, napi_callback_info info);
napi_value MoeCombineBinding(napi_env env, napi_callback_info info);
napi_value MoeCombineBackwardBinding(napi_env env, napi_callback_info info);
napi_value SwigluBinding(napi_env env, napi_callback_info info);
napi_value SwigluBackwardBinding(napi_env env, napi_callback_info info);

}  // namespace kiln
