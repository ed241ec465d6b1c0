/**
 * Native rotary embedding (native/kernels-rope.{h,cc}): the Backend's `rotary` on the addon, bit-identical to the
 * reference in src/backend/ts/rope.ts (pairs computed in double and rounded once), parallel over rows.
 */
import type { Backend } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';

export function ropeKernels(addon: NativeAddon): Pick<Backend, 'rotary'> {
  return {
    rotary(x, rows, D, rotaryDim, cos, sin, tableRows, interleaved, inverse, out) {
      addon.rotary(x, rows, D, rotaryDim, cos, sin, tableRows, interleaved, inverse, out);
    },
  };
}
