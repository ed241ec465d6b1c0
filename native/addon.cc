// kiln_native: the N-API entry point. Each export is one small binding function (parse + validate arguments with
// napi-args.h, then call into the kernel code) listed in kExports at the bottom; adding a kernel = one function
// plus one table line. The JS-facing contracts are documented in src/backend/native-addon.ts.
#include <exception>
#include <string>

#include "cpu.h"
#include "gemm.h"
#include "napi-args.h"
#include "peak.h"
#include "thread-pool.h"
#include "kernels-attention.h"
#include "kernels-conv.h"
#include "kernels-rope.h"
#include "kernels-bindings.h"
#include "kernels-deepseek.h"
#include "kernels-relattn.h"
#include "kernels-deepseek-train.h"

namespace kiln {

namespace {

// Elements spanned by a batch of row-major matrices (rows x cols, leading dimension ld, batch stride stride),
// computed in 128 bits so hostile arguments cannot overflow; 0 when nothing is accessed.
__int128 spanOf(int64_t batch, int64_t rows, int64_t cols, int64_t ld, int64_t stride) {
  if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
  return static_cast<__int128>(batch - 1) * stride + static_cast<__int128>(rows - 1) * ld + cols;
}

bool checkMatrix(Args& args, const char* name, const F32View& v, int64_t off, int64_t batch, int64_t rows,
                 int64_t cols, int64_t ld, int64_t stride) {
  if (ld < (cols > 1 ? cols : 1))
    return args.fail(std::string("leading dimension of ") + name + " is " + std::to_string(ld) +
                     " but its stored rows are " + std::to_string(cols) + " wide; it must be >= " +
                     std::to_string(cols > 1 ? cols : 1));
  __int128 span = spanOf(batch, rows, cols, ld, stride);
  if (span > static_cast<__int128>(v.length))
    return args.fail(std::string(name) + " needs " + std::to_string(static_cast<long long>(span > (__int128{1} << 62) ? -1 : span)) +
                     " elements from offset " + std::to_string(off) + " but the Float32Array has length " +
                     std::to_string(v.length) + "; check its offset, leading dimension and batch stride");
  return checkExtent(args, name, v, off, static_cast<int64_t>(span));
}

// gemm(batch, transA, transB, M, N, K, alpha, A, aOff, lda, strideA, B, bOff, ldb, strideB, beta, C, cOff, ldc,
//      strideC): see gemm.h and native-addon.ts.
napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a(env, info, "gemm", 20);
  if (!a.ok()) return nullptr;
  GemmArgs g{};
  F32View A{}, B{}, C{};
  int64_t aOff = 0, bOff = 0, cOff = 0;
  if (!a.i64(0, "batch", 0, &g.batch) || !a.boolean(1, "transA", &g.transA) || !a.boolean(2, "transB", &g.transB) ||
      !a.i64(3, "M", 0, &g.M) || !a.i64(4, "N", 0, &g.N) || !a.i64(5, "K", 0, &g.K) ||
      !a.f32(6, "alpha", &g.alpha) || !a.f32Array(7, "A", &A) || !a.i64(8, "aOff", 0, &aOff) ||
      !a.i64(9, "lda", 0, &g.lda) || !a.i64(10, "strideA", 0, &g.strideA) || !a.f32Array(11, "B", &B) ||
      !a.i64(12, "bOff", 0, &bOff) || !a.i64(13, "ldb", 0, &g.ldb) || !a.i64(14, "strideB", 0, &g.strideB) ||
      !a.f32(15, "beta", &g.beta) || !a.f32Array(16, "C", &C) || !a.i64(17, "cOff", 0, &cOff) ||
      !a.i64(18, "ldc", 0, &g.ldc) || !a.i64(19, "strideC", 0, &g.strideC))
    return nullptr;
  // A and B are read only when alpha != 0 and K > 0, but their shapes are checked regardless.
  const int64_t aRows = g.transA ? g.K : g.M, aCols = g.transA ? g.M : g.K;
  const int64_t bRows = g.transB ? g.N : g.K, bCols = g.transB ? g.K : g.N;
  if (!checkMatrix(a, "A", A, aOff, g.batch, aRows, aCols, g.lda, g.strideA) ||
      !checkMatrix(a, "B", B, bOff, g.batch, bRows, bCols, g.ldb, g.strideB) ||
      !checkMatrix(a, "C", C, cOff, g.batch, g.M, g.N, g.ldc, g.strideC))
    return nullptr;
  if (g.batch > 1 && g.M > 0 && g.N > 0 && static_cast<__int128>(g.strideC) < spanOf(1, g.M, g.N, g.ldc, 0)) {
    a.fail("strideC = " + std::to_string(g.strideC) + " makes batch entries of C overlap; it must be >= " +
                  std::to_string(static_cast<long long>(spanOf(1, g.M, g.N, g.ldc, 0))));
    return nullptr;
  }
  g.A = A.data + aOff;
  g.B = B.data + bOff;
  g.C = C.data + cOff;
  gemm(g, 0);
  return undefinedValue(env);
}

// peakGflops(threads, seconds) -> GFLOP/s of the active ISA's FMA units on `threads` pool threads.
napi_value PeakGflops(napi_env env, napi_callback_info info) {
  Args a(env, info, "peakGflops", 2);
  int64_t threads = 0;
  double seconds = 0;
  if (!a.ok() || !a.i64(0, "threads", 1, &threads, 1024) || !a.f64(1, "seconds", &seconds)) return nullptr;
  if (!(seconds > 0 && seconds <= 60)) {
    a.fail("argument seconds must be in (0, 60], got " + std::to_string(seconds));
    return nullptr;
  }
  return makeNumber(env, peakGflops(static_cast<int>(threads), seconds));
}

napi_value SetNumThreads(napi_env env, napi_callback_info info) {
  Args a(env, info, "setNumThreads", 1);
  int64_t n = 0;
  if (!a.ok() || !a.i64(0, "n", 1, &n, 1024)) return nullptr;
  setNumThreads(static_cast<int>(n));
  return undefinedValue(env);
}

napi_value NumThreads(napi_env env, napi_callback_info) { return makeNumber(env, numThreads()); }

napi_value IsaName(napi_env env, napi_callback_info) { return makeString(env, isaName(activeIsa())); }

napi_value BestIsaName(napi_env env, napi_callback_info) { return makeString(env, isaName(bestIsa())); }

// setIsa(name) -> the active ISA after the change; throws if the CPU lacks it.
napi_value SetIsa(napi_env env, napi_callback_info info) {
  Args a(env, info, "setIsa", 1);
  std::string name;
  if (!a.ok() || !a.string(0, "isa", &name)) return nullptr;
  Isa isa;
  if (!parseIsa(name.c_str(), &isa)) {
    a.fail("unknown ISA '" + name + "'; use 'avx512', 'avx2' or 'scalar'");
    return nullptr;
  }
  if (!setActiveIsa(isa)) {
    a.fail("this CPU does not support " + name + " (best available: " + isaName(bestIsa()) + ")");
    return nullptr;
  }
  return makeString(env, isaName(activeIsa()));
}

struct Export {
  const char* name;
  napi_callback fn;
};

const Export kExports[] = {
    {"gemm", Gemm},
    {"peakGflops", PeakGflops},
    {"setNumThreads", SetNumThreads},
    {"numThreads", NumThreads},
    {"isa", IsaName},
    {"bestIsa", BestIsaName},
    {"setIsa", SetIsa},
    {"attentionForward", AttentionForwardBinding},
    {"attentionBackward", AttentionBackwardBinding},
    {"rotary", RotaryBinding},
    {"im2col", Im2colBinding},
    {"col2im", Col2imBinding},
    {"unary", UnaryBinding},
    {"binary", BinaryBinding},
    {"binaryScalar", BinaryScalarBinding},
    {"where", WhereBinding},
    {"copy", CopyBinding},
    {"fill", FillBinding},
    {"reduce", ReduceBinding},
    {"argReduce", ArgReduceBinding},
    {"softmax", SoftmaxBinding},
    {"softmaxBackward", SoftmaxBackwardBinding},
    {"crossEntropy", CrossEntropyBinding},
    {"rmsNorm", RmsNormBinding},
    {"rmsNormBackward", RmsNormBackwardBinding},
    {"layerNorm", LayerNormBinding},
    {"layerNormBackward", LayerNormBackwardBinding},
    {"indexSelect", IndexSelectBinding},
    {"indexAdd", IndexAddBinding},
    {"gather", GatherBinding},
    {"scatterAdd", ScatterAddBinding},
    {"mlaDecode", MlaDecodeBinding},
    {"moeDecode", MoeDecodeBinding},
    {"linearRows", LinearRowsBinding},
    {"moeSelect", MoeSelectBinding},
    {"headArgmax", HeadArgmaxBinding},
    {"adamwStep", AdamwStepBinding},
    {"sumSquares", SumSquaresBinding},
    {"relAttentionForward", RelAttentionForwardBinding},
    {"relAttentionBackward", RelAttentionBackwardBinding},
    {"dropoutMask", DropoutMaskBinding},
    {"crossEntropyInPlace", CrossEntropyInPlaceBinding},
    {"moeCombine", MoeCombineBinding},
    {"moeCombineBackward", MoeCombineBackwardBinding},
    {"swiglu", SwigluBinding},
    {"swigluBackward", SwigluBackwardBinding},
};

}  // namespace

}  // namespace kiln

namespace {

// Every export runs through this trampoline (the real callback travels as the function's data), so a C++
// exception escaping a binding (e.g. std::bad_alloc) becomes a JS Error with code 'E_NATIVE' instead of
// terminating the process.
napi_value Guarded(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  if (napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data) != napi_ok || data == nullptr) return nullptr;
  const auto fn = reinterpret_cast<napi_callback>(data);
  std::string what;  // copied: the exception object dies with its catch block
  try {
    return fn(env, info);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown C++ exception";
  }
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, "E_NATIVE", ("kiln native: " + what).c_str());
  return nullptr;
}

}  // namespace

NAPI_MODULE_INIT() {
  for (const auto& e : kiln::kExports) {
    napi_value fn;
    if (napi_create_function(env, e.name, NAPI_AUTO_LENGTH, Guarded, reinterpret_cast<void*>(e.fn), &fn) != napi_ok ||
        napi_set_named_property(env, exports, e.name, fn) != napi_ok)
      return nullptr;
  }
  return exports;
}
