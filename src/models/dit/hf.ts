/**
 * Weight-name mapping between the Aquarius DiTs and the diffusers checkpoint layouts (design rule: module names equal
 * checkpoint keys; the unavoidable remaps live here, in one `sanitize` per family).
 *
 * Single-DiT ↔ diffusers `WanTransformer3DModel`: every key is the same except
 *   - `patch_embedding.weight`: Conv3d [D, C, pt, ph, pw] ↔ our Linear [D, C·pt·ph·pw] (a reshape: our patchify
 *     orders features (c, pt, ph, pw), exactly the conv's receptive-field order);
 *   - `proj_out.weight` / `.bias`: Wan's unpatchify reads output features as (pt, ph, pw, C), ours as (C, pt, ph, pw):
 *     the rows are permuted.
 * MM-DiT ↔ diffusers `HunyuanVideoTransformer3DModel`: same keys except `x_embedder.proj.weight` (the same reshape);
 * HunyuanVideo's unpatchify already reads (C, pt, ph, pw). Its token refiner (`context_embedder.token_refiner.*`,
 * `context_embedder.time_text_embed.*`) has no counterpart here: those keys are returned as `unsupported` and
 * `context_embedder.proj_in` is kept.
 */
import { KilnError } from '../../errors.js';
import { fromArray } from '../../tensor/creation.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { MmDitConfig, SingleDitConfig } from './dit-config.js';

/** Row permutation: output feature (c, pt, ph, pw) of ours ← Wan's row (pt, ph, pw, c). */
function wanRowOrder(C: number, patch: readonly [number, number, number]): number[] {
  const [pt, ph, pw] = patch;
  const rows: number[] = [];
  for (let c = 0; c < C; c++)
    for (let a = 0; a < pt; a++)
      for (let b = 0; b < ph; b++)
        for (let d = 0; d < pw; d++) rows.push(((a * ph + b) * pw + d) * C + c);
  return rows;
}

function permuteRows(t: Tensor, order: readonly number[], inverse: boolean): Tensor {
  const rows = t.shape[0];
  const inner = t.size / rows;
  const src = t.contiguous().data() as Float32Array;
  const out = new Float32Array(src.length);
  order.forEach((from, to) => {
    const [s, d] = inverse ? [to, from] : [from, to];
    out.set(src.subarray(s * inner, (s + 1) * inner), d * inner);
  });
  return fromArray(out, t.shape);
}

export interface Sanitized {
  state: Map<string, Tensor>;
  unsupported: string[];
}

/** diffusers Wan state dict → Single-DiT state dict. */
export function sanitizeWan(hf: Map<string, Tensor>, c: SingleDitConfig): Sanitized {
  const D = c.num_attention_heads * c.attention_head_dim;
  const state = new Map<string, Tensor>();
  const order = wanRowOrder(c.out_channels, c.patch_size);
  for (const [k, v] of hf) {
    if (k === 'patch_embedding.weight') state.set(k, v.reshape([D, -1]));
    else if (k === 'proj_out.weight' || k === 'proj_out.bias') state.set(k, permuteRows(v, order, false));
    else state.set(k, v);
  }
  return { state, unsupported: [] };
}

/** Single-DiT state dict → diffusers Wan layout (the inverse of `sanitizeWan`). */
export function toWan(state: Map<string, Tensor>, c: SingleDitConfig): Map<string, Tensor> {
  const D = c.num_attention_heads * c.attention_head_dim;
  const order = wanRowOrder(c.out_channels, c.patch_size);
  const out = new Map<string, Tensor>();
  for (const [k, v] of state) {
    if (k === 'patch_embedding.weight') out.set(k, v.reshape([D, c.in_channels, ...c.patch_size]));
    else if (k === 'proj_out.weight' || k === 'proj_out.bias') out.set(k, permuteRows(v, order, true));
    else out.set(k, v);
  }
  return out;
}

/** diffusers HunyuanVideo state dict → MM-DiT state dict (token-refiner keys reported as unsupported). */
export function sanitizeHunyuan(hf: Map<string, Tensor>, c: MmDitConfig): Sanitized {
  const D = c.num_attention_heads * c.attention_head_dim;
  const state = new Map<string, Tensor>();
  const unsupported: string[] = [];
  for (const [k, v] of hf) {
    if (k === 'x_embedder.proj.weight') {
      if (v.ndim !== 5) throw new KilnError('E_CHECKPOINT', `sanitizeHunyuan: ${k} should be a Conv3d weight [D, C, pt, ph, pw], got [${v.shape}]`);
      state.set(k, v.reshape([D, -1]));
    } else if (k.startsWith('context_embedder.') && !k.startsWith('context_embedder.proj_in.')) unsupported.push(k);
    else state.set(k, v);
  }
  return { state, unsupported };
}
