/** Native GEMM binding (the addon's blocked, multithreaded AVX-512/AVX2 kernel). */
import type { Backend } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';

export function gemmKernels(addon: NativeAddon): Pick<Backend, 'gemm'> {
  return { gemm: addon.gemm };
}
