// Argument parsing for the kernels-*.cc bindings: napi-args.h's Args (numbers, booleans, the E_ARG error
// convention) plus every typed-array kind the engine stores (Float32Array, Int32Array, Uint16Array, Uint8Array,
// BigInt64Array, Float64Array) and optional (null) arrays.
#pragma once

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <cstdint>
#include <string>

#include "napi-args.h"

namespace kiln {

struct TypedView {
  void* data;
  int64_t length;      // elements
  int elemBytes;       // 1, 2, 4 or 8
  napi_typedarray_type type;
};

class KArgs : public Args {
 public:
  using Args::Args;

  // Any typed array.
  bool typed(size_t i, const char* name, TypedView* out);
  // A typed array of one kind; with `nullable`, null or undefined gives data = nullptr, length 0.
  bool f32(size_t i, const char* name, float** data, int64_t* length, bool nullable = false);
  bool i32(size_t i, const char* name, int32_t** data, int64_t* length);
  bool f64Array(size_t i, const char* name, double** data, int64_t* length);
  // Fails unless an array of `length` elements has at least `need` (label says what it holds).
  bool need(const char* name, int64_t length, int64_t need, const char* label);
  // Class targets of a cross-entropy over `cols` classes: `*ig` gets the ignore index as the kernels compare it (one
  // that is not an int32 never matches a target); fails unless every other target is in [0, cols).
  bool classTargets(const int32_t* t, int64_t rows, int64_t cols, double ignore, int64_t* ig);

 private:
  bool typedOf(size_t i, const char* name, napi_typedarray_type want, const char* kind, void** data,
               int64_t* length, bool nullable);
};

}  // namespace kiln
