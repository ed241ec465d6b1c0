// Shared N-API argument parsing for Kiln's bindings: each helper validates one argument and, on failure, throws a
// JS Error (code 'E_ARG') whose message names the function, the argument and the fix, then returns false. A binding
// is then a few lines: `Args args(env, info, "gemm", 20); if (!args.ok()) return nullptr; ... args.i64(0, "batch", 0, &b)`.
#pragma once

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <cstdint>
#include <string>

namespace kiln {

// A Float32Array argument: data pointer (already at the view's byteOffset) and length in elements. Works for
// arrays over ArrayBuffer and SharedArrayBuffer alike.
struct F32View {
  float* data;
  int64_t length;
};

class Args {
 public:
  // Reads the call's arguments; throws if fewer than `required` were passed.
  Args(napi_env env, napi_callback_info info, const char* fn, size_t required);
  bool ok() const { return ok_; }
  size_t count() const { return argc_; }
  napi_env env() const { return env_; }

  // An integer-valued number in [min, max] (default: up to 2^53 - 1).
  bool i64(size_t i, const char* name, int64_t min, int64_t* out, int64_t max = (int64_t{1} << 53) - 1);
  // A finite number (NaN and infinities rejected unless allowNonFinite).
  bool f32(size_t i, const char* name, float* out, bool allowNonFinite = false);
  bool f64(size_t i, const char* name, double* out);
  bool boolean(size_t i, const char* name, bool* out);
  bool string(size_t i, const char* name, std::string* out);
  bool f32Array(size_t i, const char* name, F32View* out);

  // Throws a JS Error with code 'E_ARG' and message "<fn>: <msg>"; returns false for `return args.fail(...)`.
  bool fail(const std::string& msg);

 protected:
  napi_value get(size_t i) const { return argv_[i]; }

 private:
  napi_env env_;
  const char* fn_;
  size_t argc_ = 0;
  napi_value argv_[24];
  bool ok_ = true;
};

// Checks that elements [off + maxIndex] of a view exist: off >= 0 and off + extent <= length, where extent is the
// number of elements spanned (0 = nothing accessed). Throws via args on failure.
bool checkExtent(Args& args, const char* name, const F32View& view, int64_t off, int64_t extent);

napi_value makeNumber(napi_env env, double v);
napi_value makeString(napi_env env, const char* s);
napi_value undefinedValue(napi_env env);

}  // namespace kiln
