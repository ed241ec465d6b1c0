/**
 * Native optimizer bindings (native/kernels-optim.cc): AdamW with f32 moments and the sum of squares for global-norm
 * clipping, equal to the reference (src/backend/ts/optim.ts) bit for bit. Small arrays use the reference.
 */
import type { Backend } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';
import { optimKernels as reference } from '../ts/optim.js';
import { nativeCutoff } from './elementwise.js';

export function optimKernels(addon: NativeAddon): Pick<Backend, 'adamwStep' | 'sumSquares'> {
  return {
    adamwStep: (w, g, m, v, b1, b2, c1, c2, lr, decay, eps) =>
      w.length < nativeCutoff.elements ? reference.adamwStep(w, g, m, v, b1, b2, c1, c2, lr, decay, eps) : addon.adamwStep(w, g, m, v, b1, b2, c1, c2, lr, decay, eps),
    sumSquares: (x) => (x.length < nativeCutoff.elements ? reference.sumSquares(x) : addon.sumSquares(x)),
  };
}
