# Builds the Kiln native addon (build/Release/kiln_native.node) from native/. Portable x86-64 code: no -march
# flag; the AVX2 and AVX-512 kernels are compiled per function with `#pragma GCC target` and chosen at run time.
{
  "targets": [
    {
      "target_name": "kiln_native",
      "sources": [
        "native/addon.cc",
        "native/napi-args.cc",
        "native/cpu.cc",
        "native/thread-pool.cc",
        "native/gemm.cc",
        "native/gemm-avx512.cc",
        "native/gemm-avx2.cc",
        "native/gemm-scalar.cc",
        "native/peak.cc",
        "native/kernels-attention.cc",
        "native/kernels-rope.cc",
        "native/kernels-conv.cc",
        "native/kernels-args.cc",
        "native/kernels-elementwise.cc",
        "native/kernels-reduce.cc",
        "native/kernels-nn.cc",
        "native/kernels-index.cc",
        "native/kernels-avx512.cc",
        "native/kernels-avx2.cc",
        "native/kernels-scalar.cc",
        "native/kernels-deepseek.cc",
        "native/kernels-optim.cc",
        "native/kernels-deepseek-train.cc",
        "native/kernels-relattn.cc"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20", "-std=c++20"],
      "cflags": ["-O3", "-Wall", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
