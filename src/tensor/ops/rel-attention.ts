/**
 * Fused relative-position attention (Transformer-XL §3.3, the attention of ERNIE 3.0's layers) and seeded dropout,
 * as ops: forward = one backend kernel, the vector-Jacobian product right beside it (backend `relAttentionForward`
 * / `relAttentionBackward` / `dropoutMask`; contract in src/backend/ts/relattn.ts).
 *
 * relAttention(q [B, T, H, Dh], k [B, K, H, Dh], v [B, K, H, Dh], rk [P, H, Dh], u [H, Dh], vb [H, Dh]) →
 * [B, T, H, Dh] with s_ij = scale·((q_i + u)·k_j + (q_i + vb)·rk_{T−1−i+j}), K = M + T (the M memory keys first),
 * rk row p ↔ distance M + T − 1 − p (P ≥ K + T − 1), causal: key j visible iff j ≤ M + i, `keyMask` [B, K]
 * (nonzero = attend). Attention-probability dropout at rate `dropP` draws two u32 seeds from `generator` per call,
 * so a seeded generator gives the same masks; the backward recomputes the same mask from the seeds. The T × K scores
 * are never materialised as tensors: only lse [B, H, T] is kept for the backward. Gradients reach q, k, v, rk, u, vb.
 *
 * seededDropout(x, p, training, generator): inverted dropout whose mask comes from `dropoutMask` (counter-based,
 * two u32 seeds drawn from the generator per call) instead of a JS loop over the generator.
 */
import { backend } from '../../backend/index.js';
import type { RelAttentionDims } from '../../backend/backend.js';
import { KilnError } from '../../errors.js';
import { noGrad, record } from '../autograd.js';
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor } from '../tensor.js';
import { mul } from './elementwise.js';
import { assertFloat, contig, dataOf } from './util.js';

export interface RelAttentionOptions {
  causal: boolean;
  /** Keep mask over the K keys [B, K] (nonzero = attend), or null. */
  keyMask?: Tensor | null;
  /** Multiplier of the scores; default 1/√Dh. */
  scale?: number;
  /** Attention-probability dropout rate in [0, 1); 0 = none. */
  dropP?: number;
  /** Source of the dropout seeds (default: the global generator). */
  generator?: Generator;
}

const OP = 'relAttention';

export function relAttention(q: Tensor, k: Tensor, v: Tensor, rk: Tensor, u: Tensor, vb: Tensor, o: RelAttentionOptions): Tensor {
  for (const [n, t] of [['q', q], ['k', k], ['v', v], ['rk', rk], ['u', u], ['vb', vb]] as const) assertFloat(t, `${OP} ${n}`);
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4)
    throw new KilnError('E_SHAPE', `${OP}: q, k, v must be [B, T, H, Dh] / [B, K, H, Dh], got [${q.shape}], [${k.shape}], [${v.shape}]`);
  const [B, T, H, Dh] = q.shape;
  const K = k.shape[1];
  const M = K - T;
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (M < 0 || !same(k.shape, [B, K, H, Dh]) || !same(v.shape, [B, K, H, Dh]))
    throw new KilnError('E_SHAPE', `${OP}: k and v must both be [${B}, K ≥ ${T}, ${H}, ${Dh}] (memory + new keys), got [${k.shape}] and [${v.shape}]`);
  const P = rk.shape[0];
  if (rk.ndim !== 3 || rk.shape[1] !== H || rk.shape[2] !== Dh || (T > 0 && P < K + T - 1))
    throw new KilnError('E_SHAPE', `${OP}: rk must be [P ≥ ${K + T - 1}, ${H}, ${Dh}] (one row per relative distance M + T − 1 … −(T − 1)), got [${rk.shape}]`);
  if (!same(u.shape, [H, Dh]) || !same(vb.shape, [H, Dh]))
    throw new KilnError('E_SHAPE', `${OP}: the biases u and vb must be [${H}, ${Dh}], got [${u.shape}] and [${vb.shape}]`);
  const dropP = o.dropP ?? 0;
  if (!(dropP >= 0 && dropP < 1)) throw new KilnError('E_ARG', `${OP}: the dropout rate must be in [0, 1), got ${dropP}`);
  let seed0 = 0;
  let seed1 = 0;
  if (dropP > 0) {
    const g = o.generator ?? defaultGenerator();
    seed0 = g.nextU32();
    seed1 = g.nextU32();
  }
  const dims: RelAttentionDims = { B, H, T, M, Dh, P, scale: o.scale ?? 1 / Math.sqrt(Dh), causal: o.causal, dropP, seed0, seed1 };
  let mask: Tensor | null = null;
  if (o.keyMask) {
    if (o.keyMask.ndim !== 2 || o.keyMask.shape[0] !== B || o.keyMask.shape[1] !== K)
      throw new KilnError('E_SHAPE', `${OP}: the key mask must be [${B}, ${K}] (memory + new tokens), got [${o.keyMask.shape}]`);
    const km = o.keyMask;
    mask = noGrad(() => contig(km.to('bool').to('f32')));
  }
  const [qc, kc, vc, rc, uc, vbc] = [q, k, v, rk, u, vb].map(contig);
  const out = Tensor.empty([B, T, H, Dh]);
  const lse = Tensor.empty([B, H, T]);
  const md = mask ? dataOf(mask) : null;
  backend().relAttentionForward(dataOf(qc), dataOf(kc), dataOf(vc), dataOf(rc), dataOf(uc), dataOf(vbc), md, dims, dataOf(out), dataOf(lse));
  record(out, OP, [q, k, v, rk, u, vb], (g) => {
    const gc = contig(g);
    const grads = [q, k, v, rk, u, vb].map((t) => Tensor.empty(t.shape));
    const [dq, dk, dv, drk, du, dvb] = grads.map(dataOf);
    backend().relAttentionBackward(dataOf(qc), dataOf(kc), dataOf(vc), dataOf(rc), dataOf(uc), dataOf(vbc), md, dims, dataOf(out), dataOf(lse), dataOf(gc), dq, dk, dv, drk, du, dvb);
    return grads;
  });
  if (!out.node) {
    lse.dispose();
    mask?.dispose();
    for (const [c, t] of [[qc, q], [kc, k], [vc, v], [rc, rk], [uc, u], [vbc, vb]] as const) if (c !== t) c.dispose();
  }
  return out;
}

/** Inverted dropout with a backend-generated seeded mask (see the header). */
export function seededDropout(x: Tensor, p: number, training = true, generator: Generator = defaultGenerator()): Tensor {
  if (!(p >= 0 && p < 1)) throw new KilnError('E_ARG', `seededDropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const mask = Tensor.empty(x.shape);
  backend().dropoutMask(dataOf(mask), mask.size, p, generator.nextU32(), generator.nextU32());
  return mul(x, mask);
}
