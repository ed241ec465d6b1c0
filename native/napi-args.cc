// Shared N-API argument parsing (see napi-args.h).
#include "napi-args.h"

#include <cmath>

namespace kiln {

namespace {

const char* typeName(napi_valuetype t) {
  switch (t) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return "object";
    case napi_function: return "function";
    case napi_external: return "external";
    case napi_bigint: return "bigint";
    default: return "unknown";
  }
}

}  // namespace

Args::Args(napi_env env, napi_callback_info info, const char* fn, size_t required) : env_(env), fn_(fn) {
  size_t argc = sizeof(argv_) / sizeof(argv_[0]);
  if (napi_get_cb_info(env, info, &argc, argv_, nullptr, nullptr) != napi_ok) {
    ok_ = fail("could not read the call's arguments");
    return;
  }
  // napi reports the number actually passed, which may exceed what fit in argv_.
  argc_ = argc < sizeof(argv_) / sizeof(argv_[0]) ? argc : sizeof(argv_) / sizeof(argv_[0]);
  if (argc < required) {
    ok_ = fail("expected " + std::to_string(required) + " arguments, got " + std::to_string(argc));
  }
}

bool Args::fail(const std::string& msg) {
  bool pending = false;
  napi_is_exception_pending(env_, &pending);
  if (!pending) napi_throw_error(env_, "E_ARG", (std::string(fn_) + ": " + msg).c_str());
  ok_ = false;
  return false;
}

bool Args::f64(size_t i, const char* name, double* out) {
  // Fast path: one napi call; the type is looked up only to word the error.
  if (i < argc_ && napi_get_value_double(env_, get(i), out) == napi_ok) return true;
  napi_valuetype t;
  return fail(std::string("argument ") + name + " must be a number, got " +
              (i >= argc_ ? "nothing" : (napi_typeof(env_, get(i), &t) == napi_ok ? typeName(t) : "unknown")));
}

bool Args::i64(size_t i, const char* name, int64_t min, int64_t* out, int64_t max) {
  double v;
  if (!f64(i, name, &v)) return false;
  if (!std::isfinite(v) || v != std::floor(v))
    return fail(std::string("argument ") + name + " must be an integer, got " + std::to_string(v));
  if (v < static_cast<double>(min) || v > static_cast<double>(max))
    return fail(std::string("argument ") + name + " = " + std::to_string(static_cast<long long>(v)) +
                " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  *out = static_cast<int64_t>(v);
  return true;
}

bool Args::f32(size_t i, const char* name, float* out, bool allowNonFinite) {
  double v;
  if (!f64(i, name, &v)) return false;
  if (!allowNonFinite && !std::isfinite(v))
    return fail(std::string("argument ") + name + " must be a finite number, got " + std::to_string(v));
  *out = static_cast<float>(v);
  return true;
}

bool Args::boolean(size_t i, const char* name, bool* out) {
  if (i < argc_ && napi_get_value_bool(env_, get(i), out) == napi_ok) return true;
  return fail(std::string("argument ") + name + " must be a boolean");
}

bool Args::string(size_t i, const char* name, std::string* out) {
  napi_valuetype t;
  if (i >= argc_ || napi_typeof(env_, get(i), &t) != napi_ok || t != napi_string)
    return fail(std::string("argument ") + name + " must be a string");
  size_t len = 0;
  napi_get_value_string_utf8(env_, get(i), nullptr, 0, &len);
  out->assign(len, '\0');
  napi_get_value_string_utf8(env_, get(i), out->data(), len + 1, &len);
  return true;
}

bool Args::f32Array(size_t i, const char* name, F32View* out) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  // napi_get_typedarray_info fails (without throwing) for anything that is not a typed array.
  if (i >= argc_ || napi_get_typedarray_info(env_, get(i), &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float32_array)
    return fail(std::string("argument ") + name + " must be a Float32Array");
  if (data == nullptr && length > 0)
    return fail(std::string("argument ") + name + " has no backing store (detached ArrayBuffer?)");
  out->data = static_cast<float*>(data);
  out->length = static_cast<int64_t>(length);
  return true;
}

bool checkExtent(Args& args, const char* name, const F32View& view, int64_t off, int64_t extent) {
  if (extent <= 0) return true;
  if (off < 0 || off > view.length || extent > view.length - off)
    return args.fail(std::string(name) + " needs elements [" + std::to_string(off) + ", " +
                     std::to_string(off + extent) + ") but the Float32Array has length " +
                     std::to_string(view.length) + "; check its offset, leading dimension and batch stride");
  return true;
}

napi_value makeNumber(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

napi_value makeString(napi_env env, const char* s) {
  napi_value r;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r);
  return r;
}

napi_value undefinedValue(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

}  // namespace kiln
