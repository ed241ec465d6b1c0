/**
 * DeepSeek-V3 training ops: each one recorded op (forward and vjp together) over backend kernels, replacing chains of
 * generic ops whose intermediate tensors, zero fills and extra passes dominated the non-GEMM time of a step.
 *
 * - `headCrossEntropy(h [N, d], W [V, d], targets)`: mean over non-ignored rows of CE(h·Wᵀ, targets) — the LM head
 *   and its loss in one op. Forward: one GEMM into a logits buffer, then `crossEntropyInPlace` turns that buffer into
 *   ∂loss_r/∂logits (softmax − onehot) and gives the row losses. Backward: dh = s·dL·W and dW = s·dLᵀ·h (s = upstream
 *   gradient / count folded into the GEMMs' alpha) — no scaled copy of the [N, V] gradient, no transposed weight
 *   gradient. Equals `crossEntropy(h.matmul(W.mT), targets)` (mean, no smoothing).
 * - `gatherRows(x [N, d], pos, K)`: xs [N·K, d] with xs[pos[n, k]] = x[n] (the MoE dispatch); backward: dx[n] =
 *   Σ_k dxs[pos[n, k]] (`moeCombine` without gates: no zero fill, no scatter).
 * - `combineRows(ys [N·K, d], gates [N, K], pos)`: y[n] = Σ_k gates[n, k]·ys[pos[n, k]] (the MoE combine);
 *   backward `moeCombineBackward`: dys[pos[n, k]] = gates[n, k]·dy[n], dgates[n, k] = dy[n]·ys[pos[n, k]].
 * pos [N·K] must be a permutation of 0 … N·K − 1 (row of each (token, k) assignment in the expert-grouped order).
 */
import { backend } from '../../backend/index.js';
import { KilnError } from '../../errors.js';
import { record } from '../../tensor/autograd.js';
import { contig, dataOf } from '../../tensor/ops/util.js';
import { Tensor } from '../../tensor/tensor.js';

/** Mean cross-entropy of the logits h·Wᵀ against targets (rows whose target is ignoreIndex are left out). */
export function headCrossEntropy(h: Tensor, weight: Tensor, targets: Int32Array, ignoreIndex = -100): Tensor {
  if (h.ndim !== 2 || weight.ndim !== 2 || h.shape[1] !== weight.shape[1] || targets.length !== h.shape[0])
    throw new KilnError('E_SHAPE', `headCrossEntropy: h [${h.shape}] must be [N, d] with W [V, d] (got [${weight.shape}]) and N targets (got ${targets.length})`);
  const [N, d] = h.shape;
  const V = weight.shape[0];
  const be = backend();
  const hc = contig(h);
  const wc = contig(weight);
  const H = dataOf(hc);
  const W = dataOf(wc);
  const logits = Tensor.empty([N, V]); // becomes ∂loss_r/∂logits in place; kept for the backward
  const L = dataOf(logits);
  be.gemm(1, false, true, N, V, d, 1, H, 0, d, 0, W, 0, d, 0, 0, L, 0, V, 0);
  const rowLoss = new Float32Array(N);
  be.crossEntropyInPlace(L, N, V, targets, ignoreIndex, rowLoss);
  let count = 0;
  let total = 0;
  for (let r = 0; r < N; r++)
    if (targets[r] !== ignoreIndex) {
      count++;
      total += rowLoss[r];
    }
  const out = Tensor.empty([]);
  dataOf(out)[0] = count === 0 ? NaN : total / count;
  return record(out, 'headCrossEntropy', [h, weight], (g) => {
    const s = g.item() / Math.max(count, 1);
    let dh: Tensor | null = null;
    let dw: Tensor | null = null;
    if (h.requiresGrad) {
      dh = Tensor.empty([N, d]);
      be.gemm(1, false, false, N, d, V, s, L, 0, V, 0, W, 0, d, 0, 0, dataOf(dh), 0, d, 0);
    }
    if (weight.requiresGrad) {
      dw = Tensor.empty([V, d]);
      be.gemm(1, true, false, V, d, N, s, L, 0, V, 0, H, 0, d, 0, 0, dataOf(dw), 0, d, 0);
    }
    return [dh, dw];
  });
}

function checkPos(pos: Int32Array, N: number, K: number, who: string): void {
  if (pos.length !== N * K) throw new KilnError('E_SHAPE', `${who}: pos has ${pos.length} entries, expected N·K = ${N}·${K}`);
}

/** xs [N·K, d]: row pos[n·K + k] is x[n] (x [N, d]). */
export function gatherRows(x: Tensor, pos: Int32Array, K: number): Tensor {
  if (x.ndim !== 2) throw new KilnError('E_SHAPE', `gatherRows: x must be [N, d], got [${x.shape}]`);
  const [N, d] = x.shape;
  checkPos(pos, N, K, 'gatherRows');
  const R = N * K;
  const tok = new Int32Array(R);
  for (let i = 0; i < R; i++) tok[pos[i]] = (i / K) | 0;
  const xc = contig(x);
  const out = Tensor.empty([R, d]);
  backend().indexSelect(dataOf(xc), 1, N, d, tok, dataOf(out));
  return record(out, 'moeGatherRows', [x], (g) => {
    const gc = contig(g);
    const dx = Tensor.empty([N, d]);
    backend().moeCombine(dataOf(gc), R, d, pos, null, N, K, dataOf(dx));
    return [dx];
  });
}

/** y [N, d] = Σ_k gates[n, k]·ys[pos[n·K + k]] (ys [N·K, d], gates [N, K]). */
export function combineRows(ys: Tensor, gates: Tensor, pos: Int32Array): Tensor {
  if (ys.ndim !== 2 || gates.ndim !== 2 || ys.shape[0] !== gates.shape[0] * gates.shape[1])
    throw new KilnError('E_SHAPE', `combineRows: ys [${ys.shape}] must be [N·K, d] for gates [${gates.shape}] = [N, K]`);
  const [N, K] = gates.shape;
  const [R, d] = ys.shape;
  checkPos(pos, N, K, 'combineRows');
  const yc = contig(ys);
  const gc = contig(gates);
  const out = Tensor.empty([N, d]);
  backend().moeCombine(dataOf(yc), R, d, pos, dataOf(gc), N, K, dataOf(out));
  return record(out, 'moeCombineRows', [ys, gates], (g) => {
    const dyc = contig(g);
    const dys = Tensor.empty([R, d]);
    const dg = gates.requiresGrad ? Tensor.empty([N, K]) : null;
    backend().moeCombineBackward(dataOf(dyc), dataOf(yc), R, d, pos, dataOf(gc), N, K, dataOf(dys), dg ? dataOf(dg) : null);
    return [ys.requiresGrad ? dys : null, dg];
  });
}
