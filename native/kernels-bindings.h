// N-API bindings of the elementwise, reduction, NN and indexing kernels (kernels-elementwise.cc, kernels-reduce.cc,
// kernels-nn.cc, kernels-index.cc). Their JS-facing contracts are documented in src/backend/native-addon.ts; every
// argument is validated (sizes, bounds, index ranges) and bad input throws a JS Error with code E_ARG.
#pragma once

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

namespace kiln {

napi_value UnaryBinding(napi_env env, napi_callback_info info);
napi_value BinaryBinding(napi_env env, napi_callback_info info);
napi_value BinaryScalarBinding(napi_env env, napi_callback_info info);
napi_value WhereBinding(napi_env env, napi_callback_info info);
napi_value CopyBinding(napi_env env, napi_callback_info info);
napi_value FillBinding(napi_env env, napi_callback_info info);

napi_value ReduceBinding(napi_env env, napi_callback_info info);
napi_value ArgReduceBinding(napi_env env, napi_callback_info info);

napi_value SoftmaxBinding(napi_env env, napi_callback_info info);
napi_value SoftmaxBackwardBinding(napi_env env, napi_callback_info info);
napi_value CrossEntropyBinding(napi_env env, napi_callback_info info);
napi_value RmsNormBinding(napi_env env, napi_callback_info info);
napi_value RmsNormBackwardBinding(napi_env env, napi_callback_info info);
napi_value LayerNormBinding(napi_env env, napi_callback_info info);
napi_value LayerNormBackwardBinding(napi_env env, napi_callback_info info);

napi_value IndexSelectBinding(napi_env env, napi_callback_info info);
napi_value IndexAddBinding(napi_env env, napi_callback_info info);
napi_value GatherBinding(napi_env env, napi_callback_info info);
napi_value ScatterAddBinding(napi_env env, napi_callback_info info);
napi_value AdamwStepBinding(napi_env env, napi_callback_info info);
napi_value SumSquaresBinding(napi_env env, napi_callback_info info);

}  // namespace kiln
