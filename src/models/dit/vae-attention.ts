/**
 * The VAE mid-block self-attention, causal in time (HunyuanVideo's VAE design; diffusers `Attention` names
 * `group_norm`, `to_q`, `to_k`, `to_v`, `to_out.0`): one head over every (t, h, w) token of the clip at the
 * mid-block's resolution, with a block-causal mask — a token of frame i attends to the tokens of frames ≤ i.
 *
 *   y = x + to_out(softmax(q·kᵀ/√C + mask)·v),  q, k, v = to_q/k/v(GN(x)) over tokens [N, T·H·W, C]
 *
 * Causality. The mask blocks later frames, and the GroupNorm takes per-frame statistics (group-norm.ts 'frame'), so
 * frame 0's output depends on frame 0 alone — the VAE's causality (an image is a 1-frame video) holds with it.
 * The norm sits on the attention branch only, so it is used whatever the VAE's `norm_type` (with 'none' the main
 * path stays unnormalised, and the Fixup init zeroes `to_out`, so a fresh block is the identity).
 *
 * Streaming (a `CausalCache`): the keys and values of earlier chunks are kept (a KV cache, one per block and tile)
 * and each chunk's queries attend to them plus their own frames under the same mask, so a chunked pass equals the
 * full pass. Unlike a conv's cache it grows with the video: 2·C floats per mid-block token (for a 64×64 video,
 * 8×8 tokens per latent frame) — small next to a decoded frame.
 */
import { Module } from '../../nn/module.js';
import { Linear } from '../../nn/layers.js';
import { fromArray } from '../../tensor/creation.js';
import type { Generator } from '../../tensor/random.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { cat } from '../../tensor/ops/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { GroupNorm } from './group-norm.js';
import type { CausalCache } from './vae.js';

/** Keep mask [Tq, Tk] (bool): query token i (frame q0 + ⌊i/S⌋) sees key token j (frame ⌊j/S⌋) iff its frame ≤ the query's. */
export function frameCausalMask(queryFrames: number, keyFrames: number, tokensPerFrame: number): Tensor {
  const S = tokensPerFrame;
  const q0 = keyFrames - queryFrames; // the queries are the last frames of the keys
  const Tq = queryFrames * S, Tk = keyFrames * S;
  const m = new Uint8Array(Tq * Tk);
  for (let i = 0; i < Tq; i++) m.fill(1, i * Tk, i * Tk + (q0 + Math.floor(i / S) + 1) * S);
  return fromArray(m, [Tq, Tk], { dtype: 'bool' });
}

export class CausalAttention3d extends Module {
  group_norm: GroupNorm;
  to_q: Linear;
  to_k: Linear;
  to_v: Linear;
  to_out: Linear[];
  constructor(readonly channels: number, groups: number, generator?: Generator) {
    super();
    this.group_norm = new GroupNorm(groups, channels);
    this.to_q = new Linear(channels, channels, { generator });
    this.to_k = new Linear(channels, channels, { generator });
    this.to_v = new Linear(channels, channels, { generator });
    this.to_out = [new Linear(channels, channels, { generator })];
  }

  /** x [N, C, T, H, W] → x + attention; with a cache, the keys/values of earlier chunks are attended too. */
  forward(x: Tensor, cache?: CausalCache): Tensor {
    const [N, C, T, H, W] = x.shape;
    const S = H * W;
    const h = this.group_norm.forward(x).permute(0, 2, 3, 4, 1).reshape([N, T * S, C]); // [N, T·S, C] tokens (t, h, w)
    const q = this.to_q.forward(h).unsqueeze(1); // [N, 1, T·S, C]
    let k = this.to_k.forward(h).unsqueeze(1);
    let v = this.to_v.forward(h).unsqueeze(1);
    if (cache) {
      const pk = cache.get(this.to_k), pv = cache.get(this.to_v);
      if (pk && pv) {
        k = cat([pk, k], 2);
        v = cat([pv, v], 2);
      }
      cache.set(this.to_k, k.contiguous());
      cache.set(this.to_v, v.contiguous());
    }
    const mask = frameCausalMask(T, k.shape[2] / S, S);
    const a = scaledDotProductAttention(q, k, v, { mask }).squeeze(1); // [N, T·S, C]
    const out = this.to_out[0].forward(a).reshape([N, T, H, W, C]).permute(0, 4, 1, 2, 3);
    return x.add(out);
  }
}
