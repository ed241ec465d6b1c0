/**
 * Relative-position multi-head attention with segment-recurrence memory (Transformer-XL, Dai et al. 2019, §3.3), the
 * attention of every ERNIE 3.0 layer (universal and task modules).
 *
 * Letters: B batch, T new tokens, M memory tokens, K = M + T keys, H heads, Dh head dim, d = H·Dh,
 * P = number of distinct relative distances.
 *   keys/values come from [mem; h] (mem is the caller's, already stop-gradient — see model.ts)
 *   query i sits at position M + i, key j at position j; distance r = M + i − j
 *   score[i, j] = (q_i + u)·k_j            (a) content + (c) global content bias
 *               + (q_i + v)·W_kR·R_r        (b) content-dependent position + (d) global position bias
 *   with R_r = [sin(r·ω), cos(r·ω)] (ω_k = 10000^(−2k/d), no parameters), W_kR = `r_proj` [d, d] without bias,
 *   u = `r_w_bias`, v = `r_r_bias` [H, Dh] per layer.
 *   out = o_proj(dropout_attn(softmax(score / √Dh + masks)) · v)
 * Causal: key j visible iff j ≤ M + i (distances ≥ 0); bidirectional: every key, distances −(T − 1) … M + T − 1.
 *
 * `forward` runs the fused op `relAttention` (src/tensor/ops/rel-attention.ts: one backend kernel forward and one
 * backward; position keys rk = W_kR·R for the P = K + T − 1 distances, [P, H, Dh], read through a sliding window
 * per query tile, so neither the [B, H, T, P] position scores nor the shift's copies exist). Attention-probability
 * dropout (`attn_dropout`: rate and generator, set with the hidden dropout by Ernie3Model.setDropout; training mode
 * only) is seeded: each call draws two u32 seeds from the generator, the mask is a hash of (seeds, element).
 * `forwardReference` is the same function built from ordinary ops (materialised scores; the (b)+(d) term for
 * P = K + T distances moved to [B, H, T, K] by Transformer-XL's relative shift done with views — drop the first
 * T − 1 numbers of each flattened [T·P] block, view as [T, P − 1], keep K columns), with the same dropout mask drawn
 * from the same seeds: the fused op's tests compare against it, values and gradients.
 */
import { KilnError } from '../../errors.js';
import { Linear } from '../../nn/layers.js';
import { normal_ } from '../../nn/init.js';
import { Module, parameter } from '../../nn/module.js';
import { dropUniform } from '../../backend/ts/relattn.js';
import { empty, fromArray } from '../../tensor/creation.js';
import { noGrad } from '../../tensor/autograd.js';
import { where } from '../../tensor/ops/elementwise.js';
import { relAttention } from '../../tensor/ops/rel-attention.js';
import { cat } from '../../tensor/ops/shape.js';
import { defaultGenerator, type Generator } from '../../tensor/random.js';
import { keep as keepTensor } from '../../tensor/scope.js';
import type { Tensor } from '../../tensor/tensor.js';
import { ScheduledDropout } from './dropout.js';

/** Sinusoidal encodings of the distances r = r0 + p·step, p = 0 … P − 1: [P, d], row p = [sin(r·ω), cos(r·ω)]. */
export function relativeSinusoids(r0: number, P: number, d: number, step = 1): Tensor {
  const half = d / 2;
  const out = new Float32Array(P * d);
  for (let p = 0; p < P; p++) {
    const r = r0 + p * step;
    for (let k = 0; k < half; k++) {
      const a = r * Math.pow(10000, (-2 * k) / d);
      out[p * d + k] = Math.sin(a);
      out[p * d + half + k] = Math.cos(a);
    }
  }
  return fromArray(out, [P, d]);
}

const sinusoidCache = new Map<string, Tensor>();

/** relativeSinusoids(r0, P, d, −1), computed once per (r0, P, d) and kept (a constant without gradient; at most 16). */
function descendingSinusoids(r0: number, P: number, d: number): Tensor {
  const key = `${r0},${P},${d}`;
  let t = sinusoidCache.get(key);
  if (!t || t.isDisposed) {
    // bounded: dropped entries are not disposed (a live graph may still hold one for r_proj's backward); the
    // garbage collector frees their arrays once unreachable (they just never return to the caching allocator)
    if (sinusoidCache.size >= 16) sinusoidCache.clear();
    t = keepTensor(noGrad(() => relativeSinusoids(r0, P, d, -1)));
    sinusoidCache.set(key, t);
  }
  return t;
}

/** Keep mask [T, K] (1 = visible) for causal attention over M memory + T new tokens. */
function causalKeep(T: number, M: number): Tensor {
  const K = M + T;
  const m = new Uint8Array(T * K);
  for (let i = 0; i < T; i++) for (let j = 0; j <= M + i; j++) m[i * K + j] = 1;
  return fromArray(m, [T, K], { dtype: 'bool' });
}

export interface RelAttentionOptions {
  /** Previous-segment states [B, M, d] (stop-gradient is the caller's job), or null. */
  memory?: Tensor | null;
  causal: boolean;
  /** Keep mask over the K keys, [B, K] (bool/int, 1 = attend), e.g. padding; null = all. */
  keyMask?: Tensor | null;
}

export class RelativeMultiHeadAttention extends Module {
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  o_proj: Linear;
  /** W_kR: relative encodings → per-head position keys. */
  r_proj: Linear;
  /** u [H, Dh]: global content bias. */
  r_w_bias: Tensor;
  /** v [H, Dh]: global position bias. */
  r_r_bias: Tensor;
  /** Attention-probability dropout: its rate and generator (applied in training mode only). */
  attn_dropout: ScheduledDropout;
  readonly heads: number;
  readonly headDim: number;

  constructor(readonly hidden: number, heads: number, { std = 0.02, generator, attnDropout = 0 }: { std?: number; generator?: Generator; attnDropout?: number } = {}) {
    super();
    if (hidden % heads !== 0) throw new KilnError('E_CONFIG', `relative attention: hidden ${hidden} is not divisible by ${heads} heads`);
    this.heads = heads;
    this.headDim = hidden / heads;
    const init = { std, generator };
    this.q_proj = new Linear(hidden, hidden, init);
    this.k_proj = new Linear(hidden, hidden, init);
    this.v_proj = new Linear(hidden, hidden, init);
    this.o_proj = new Linear(hidden, hidden, init);
    this.r_proj = new Linear(hidden, hidden, { ...init, bias: false });
    this.r_w_bias = parameter(normal_(empty([heads, this.headDim]), 0, std, generator));
    this.r_r_bias = parameter(normal_(empty([heads, this.headDim]), 0, std, generator));
    this.attn_dropout = new ScheduledDropout(attnDropout, generator);
  }

  private checkInput(h: Tensor, mem: Tensor | null): void {
    const [B, , d] = h.shape;
    if (h.ndim !== 3 || d !== this.hidden) throw new KilnError('E_SHAPE', `relative attention: input must be [B, T, ${this.hidden}], got [${h.shape}]`);
    if (mem && (mem.ndim !== 3 || mem.shape[0] !== B || mem.shape[2] !== d))
      throw new KilnError('E_SHAPE', `relative attention: memory must be [${B}, M, ${d}], got [${mem.shape}]`);
  }

  /** The attention dropout rate in effect (0 in eval mode). */
  private dropRate(): number {
    return this.training && this.attn_dropout.training ? this.attn_dropout.p : 0;
  }

  /** h [B, T, d] (+ memory [B, M, d]) → [B, T, d], through the fused kernel. */
  forward(h: Tensor, opts: RelAttentionOptions): Tensor {
    const mem = opts.memory ?? null;
    this.checkInput(h, mem);
    const [B, T, d] = h.shape;
    const M = mem ? mem.shape[1] : 0;
    const K = M + T;
    const { heads: H, headDim: Dh } = this;
    const kvIn = mem && M > 0 ? cat([mem, h], 1) : h; // [B, K, d]
    const q = this.q_proj.forward(h).reshape(B, T, H, Dh);
    const k = this.k_proj.forward(kvIn).reshape(B, K, H, Dh);
    const v = this.v_proj.forward(kvIn).reshape(B, K, H, Dh);
    // distances in descending order, row p ↔ r = M + T − 1 − p, p = 0 … K + T − 2 (down to −(T − 1))
    const P = Math.max(0, K + T - 1);
    const rk = this.r_proj.forward(descendingSinusoids(M + T - 1, P, d)).reshape(P, H, Dh); // [P, H, Dh]
    const o = relAttention(q, k, v, rk, this.r_w_bias, this.r_r_bias, {
      causal: opts.causal, keyMask: opts.keyMask ?? null, dropP: this.dropRate(), generator: this.attn_dropout.generator,
    }); // [B, T, H, Dh]
    return this.o_proj.forward(o.reshape(B, T, d));
  }

  /** The same attention from ordinary ops (see the header): h [B, T, d] (+ memory [B, M, d]) → [B, T, d]. */
  forwardReference(h: Tensor, opts: RelAttentionOptions): Tensor {
    const mem = opts.memory ?? null;
    this.checkInput(h, mem);
    const [B, T, d] = h.shape;
    const M = mem ? mem.shape[1] : 0;
    const K = M + T;
    const { heads: H, headDim: Dh } = this;
    const kvIn = mem && M > 0 ? cat([mem, h], 1) : h; // [B, K, d]
    const q = this.q_proj.forward(h).reshape(B, T, H, Dh).transpose(1, 2); // [B, H, T, Dh]
    const k = this.k_proj.forward(kvIn).reshape(B, K, H, Dh).transpose(1, 2); // [B, H, K, Dh]
    const v = this.v_proj.forward(kvIn).reshape(B, K, H, Dh).transpose(1, 2); // [B, H, K, Dh]
    // distances in descending order, column p ↔ r = M + T − 1 − p, p = 0 … P − 1 (P = K + T: down to −T, one more
    // than needed so the shift below works for T = 1 too)
    const P = K + T;
    const R = relativeSinusoids(M + T - 1, P, d, -1); // [P, d]
    const rk = this.r_proj.forward(R).reshape(P, H, Dh).transpose(0, 1); // [H, P, Dh]
    const ac = q.add(this.r_w_bias.unsqueeze(1)).matmul(k.mT); // [B, H, T, K]
    const bdAll = q.add(this.r_r_bias.unsqueeze(1)).matmul(rk.mT); // [B, H, T, P]
    // relative shift: BD[i, j] = bdAll[i, T − 1 − i + j] (distance M + i − j). In the flattened row-major [T·P] block,
    // that element sits at i·(P − 1) + (T − 1) + j: drop the first T − 1 numbers, view as [T, P − 1], keep K columns.
    const bd = bdAll.reshape(B, H, T * P).slice(-1, T - 1, T - 1 + T * (P - 1)).reshape(B, H, T, P - 1).slice(-1, 0, K); // [B, H, T, K]
    let s = ac.add(bd).mul(1 / Math.sqrt(Dh));
    const keep = noGrad(() => {
      let m: Tensor | null = opts.causal ? causalKeep(T, M) : null; // [T, K]
      if (opts.keyMask) {
        if (opts.keyMask.ndim !== 2 || opts.keyMask.shape[0] !== B || opts.keyMask.shape[1] !== K)
          throw new KilnError('E_SHAPE', `relative attention: key mask must be [${B}, ${K}] (memory + new tokens), got [${opts.keyMask.shape}]`);
        const km = opts.keyMask.to('bool').reshape(B, 1, 1, K);
        m = m ? where(m, km.to('f32'), 0).to('bool') : km;
      }
      return m;
    });
    if (keep) s = where(keep, s, -Infinity);
    let p = s.softmax(-1); // [B, H, T, K]
    const rate = this.dropRate();
    if (rate > 0) {
      // the fused kernel's mask: element ((b·H + h)·T + i)·K + j of the stream seeded by two u32 draws
      const g = this.attn_dropout.generator ?? defaultGenerator();
      const s0 = g.nextU32();
      const s1 = g.nextU32();
      const m = new Float32Array(B * H * T * K);
      for (let x = 0; x < m.length; x++) m[x] = dropUniform(s0, s1, x) >= rate ? 1 / (1 - rate) : 0;
      p = p.mul(fromArray(m, [B, H, T, K]));
    }
    const o = p.matmul(v); // [B, H, T, Dh]
    return this.o_proj.forward(o.transpose(1, 2).reshape(B, T, d));
  }
}
