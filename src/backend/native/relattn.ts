/**
 * Native relative-position attention and seeded dropout mask (native/kernels-relattn.{h,cc}): the Backend's
 * `relAttentionForward` / `relAttentionBackward` / `dropoutMask` on the addon, same semantics as the reference in
 * src/backend/ts/relattn.ts (the dims object is passed as a Float64Array). An addon built before these kernels
 * lacks them: then nothing is overridden and the reference serves them.
 */
import type { Backend, RelAttentionDims } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';
import { checkRelDims } from '../ts/relattn.js';

function dimsArray(d: RelAttentionDims): Float64Array {
  checkRelDims(d);
  return Float64Array.from([d.B, d.H, d.T, d.M, d.Dh, d.P, d.scale, d.causal ? 1 : 0, d.dropP, d.seed0 >>> 0, d.seed1 >>> 0]);
}

export function relAttentionKernels(addon: NativeAddon): Partial<Pick<Backend, 'relAttentionForward' | 'relAttentionBackward' | 'dropoutMask'>> {
  const { relAttentionForward: fwd, relAttentionBackward: bwd, dropoutMask: mask } = addon;
  if (!fwd || !bwd || !mask) return {};
  return {
    relAttentionForward(q, k, v, rk, u, vb, keyMask, dims, out, lse) {
      fwd(q, k, v, rk, u, vb, keyMask, dimsArray(dims), out, lse);
    },
    relAttentionBackward(q, k, v, rk, u, vb, keyMask, dims, out, lse, dout, dq, dk, dv, drk, du, dvb) {
      bwd(q, k, v, rk, u, vb, keyMask, dimsArray(dims), out, lse, dout, dq, dk, dv, drk, du, dvb);
    },
    dropoutMask(out, n, p, seed0, seed1) {
      mask(out, n, p, seed0 >>> 0, seed1 >>> 0);
    },
  };
}
