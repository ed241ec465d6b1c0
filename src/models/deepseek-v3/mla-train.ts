/**
 * Expanded Multi-head Latent Attention for training as ONE recorded op (`mlaForwardFused`): the same function as
 * `MultiHeadLatentAttention.forward` (mla.ts), computed on raw arrays with backend kernels — the projections as
 * GEMMs, the two RMSNorms, RoPE, the fused causal attention — and a hand-written backward. The module path builds
 * ~25 tensor ops whose glue dominated its non-GEMM time: head transposes and `contiguous()` copies, `cat` of the
 * query/key parts, and every `slice`'s backward (a zero-filled tensor of the whole input, later summed with its
 * siblings). Here each layout change is one strided copy and nothing is zero-filled.
 *
 * Layouts (N = B·T rows, qk = n + p, nv = n + v): q [N, H·qk] and kv [N, H·nv] as the projections write them;
 * the attention runs on Q, K [B, H, T, p + n] with the RoPE part FIRST (q·k is a sum over columns, so any column
 * order shared by Q and K gives the same scores) — then one `rotary` call rotates exactly the first p columns of
 * every row; K's RoPE part is the shared kᴿ broadcast over heads; V [B, H, T, v]; O [B, H, T, v] → [N, H·v].
 * Backward: dO → `attentionBackward` → dQ, dK, dV; RoPE⁻¹ on dQ and dK; dkᴿ = Σ_heads of dK's RoPE part (one
 * reduce); then the GEMMs of each projection (weight gradients written directly in the [out, in] layout) and the two
 * RMSNorm backwards. Used when every projection is a plain f32 Linear (no bias, no simulated precision); switch:
 * `fusedMla.enabled` (KILN_MLA_FUSED=0 runs the module path).
 */
import { backend } from '../../backend/index.js';
import type { View } from '../../backend/backend.js';
import type { Linear, RMSNorm } from '../../nn/layers.js';
import { record } from '../../tensor/autograd.js';
import { contig, dataOf } from '../../tensor/ops/util.js';
import { Tensor } from '../../tensor/tensor.js';
import type { MultiHeadLatentAttention } from './mla.js';

/** Switch for `mlaForwardFused` (default on; KILN_MLA_FUSED=0 runs the module path of mla.ts). */
export const fusedMla = { enabled: process.env.KILN_MLA_FUSED !== '0' };

const plainLinear = (l: Linear | null): boolean =>
  l === null || (l.bias === null && !Object.prototype.hasOwnProperty.call(l, 'forward') && l.weight.dtype === 'f32' && l.weight.isContiguous);
const plainNorm = (n: RMSNorm | null): boolean =>
  n === null || (!Object.prototype.hasOwnProperty.call(n, 'forward') && n.weight.dtype === 'f32' && n.weight.isContiguous);

/** Whether `mlaForwardFused` applies to this attention module (plain f32 projections and norms). */
export function canFuseMla(a: MultiHeadLatentAttention): boolean {
  return [a.q_proj, a.q_a_proj, a.q_b_proj, a.kv_a_proj_with_mqa, a.kv_b_proj, a.o_proj].every(plainLinear) && plainNorm(a.q_a_layernorm) && plainNorm(a.kv_a_layernorm);
}

const view = (data: Float32Array, shape: number[], strides: number[], offset = 0): View => ({ data, shape, strides, offset });
/** A scratch buffer from the caching allocator (no zero fill), tracked in `into` when given. */
function buf(n: number, into?: Tensor[]): Float32Array {
  const t = Tensor.empty([n]);
  into?.push(t);
  return dataOf(t);
}

/** x [B, T, d] (after input_layernorm), cos/sin [T, p/2] → o_proj(attention) [B, T, d], causal. */
export function mlaForwardFused(a: MultiHeadLatentAttention, x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const be = backend();
  const [B, T, d] = x.shape;
  const N = B * T;
  const { H, n, p, v, r } = a;
  const qk = n + p;
  const nv = n + v;
  const D = p + n; // attention head dim, RoPE part first
  const il = a.layout === 'interleaved';
  const cosD = dataOf(contig(cos));
  const sinD = dataOf(contig(sin));
  const saved: Tensor[] = []; // forward buffers the backward reads (released at once when no graph is recorded)
  const temp: Tensor[] = []; // forward-only buffers
  const xc = contig(x);
  const X = dataOf(xc);
  const w = (l: Linear) => dataOf(l.weight);
  const lora = a.q_proj === null;
  const qr = lora ? a.q_a_proj!.outFeatures : 0;
  // ── queries: q [N, H·qk]
  let qa: Float32Array | null = null;
  let qan: Float32Array | null = null;
  let rstdQ: Float32Array | null = null;
  const q = buf(N * H * qk, temp);
  if (lora) {
    qa = buf(N * qr, saved);
    qan = buf(N * qr, saved);
    rstdQ = buf(N, saved);
    be.gemm(1, false, true, N, qr, d, 1, X, 0, d, 0, w(a.q_a_proj!), 0, d, 0, 0, qa, 0, qr, 0);
    be.rmsNorm(qa, dataOf(a.q_a_layernorm!.weight), N, qr, a.q_a_layernorm!.eps, qan, rstdQ);
    be.gemm(1, false, true, N, H * qk, qr, 1, qan, 0, qr, 0, w(a.q_b_proj!), 0, qr, 0, 0, q, 0, H * qk, 0);
  } else be.gemm(1, false, true, N, H * qk, d, 1, X, 0, d, 0, w(a.q_proj!), 0, d, 0, 0, q, 0, H * qk, 0);
  // ── latent: ckv [N, r + p]; c = kv_a_layernorm(ckv[:, :r]); kv = kv_b_proj(c) [N, H·nv]
  const ckv = buf(N * (r + p), temp);
  be.gemm(1, false, true, N, r + p, d, 1, X, 0, d, 0, w(a.kv_a_proj_with_mqa), 0, d, 0, 0, ckv, 0, r + p, 0);
  const c = buf(N * r, saved);
  be.copy(view(ckv, [N, r], [r + p, 1]), view(c, [N, r], [r, 1]));
  const cn = buf(N * r, saved);
  const rstdC = buf(N, saved);
  be.rmsNorm(c, dataOf(a.kv_a_layernorm.weight), N, r, a.kv_a_layernorm.eps, cn, rstdC);
  const kv = buf(N * H * nv, temp);
  be.gemm(1, false, true, N, H * nv, r, 1, cn, 0, r, 0, w(a.kv_b_proj), 0, r, 0, 0, kv, 0, H * nv, 0);
  // ── Q, K [B, H, T, p + n], V [B, H, T, v]
  const hStride = [T * H * qk, qk, H * qk, 1]; // q read as [B, H, T, ·]
  const bhtD = [H * T * D, T * D, D, 1];
  const Qpre = buf(N * H * D, temp);
  be.copy(view(q, [B, H, T, p], hStride, n), view(Qpre, [B, H, T, p], bhtD, 0));
  be.copy(view(q, [B, H, T, n], hStride, 0), view(Qpre, [B, H, T, n], bhtD, p));
  const Q = buf(N * H * D, saved);
  be.rotary(Qpre, N * H, D, p, cosD, sinD, T, il, false, Q);
  const kpe = buf(N * p, temp);
  be.copy(view(ckv, [N, p], [r + p, 1], r), view(kpe, [N, p], [p, 1]));
  const kpeR = buf(N * p, temp);
  be.rotary(kpe, N, p, p, cosD, sinD, T, il, false, kpeR);
  const K = buf(N * H * D, saved);
  const kvStride = [T * H * nv, nv, H * nv, 1]; // kv read as [B, H, T, ·]
  be.copy(view(kpeR, [B, H, T, p], [T * p, 0, p, 1]), view(K, [B, H, T, p], bhtD, 0));
  be.copy(view(kv, [B, H, T, n], kvStride, 0), view(K, [B, H, T, n], bhtD, p));
  const V = buf(N * H * v, saved);
  be.copy(view(kv, [B, H, T, v], kvStride, n), view(V, [B, H, T, v], [H * T * v, T * v, v, 1]));
  // ── attention and o_proj
  const O = buf(N * H * v, saved);
  const lse = buf(N * H, saved);
  be.attentionForward(Q, K, V, null, B, H, H, T, T, D, v, a.scale, true, 64, 64, O, lse);
  const o2 = buf(N * H * v, saved); // [B, T, H, v]
  be.copy(view(O, [B, T, H, v], [H * T * v, v, T * v, 1]), view(o2, [B, T, H, v], [T * H * v, H * v, v, 1]));
  const out = Tensor.empty([B, T, d]);
  be.gemm(1, false, true, N, d, H * v, 1, o2, 0, H * v, 0, w(a.o_proj), 0, H * v, 0, 0, dataOf(out), 0, d, 0);

  for (const t of temp) t.dispose();
  const qLinears = lora ? [a.q_a_proj!.weight, a.q_a_layernorm!.weight, a.q_b_proj!.weight] : [a.q_proj!.weight];
  const inputs = [x, ...qLinears, a.kv_a_proj_with_mqa.weight, a.kv_a_layernorm.weight, a.kv_b_proj.weight, a.o_proj.weight];
  record(out, 'mlaForwardFused', inputs, (g) => {
    const dout = dataOf(contig(g));
    const grad = (t: Tensor, shape: number[]): [Tensor | null, Float32Array | null] => {
      if (!t.requiresGrad) return [null, null];
      const gt = Tensor.empty(shape);
      return [gt, dataOf(gt)];
    };
    // o_proj
    const [dWoT, dWo] = grad(a.o_proj.weight, [d, H * v]);
    if (dWo) be.gemm(1, true, false, d, H * v, N, 1, dout, 0, d, 0, o2, 0, H * v, 0, 0, dWo, 0, H * v, 0);
    const do2 = buf(N * H * v);
    be.gemm(1, false, false, N, H * v, d, 1, dout, 0, d, 0, w(a.o_proj), 0, H * v, 0, 0, do2, 0, H * v, 0);
    const dO = buf(N * H * v);
    be.copy(view(do2, [B, H, T, v], [T * H * v, v, H * v, 1]), view(dO, [B, H, T, v], [H * T * v, T * v, v, 1]));
    // attention
    const dQ = buf(N * H * D);
    const dK = buf(N * H * D);
    const dV = buf(N * H * v);
    be.attentionBackward(Q, K, V, null, O, lse, dO, B, H, H, T, T, D, v, a.scale, true, 64, 64, dQ, dK, dV);
    const dQr = buf(N * H * D);
    be.rotary(dQ, N * H, D, p, cosD, sinD, T, il, true, dQr);
    const dKr = buf(N * H * D);
    be.rotary(dK, N * H, D, p, cosD, sinD, T, il, true, dKr);
    // dq [N, H·qk] (nope, then RoPE part), dkv [N, H·nv] (k nope, then v)
    const tStrideD = [H * T * D, D, T * D, 1]; // a [B, H, T, D] array read as [B, T, H, ·]
    const dq = buf(N * H * qk);
    const qOut = [T * H * qk, H * qk, qk, 1];
    be.copy(view(dQr, [B, T, H, n], tStrideD, p), view(dq, [B, T, H, n], qOut, 0));
    be.copy(view(dQr, [B, T, H, p], tStrideD, 0), view(dq, [B, T, H, p], qOut, n));
    const dkv = buf(N * H * nv);
    const kvOut = [T * H * nv, H * nv, nv, 1];
    be.copy(view(dKr, [B, T, H, n], tStrideD, p), view(dkv, [B, T, H, n], kvOut, 0));
    be.copy(view(dV, [B, T, H, v], [H * T * v, v, T * v, 1]), view(dkv, [B, T, H, v], kvOut, n));
    // dckv [N, r + p]: RoPE part = Σ_h dK's first p columns
    const dckv = buf(N * (r + p));
    const dkSum = buf(N * D);
    be.reduce('sum', dKr, B, H, T * D, dkSum);
    be.copy(view(dkSum, [N, p], [D, 1]), view(dckv, [N, p], [r + p, 1], r));
    // kv_b_proj and kv_a_layernorm
    const [dWkvbT, dWkvb] = grad(a.kv_b_proj.weight, [H * nv, r]);
    if (dWkvb) be.gemm(1, true, false, H * nv, r, N, 1, dkv, 0, H * nv, 0, cn, 0, r, 0, 0, dWkvb, 0, r, 0);
    const dcn = buf(N * r);
    be.gemm(1, false, false, N, r, H * nv, 1, dkv, 0, H * nv, 0, w(a.kv_b_proj), 0, r, 0, 0, dcn, 0, r, 0);
    const dc = buf(N * r);
    const [dNkvT, dNkv] = grad(a.kv_a_layernorm.weight, [r]);
    if (dNkv) dNkv.fill(0);
    be.rmsNormBackward(c, dataOf(a.kv_a_layernorm.weight), rstdC, dcn, N, r, dc, dNkv);
    be.copy(view(dc, [N, r], [r, 1]), view(dckv, [N, r], [r + p, 1], 0));
    // kv_a_proj_with_mqa
    const [dWkvaT, dWkva] = grad(a.kv_a_proj_with_mqa.weight, [r + p, d]);
    if (dWkva) be.gemm(1, true, false, r + p, d, N, 1, dckv, 0, r + p, 0, X, 0, d, 0, 0, dWkva, 0, d, 0);
    const [dxT, dx] = grad(x, [B, T, d]);
    if (dx) be.gemm(1, false, false, N, d, r + p, 1, dckv, 0, r + p, 0, w(a.kv_a_proj_with_mqa), 0, d, 0, 0, dx, 0, d, 0);
    // queries
    const qGrads: (Tensor | null)[] = [];
    if (lora) {
      const [dWqbT, dWqb] = grad(a.q_b_proj!.weight, [H * qk, qr]);
      if (dWqb) be.gemm(1, true, false, H * qk, qr, N, 1, dq, 0, H * qk, 0, qan!, 0, qr, 0, 0, dWqb, 0, qr, 0);
      const dqan = buf(N * qr);
      be.gemm(1, false, false, N, qr, H * qk, 1, dq, 0, H * qk, 0, w(a.q_b_proj!), 0, qr, 0, 0, dqan, 0, qr, 0);
      const dqa = buf(N * qr);
      const [dNqT, dNq] = grad(a.q_a_layernorm!.weight, [qr]);
      if (dNq) dNq.fill(0);
      be.rmsNormBackward(qa!, dataOf(a.q_a_layernorm!.weight), rstdQ!, dqan, N, qr, dqa, dNq);
      const [dWqaT, dWqa] = grad(a.q_a_proj!.weight, [qr, d]);
      if (dWqa) be.gemm(1, true, false, qr, d, N, 1, dqa, 0, qr, 0, X, 0, d, 0, 0, dWqa, 0, d, 0);
      if (dx) be.gemm(1, false, false, N, d, qr, 1, dqa, 0, qr, 0, w(a.q_a_proj!), 0, d, 0, 1, dx, 0, d, 0);
      qGrads.push(dWqaT, dNqT, dWqbT);
    } else {
      const [dWqT, dWq] = grad(a.q_proj!.weight, [H * qk, d]);
      if (dWq) be.gemm(1, true, false, H * qk, d, N, 1, dq, 0, H * qk, 0, X, 0, d, 0, 0, dWq, 0, d, 0);
      if (dx) be.gemm(1, false, false, N, d, H * qk, 1, dq, 0, H * qk, 0, w(a.q_proj!), 0, d, 0, 1, dx, 0, d, 0);
      qGrads.push(dWqT);
    }
    return [dxT, ...qGrads, dWkvaT, dNkvT, dWkvbT, dWoT];
  });
  if (!out.node) for (const t of saved) t.dispose();
  return out;
}
