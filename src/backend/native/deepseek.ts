/**
 * Native DeepSeek-V3 fused decode kernels (native/kernels-deepseek.{h,cc}): the Backend's `mlaDecode` and
 * `moeDecode` on the addon — one call per decoder-layer half instead of ~30 small ops — with the reference's
 * semantics (src/backend/ts/deepseek.ts) up to f32 summation order.
 */
import type { Backend } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';

export function deepseekKernels(
  addon: NativeAddon,
): Pick<Backend, 'mlaDecode' | 'moeDecode' | 'linearRows' | 'moeSelect' | 'headArgmax' | 'crossEntropyInPlace' | 'moeCombine' | 'moeCombineBackward' | 'swiglu' | 'swigluBackward'> {
  return {
    mlaDecode: addon.mlaDecode, moeDecode: addon.moeDecode, linearRows: addon.linearRows, moeSelect: addon.moeSelect, headArgmax: addon.headArgmax,
    // training (native/kernels-deepseek-train.cc)
    crossEntropyInPlace: addon.crossEntropyInPlace, moeCombine: addon.moeCombine, moeCombineBackward: addon.moeCombineBackward,
    swiglu: addon.swiglu, swigluBackward: addon.swigluBackward,
  };
}
