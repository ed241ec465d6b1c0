/**
 * Native fused attention (native/kernels-attention.{h,cc}): `attentionForward` / `attentionBackward` of the Backend
 * on the addon, same semantics as the reference in src/backend/ts/attention.ts (GQA, bottom-right causal, additive
 * mask view with broadcast strides, fully blocked rows → output 0 and lse −∞). The native kernel chooses its own
 * tiles from the GEMM micro-kernel's shape, so `blockQ`/`blockK` are only validated here (results agree with the
 * reference to fp32 rounding whatever the blocks). Degenerate head dims (D = 0 or Dv = 0) use the reference.
 */
import { KilnError } from '../../errors.js';
import type { Backend, View } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';
import { attentionKernels as reference } from '../ts/attention.js';

const NO_MASK = new Float32Array(0);

function checkBlocks(blockQ: number, blockK: number): void {
  if (!(Number.isInteger(blockQ) && blockQ > 0 && Number.isInteger(blockK) && blockK > 0))
    throw new KilnError('E_ARG', `attention kernel: block sizes must be positive integers, got blockQ=${blockQ}, blockK=${blockK}`);
}

/** The mask view as (array, offset, strides); an empty array means no mask. */
function maskArgs(mask: View | null): [Float32Array, number, number, number, number, number] {
  if (!mask) return [NO_MASK, 0, 0, 0, 0, 0];
  if (mask.shape.length !== 4)
    throw new KilnError('E_SHAPE', `attention kernel: the mask view must be 4-D [B, H, Tq, Tk] (broadcast strides), got shape [${mask.shape}]`);
  const s = mask.strides;
  return [mask.data, mask.offset, s[0], s[1], s[2], s[3]];
}

export function attentionKernels(addon: NativeAddon): Pick<Backend, 'attentionForward' | 'attentionBackward'> {
  return {
    attentionForward(q, k, v, mask, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, blockQ, blockK, out, lse) {
      checkBlocks(blockQ, blockK);
      if (D === 0 || Dv === 0) {
        reference.attentionForward(q, k, v, mask, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, blockQ, blockK, out, lse);
        return;
      }
      const [m, mOff, sB, sH, sQ, sK] = maskArgs(mask);
      addon.attentionForward(q, k, v, m, mOff, sB, sH, sQ, sK, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, out, lse);
    },
    attentionBackward(q, k, v, mask, out, lse, dout, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, blockQ, blockK, dq, dk, dv) {
      checkBlocks(blockQ, blockK);
      if (D === 0 || Dv === 0) {
        reference.attentionBackward(q, k, v, mask, out, lse, dout, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, blockQ, blockK, dq, dk, dv);
        return;
      }
      const [m, mOff, sB, sH, sQ, sK] = maskArgs(mask);
      addon.attentionBackward(q, k, v, m, mOff, sB, sH, sQ, sK, out, lse, dout, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, dq, dk, dv);
    },
  };
}
