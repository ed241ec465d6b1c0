// Argument parsing for the kernels-*.cc bindings (see kernels-args.h).
#include "kernels-args.h"

namespace kiln {

static int bytesOf(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    default: return 8;
  }
}

bool KArgs::typed(size_t i, const char* name, TypedView* out) {
  bool isTyped = false;
  if (i >= count() || napi_is_typedarray(env(), get(i), &isTyped) != napi_ok || !isTyped)
    return fail(std::string("argument ") + name + " must be a typed array");
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env(), get(i), &out->type, &length, &data, nullptr, nullptr) != napi_ok)
    return fail(std::string("could not read typed array ") + name);
  if (data == nullptr && length > 0)
    return fail(std::string("argument ") + name + " has no backing store (detached ArrayBuffer?)");
  out->data = data;
  out->length = static_cast<int64_t>(length);
  out->elemBytes = bytesOf(out->type);
  return true;
}

bool KArgs::typedOf(size_t i, const char* name, napi_typedarray_type want, const char* kind, void** data,
                    int64_t* length, bool nullable) {
  if (nullable && i < count()) {
    napi_valuetype t;
    if (napi_typeof(env(), get(i), &t) == napi_ok && (t == napi_null || t == napi_undefined)) {
      *data = nullptr;
      *length = 0;
      return true;
    }
  }
  TypedView v;
  bool isTyped = false;
  if (i >= count() || napi_is_typedarray(env(), get(i), &isTyped) != napi_ok || !isTyped)
    return fail(std::string("argument ") + name + " must be a " + kind + (nullable ? " or null" : ""));
  if (!typed(i, name, &v)) return false;
  if (v.type != want) return fail(std::string("argument ") + name + " must be a " + kind);
  *data = v.data;
  *length = v.length;
  return true;
}

bool KArgs::f32(size_t i, const char* name, float** data, int64_t* length, bool nullable) {
  void* p = nullptr;
  if (!typedOf(i, name, napi_float32_array, "Float32Array", &p, length, nullable)) return false;
  *data = static_cast<float*>(p);
  return true;
}

bool KArgs::i32(size_t i, const char* name, int32_t** data, int64_t* length) {
  void* p = nullptr;
  if (!typedOf(i, name, napi_int32_array, "Int32Array", &p, length, false)) return false;
  *data = static_cast<int32_t*>(p);
  return true;
}

bool KArgs::f64Array(size_t i, const char* name, double** data, int64_t* length) {
  void* p = nullptr;
  if (!typedOf(i, name, napi_float64_array, "Float64Array", &p, length, false)) return false;
  *data = static_cast<double*>(p);
  return true;
}

bool KArgs::need(const char* name, int64_t length, int64_t need, const char* label) {
  if (length >= need) return true;
  return fail(std::string(name) + " has " + std::to_string(length) + " elements but " + label + " needs " +
              std::to_string(need) + "; pass an array of at least that length");
}

bool KArgs::classTargets(const int32_t* t, int64_t rows, int64_t cols, double ignore, int64_t* ig) {
  *ig = ignore == static_cast<double>(static_cast<int32_t>(ignore)) ? static_cast<int64_t>(ignore) : (int64_t{1} << 40);
  for (int64_t r = 0; r < rows; ++r)
    if (t[r] != *ig && (t[r] < 0 || t[r] >= cols))
      return fail("targets[" + std::to_string(r) + "] = " + std::to_string(t[r]) + " is outside [0, " +
                  std::to_string(cols) + ") and is not the ignore index");
  return true;
}

}  // namespace kiln
