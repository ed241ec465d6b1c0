/**
 * Attention with qk-norm and 3D RoPE for the DiTs. Tokens [B, N, D] are split into heads [B, H, N, D_h]; q and k
 * are RMS-normalised (over the whole D "across heads", as Wan, or per head over D_h, as HunyuanVideo), rotated by the
 * RoPE tables when given, and attended with the fused `scaledDotProductAttention` (never holding N×N).
 * Module names follow diffusers (`to_q`, `to_k`, `to_v`, `to_out.0`, `norm_q`, `norm_k`).
 */
import { constant_ } from '../../nn/init.js';
import { Linear, RMSNorm } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { applyRotary } from '../../tensor/ops/rope.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';

export interface Rope {
  cos: Tensor; // [N, D_h/2]
  sin: Tensor;
}

/** [B, N, D] → [B, H, N, D_h]. */
export function toHeads(x: Tensor, heads: number): Tensor {
  const [B, N, D] = x.shape;
  return x.reshape([B, N, heads, D / heads]).transpose(1, 2);
}

/** [B, H, N, D_h] → [B, N, D]. */
export function fromHeads(x: Tensor): Tensor {
  const [B, H, N, Dh] = x.shape;
  return x.transpose(1, 2).reshape([B, N, H * Dh]);
}

export function rotate(x: Tensor, rope: Rope | null | undefined): Tensor {
  return rope ? applyRotary(x, rope.cos, rope.sin, { layout: 'interleaved' }) : x;
}

/** Keep mask [B, L] (1 = real token) → attention keep mask [B, 1, 1, L] (bool), or null. */
export function keyMask(mask: Tensor | null | undefined): Tensor | null {
  if (!mask) return null;
  return mask.ne(0).to('bool').reshape([mask.shape[0], 1, 1, mask.shape[1]]); // ne gives 0/1 f32, which attention would read as additive
}

/** Wan-style attention: one set of projections; q from x, k/v from x (self) or from the context (cross). */
export class QkNormAttention extends Module {
  to_q: Linear;
  to_k: Linear;
  to_v: Linear;
  to_out: Linear[];
  norm_q: RMSNorm;
  norm_k: RMSNorm;
  constructor(readonly dim: number, readonly heads: number, eps: number, generator?: Generator, { zeroOut = false, kvDim = dim } = {}) {
    super();
    this.to_q = new Linear(dim, dim, { generator });
    this.to_k = new Linear(kvDim, dim, { generator });
    this.to_v = new Linear(kvDim, dim, { generator });
    this.to_out = [new Linear(dim, dim, { generator })];
    if (zeroOut) {
      constant_(this.to_out[0].weight, 0);
      constant_(this.to_out[0].bias!, 0);
    }
    this.norm_q = new RMSNorm(dim, eps);
    this.norm_k = new RMSNorm(dim, eps);
  }

  /** x [B, N, D]; context [B, L, D] for cross-attention (no RoPE there); mask [B, 1, 1, L] keep mask. */
  forward(x: Tensor, { context, rope, mask }: { context?: Tensor; rope?: Rope | null; mask?: Tensor | null } = {}): Tensor {
    const src = context ?? x;
    const q = rotate(toHeads(this.norm_q.forward(this.to_q.forward(x)), this.heads), context ? null : rope);
    const k = rotate(toHeads(this.norm_k.forward(this.to_k.forward(src)), this.heads), context ? null : rope);
    const v = toHeads(this.to_v.forward(src), this.heads);
    return this.to_out[0].forward(fromHeads(scaledDotProductAttention(q, k, v, { mask: mask ?? null })));
  }
}
