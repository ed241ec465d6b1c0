/**
 * Scaled dot-product attention: softmax(q·kᵀ·scale + mask) · v, with grouped-query heads, causal masking aligned
 * bottom-right (a KV cache's layout) and an optional mask.
 *
 * Letters: B = batch, H = query heads, Hkv = key/value heads (H % Hkv == 0; query head h uses kv head ⌊h/(H/Hkv)⌋,
 * as HF's `repeat_kv`), Tq / Tk = query / key lengths, D = q·k head dim, Dv = value head dim (may differ from D,
 * as in DeepSeek-V3's MLA).
 *
 * Two implementations with the same numerics:
 * - `scaledDotProductAttention`: the fused, memory-efficient kernel (backend `attentionForward`/`attentionBackward`,
 *   FlashAttention-style online softmax). Memory is O(B·H·Tq·(D + Dv)) whatever Tk: the Tq×Tk score matrix is
 *   never allocated, only the per-row log-sum-exp [B, H, Tq] is kept for the backward, which recomputes the scores.
 * - `scaledDotProductAttentionReference`: the same function composed from ordinary ops (matmul, softmax, where),
 *   which materialises the scores. The kernel's tests check against it; it also serves as the fallback of
 *   design rule 7 (a fused kernel carries a fallback made of ordinary ops).
 *
 * Masks (`opts.mask`, broadcastable to [B, H, Tq, Tk], e.g. [Tq, Tk] or [B, 1, 1, Tk]):
 * - an f32 mask is ADDITIVE: its values are added to the scaled scores (0 = attend, −Infinity = blocked, any other
 *   value a bias);
 * - a bool, u8 or i32 mask is a KEEP mask: nonzero (true) = attend, 0 (false) = blocked — PyTorch's boolean
 *   `attn_mask` convention. (A 0/1 keep mask stored as f32 would be read as additive: convert it with `.to('bool')`.)
 * A query row whose keys are all blocked (by the mask and/or causality) outputs 0 and passes no gradient (PyTorch
 * gives NaN there).
 * The mask takes no gradient; gradients flow to q, k and v.
 */
import { backend } from '../../backend/index.js';
import type { View } from '../../backend/backend.js';
import { KilnError } from '../../errors.js';
import { noGrad, record } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { add, gt, mul, where } from './elementwise.js';
import { matmul } from './matmul.js';
import { softmax } from './nn.js';
import { amax } from './reduce.js';
import { expand, reshape, transpose, unsqueeze } from './shape.js';
import { assertFloat, broadcastShapes, broadcastView, contig, dataOf, sameShape } from './util.js';

export interface AttentionOptions {
  /** Causal masking, bottom-right aligned: query i sees keys j ≤ i + Tk − Tq. Default false. */
  causal?: boolean;
  /** Additive f32 mask, or bool/u8/i32 keep mask (0 = blocked), broadcastable to [B, H, Tq, Tk]. */
  mask?: Tensor | null;
  /** Multiplier of q·kᵀ; default 1/√D. */
  scale?: number;
  /** Query rows per tile of the fused kernel (default 64). Results do not depend on it beyond rounding. */
  blockQ?: number;
  /** Keys per tile of the fused kernel (default 64). */
  blockK?: number;
}

interface Dims {
  B: number;
  H: number;
  Hkv: number;
  Tq: number;
  Tk: number;
  D: number;
  Dv: number;
}

const DEFAULT_BLOCK = 64;

function checkInputs(q: Tensor, k: Tensor, v: Tensor, op: string): Dims {
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    assertFloat(t, op);
    if (t.ndim !== 4)
      throw new KilnError('E_SHAPE', `${op}: ${name} has shape [${t.shape}] but must be 4-D [B, heads, T, headDim]; reshape/transpose [B, T, heads, headDim] inputs with .transpose(1, 2)`);
  }
  const [B, H, Tq, D] = q.shape;
  const [Bk, Hkv, Tk, Dk] = k.shape;
  const [Bv, Hv, Tv, Dv] = v.shape;
  if (Bk !== B || Bv !== B) throw new KilnError('E_SHAPE', `${op}: batch sizes differ: q [${q.shape}], k [${k.shape}], v [${v.shape}]`);
  if (Dk !== D) throw new KilnError('E_SHAPE', `${op}: q [${q.shape}] and k [${k.shape}] must share the head dim (last dim)`);
  if (Hv !== Hkv || Tv !== Tk)
    throw new KilnError('E_SHAPE', `${op}: k [${k.shape}] and v [${v.shape}] must have the same heads and length (dims 1 and 2)`);
  if (Hkv === 0 || H % Hkv !== 0)
    throw new KilnError('E_SHAPE', `${op}: q has ${H} heads and k/v ${Hkv}; grouped-query attention needs the k/v head count to divide the query head count`);
  return { B, H, Hkv, Tq, Tk, D, Dv };
}

/** The mask as an additive f32 tensor (itself when already f32), checked to broadcast to [B, H, Tq, Tk]. */
function additiveMask(mask: Tensor, d: Dims, op: string): Tensor {
  const full = [d.B, d.H, d.Tq, d.Tk];
  let ok = mask.ndim <= 4;
  if (ok) {
    try {
      ok = sameShape(broadcastShapes(mask.shape, full), full);
    } catch {
      ok = false;
    }
  }
  if (!ok)
    throw new KilnError('E_SHAPE', `${op}: mask [${mask.shape}] does not broadcast to the scores' shape [${full}] ([B, H, Tq, Tk]); use e.g. [Tq, Tk], [B, 1, Tq, Tk] or [B, 1, 1, Tk]`);
  if (mask.dtype === 'f32') return mask;
  if (mask.dtype !== 'bool' && mask.dtype !== 'u8' && mask.dtype !== 'i32')
    throw new KilnError('E_DTYPE', `${op}: mask dtype ${mask.dtype} is not supported; pass an additive f32 mask or a bool/u8/i32 keep mask (0 = blocked)`);
  return noGrad(() => where(mask, 0, -Infinity));
}

function blockSize(b: number | undefined, what: string): number {
  const v = b ?? DEFAULT_BLOCK;
  if (!Number.isInteger(v) || v < 1) throw new KilnError('E_ARG', `scaledDotProductAttention: ${what} must be a positive integer, got ${b}`);
  return v;
}

/** Fused memory-efficient attention: q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] → [B, H, Tq, Dv]. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const op = 'scaledDotProductAttention';
  const d = checkInputs(q, k, v, op);
  const { B, H, Hkv, Tq, Tk, D, Dv } = d;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const causal = opts.causal ?? false;
  const blockQ = blockSize(opts.blockQ, 'blockQ');
  const blockK = blockSize(opts.blockK, 'blockK');
  const mask = opts.mask ? additiveMask(opts.mask, d, op) : null;
  const maskView: View | null = mask ? broadcastView(mask, [B, H, Tq, Tk]) : null;
  const qc = contig(q);
  const kc = contig(k);
  const vc = contig(v);
  const out = Tensor.empty([B, H, Tq, Dv]); // [B, H, Tq, Dv]
  const lse = Tensor.empty([B, H, Tq]); // [B, H, Tq]
  backend().attentionForward(dataOf(qc), dataOf(kc), dataOf(vc), maskView, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, blockQ, blockK, dataOf(out), dataOf(lse));
  record(out, 'scaledDotProductAttention', [q, k, v], (g) => {
    const gc = contig(g);
    const dq = Tensor.empty(q.shape);
    const dk = Tensor.empty(k.shape);
    const dv = Tensor.empty(v.shape);
    backend().attentionBackward(
      dataOf(qc), dataOf(kc), dataOf(vc), maskView, dataOf(out), dataOf(lse), dataOf(gc),
      B, H, Hkv, Tq, Tk, D, Dv, scale, causal, blockQ, blockK, dataOf(dq), dataOf(dk), dataOf(dv),
    );
    return [dq, dk, dv];
  });
  if (!out.node) {
    // no backward will run: free what it would have needed now
    lse.dispose();
    for (const [c, t] of [[qc, q], [kc, k], [vc, v]] as const) if (c !== t) c.dispose();
    if (mask && mask !== opts.mask) mask.dispose();
  }
  return out;
}

/** The causal mask as an additive [Tq, Tk] tensor: 0 where key j ≤ i + Tk − Tq, −Infinity elsewhere. */
function causalMask(Tq: number, Tk: number): Tensor {
  const m = Tensor.empty([Tq, Tk]);
  const a = dataOf(m);
  for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) a[i * Tk + j] = j <= i + Tk - Tq ? 0 : -Infinity;
  return m;
}

/** k/v [B, Hkv, T, X] repeated to [B, H, T, X] (kv head j serves query heads j·rep … j·rep + rep − 1). */
function repeatKv(x: Tensor, H: number): Tensor {
  const [B, Hkv, T, X] = x.shape;
  if (Hkv === H) return x;
  return reshape(expand(unsqueeze(x, 2), [B, Hkv, H / Hkv, T, X]), [B, H, T, X]);
}

/**
 * The same attention composed from ordinary ops (materialises the [B, H, Tq, Tk] scores): the reference the fused
 * kernel is tested against, and a fallback whose gradient comes from the ops it is made of.
 */
export function scaledDotProductAttentionReference(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const op = 'scaledDotProductAttentionReference';
  const d = checkInputs(q, k, v, op);
  const scale = opts.scale ?? 1 / Math.sqrt(d.D);
  let s = mul(matmul(q, transpose(repeatKv(k, d.H), -1, -2)), scale); // [B, H, Tq, Tk]
  if (opts.mask) s = add(s, additiveMask(opts.mask, d, op));
  if (opts.causal) s = add(s, causalMask(d.Tq, d.Tk));
  // rows with every key blocked: softmax of all −∞ is NaN; give them probabilities 0 (output 0, no gradient)
  const live = noGrad(() => gt(amax(s, -1, true), -Infinity)); // [B, H, Tq, 1] 0/1
  const p = mul(softmax(where(live, s, 0), -1), live);
  return matmul(p, repeatKv(v, d.H)); // [B, H, Tq, Dv]
}
