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
 *   out = o_proj(softmax(score / √Dh + masks) · v)
 * The (b)+(d) term is computed once for all P = K + T distances ([B, H, T, P], descending) and shifted to
 * [B, H, T, K] by Transformer-XL's relative-shift trick done with views (slice of the flattened rows, reshape), so
 * no index tensor is built. Causal: key j visible iff j ≤ M + i (distances ≥ 0);
 * bidirectional: every key, distances −(T − 1) … M + T − 1. Built from ordinary ops, so the gradient (to q, k, v,
 * the projections, r_proj, u, v and the memory) comes from theirs.
 */
import { KilnError } from '../../errors.js';
import { Linear } from '../../nn/layers.js';
import { normal_ } from '../../nn/init.js';
import { Module, parameter } from '../../nn/module.js';
import { empty, fromArray } from '../../tensor/creation.js';
import { noGrad } from '../../tensor/autograd.js';
import { where } from '../../tensor/ops/elementwise.js';
import { cat } from '../../tensor/ops/shape.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';

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
  readonly heads: number;
  readonly headDim: number;

  constructor(readonly hidden: number, heads: number, { std = 0.02, generator }: { std?: number; generator?: Generator } = {}) {
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
  }

  /** h [B, T, d] (+ memory [B, M, d]) → [B, T, d]. */
  forward(h: Tensor, opts: RelAttentionOptions): Tensor {
    const [B, T, d] = h.shape;
    if (h.ndim !== 3 || d !== this.hidden) throw new KilnError('E_SHAPE', `relative attention: input must be [B, T, ${this.hidden}], got [${h.shape}]`);
    const mem = opts.memory ?? null;
    if (mem && (mem.ndim !== 3 || mem.shape[0] !== B || mem.shape[2] !== d))
      throw new KilnError('E_SHAPE', `relative attention: memory must be [${B}, M, ${d}], got [${mem.shape}]`);
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
    const o = s.softmax(-1).matmul(v); // [B, H, T, Dh]
    return this.o_proj.forward(o.transpose(1, 2).reshape(B, T, d));
  }
}
