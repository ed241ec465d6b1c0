// Argument parsing for the elementwise / reduction / NN / indexing bindings (kernels-*.cc). Like napi-args.h (whose
// error convention it follows: a JS Error with code 'E_ARG' whose message names the function, the argument and the
// fix), but it also reads every typed-array kind the engine stores (Float32Array, Int32Array, Uint16Array,
// Uint8Array, BigInt64Array, Float64Array) and optional (null) arrays.
#pragma once

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <cstdint>
#include <string>

namespace kiln {

struct TypedView {
  void* data;
  int64_t length;      // elements
  int elemBytes;       // 1, 2, 4 or 8
  napi_typedarray_type type;
};

class KArgs {
 public:
  KArgs(napi_env env, napi_callback_info info, const char* fn, size_t required);
  bool ok() const { return ok_; }
  napi_env env() const { return env_; }

  bool i64(size_t i, const char* name, int64_t min, int64_t* out, int64_t max = (int64_t{1} << 53) - 1);
  bool f64(size_t i, const char* name, double* out);  // any number (NaN and infinities allowed)
  bool boolean(size_t i, const char* name, bool* out);
  // Any typed array.
  bool typed(size_t i, const char* name, TypedView* out);
  // A typed array of one kind; with `nullable`, null or undefined gives data = nullptr, length 0.
  bool f32(size_t i, const char* name, float** data, int64_t* length, bool nullable = false);
  bool i32(size_t i, const char* name, int32_t** data, int64_t* length);
  bool f64Array(size_t i, const char* name, double** data, int64_t* length);
  // Fails unless an array of `length` elements has at least `need` (label says what it holds).
  bool need(const char* name, int64_t length, int64_t need, const char* label);

  bool fail(const std::string& msg);

 private:
  bool typedOf(size_t i, const char* name, napi_typedarray_type want, const char* kind, void** data,
               int64_t* length, bool nullable);
  napi_env env_;
  const char* fn_;
  size_t argc_ = 0;
  napi_value argv_[16];
  bool ok_ = true;
};

napi_value undefinedOf(napi_env env);

}  // namespace kiln
