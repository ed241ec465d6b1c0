/**
 * Causal multi-head self-attention with rotary positions (Llama layout: q_proj, k_proj, v_proj, o_proj; RoPE in
 * the 'half' pairing), computed by the fused memory-efficient attention op.
 */
import { scaledDotProductAttention } from '../tensor/ops/attention.js';
import { applyRotary, ropeFrequencies, type RopeTables } from '../tensor/ops/rope.js';
import { keep } from '../tensor/scope.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { KilnError } from '../errors.js';
import { Linear } from './layers.js';
import { Module } from './module.js';

export interface AttentionConfig {
  hidden: number;
  heads: number;
  ropeTheta: number;
  maxPositions: number;
  /** N(0, std) for q/k/v projections; `outStd` for o_proj (defaults to std). */
  std?: number;
  outStd?: number;
  generator?: Generator;
}

export class CausalSelfAttention extends Module {
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  o_proj: Linear;
  readonly heads: number;
  readonly headDim: number;
  private readonly rope: RopeTables;

  constructor(c: AttentionConfig) {
    super();
    if (c.hidden % c.heads !== 0) throw new KilnError('E_CONFIG', `attention: hidden ${c.hidden} is not divisible by ${c.heads} heads`);
    this.heads = c.heads;
    this.headDim = c.hidden / c.heads;
    const init = { bias: false, std: c.std, generator: c.generator };
    this.q_proj = new Linear(c.hidden, c.hidden, init);
    this.k_proj = new Linear(c.hidden, c.hidden, init);
    this.v_proj = new Linear(c.hidden, c.hidden, init);
    this.o_proj = new Linear(c.hidden, c.hidden, { ...init, std: c.outStd ?? c.std });
    const rope = ropeFrequencies(this.headDim, c.ropeTheta, c.maxPositions);
    this.rope = { ...rope, cos: keep(rope.cos), sin: keep(rope.sin) };
  }

  /** x [B, T, hidden] → [B, T, hidden]. */
  forward(x: Tensor): Tensor {
    const [B, T] = x.shape;
    if (T > this.rope.cos.shape[0]) throw new KilnError('E_SHAPE', `attention: sequence length ${T} exceeds max positions ${this.rope.cos.shape[0]}`);
    const split = (t: Tensor) => t.reshape(B, T, this.heads, this.headDim).transpose(1, 2); // [B, H, T, Dh]
    const cos = this.rope.cos.slice(0, 0, T);
    const sin = this.rope.sin.slice(0, 0, T);
    const q = applyRotary(split(this.q_proj.forward(x)), cos, sin);
    const k = applyRotary(split(this.k_proj.forward(x)), cos, sin);
    const v = split(this.v_proj.forward(x));
    const o = scaledDotProductAttention(q, k, v, { causal: true }); // [B, H, T, Dh]
    return this.o_proj.forward(o.transpose(1, 2).reshape(B, T, -1));
  }

  override dispose(): void {
    super.dispose();
    this.rope.cos.dispose();
    this.rope.sin.dispose();
  }
}
