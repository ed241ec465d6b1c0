/**
 * matmul with torch.matmul semantics: 1-D operands, broadcast batch dims, and any transposes passed to the GEMM
 * kernel as flags (a transposed view is never copied). A 2-D right operand under a batched left one (the Linear
 * case) becomes one large GEMM with the batch folded into M, and its gradient one GEMM too.
 */
import { backend } from '../../backend/index.js';
import { KilnError } from '../../errors.js';
import { record } from '../autograd.js';
import { Tensor, numel } from '../tensor.js';
import { assertFloat, broadcastShapes, sumTo } from './util.js';
import { reshape, squeeze, transpose, unsqueeze } from './shape.js';

interface MatLayout {
  t: Tensor;
  trans: boolean;
  ld: number;
}

/** How the kernel reads the last two dims of `t` (a copy when they are neither row- nor column-major). */
function layout(t: Tensor): MatLayout {
  const n = t.ndim;
  const [rows, cols] = [t.shape[n - 2], t.shape[n - 1]];
  const [rs, cs] = [t.strides[n - 2], t.strides[n - 1]];
  if ((cs === 1 || cols === 1) && rs >= Math.max(cols, 1)) return { t, trans: false, ld: rows === 1 ? Math.max(cols, 1) : rs };
  if ((rs === 1 || rows === 1) && cs >= Math.max(rows, 1)) return { t, trans: true, ld: cols === 1 ? Math.max(rows, 1) : cs };
  const c = t.contiguous();
  return { t: c, trans: false, ld: Math.max(cols, 1) };
}

/** Batch stride of `t` broadcast to `batch` when its batch dims collapse to one stride, else null. */
function batchStride(t: Tensor, batch: readonly number[]): number | null {
  const k = t.ndim - 2;
  const lead = batch.length - k;
  let stride: number | null = null;
  let expect = 0;
  for (let i = batch.length - 1; i >= 0; i--) {
    if (batch[i] === 1) continue;
    const j = i - lead;
    const s = j < 0 || t.shape[j] === 1 ? 0 : t.strides[j];
    if (stride === null) {
      stride = s;
      expect = s * batch[i];
    } else {
      if (s !== expect && !(s === 0 && stride === 0)) return null;
      expect = s * batch[i];
    }
  }
  return stride ?? 0;
}

/** out[..., M, N] = a[..., M, K] @ b[..., K, N], all batch dims already broadcast-compatible. */
function gemmInto(a: Tensor, b: Tensor, out: Tensor, batch: readonly number[]): void {
  const M = a.shape[a.ndim - 2];
  const K = a.shape[a.ndim - 1];
  const N = b.shape[b.ndim - 1];
  const be = backend();
  const la = layout(a);
  const lb = layout(b);
  const nb = numel(batch);
  const sa = batchStride(la.t, batch);
  const sb = batchStride(lb.t, batch);
  const A = la.t.storage.data as Float32Array;
  const B = lb.t.storage.data as Float32Array;
  const C = out.storage.data as Float32Array;
  if (sa !== null && sb !== null) {
    // fold the batch into M when B is shared and A's rows run on across batches (Linear on [B, T, C])
    if (sb === 0 && !la.trans && nb > 1 && sa === M * la.ld)
      be.gemm(1, false, lb.trans, nb * M, N, K, 1, A, la.t.offset, la.ld, 0, B, lb.t.offset, lb.ld, 0, 0, C, out.offset, N, 0);
    else be.gemm(nb, la.trans, lb.trans, M, N, K, 1, A, la.t.offset, la.ld, sa, B, lb.t.offset, lb.ld, sb, 0, C, out.offset, N, M * N);
  } else {
    // general broadcast: one GEMM per batch index
    for (let i = 0; i < nb; i++) {
      const offsetOf = (t: Tensor) => {
        let off = t.offset;
        let rem = i;
        const lead = batch.length - (t.ndim - 2);
        for (let d = batch.length - 1; d >= 0; d--) {
          const idx = rem % batch[d];
          rem = Math.floor(rem / batch[d]);
          const j = d - lead;
          if (j >= 0 && t.shape[j] !== 1) off += idx * t.strides[j];
        }
        return off;
      };
      be.gemm(1, la.trans, lb.trans, M, N, K, 1, A, offsetOf(la.t), la.ld, 0, B, offsetOf(lb.t), lb.ld, 0, 0, C, out.offset + i * M * N, N, 0);
    }
  }
  if (la.t !== a) la.t.dispose();
  if (lb.t !== b) lb.t.dispose();
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  assertFloat(a, 'matmul');
  assertFloat(b, 'matmul');
  if (a.ndim === 0 || b.ndim === 0) throw new KilnError('E_SHAPE', 'matmul: both operands need at least 1 dim');
  if (a.ndim === 1 || b.ndim === 1) {
    // torch.matmul: a 1-D operand gets a unit dim that the result drops again
    const out = matmul(a.ndim === 1 ? unsqueeze(a, 0) : a, b.ndim === 1 ? unsqueeze(b, -1) : b);
    const dropB = b.ndim === 1 ? squeeze(out, -1) : out;
    return a.ndim === 1 ? squeeze(dropB, b.ndim === 1 ? -1 : -2) : dropB;
  }
  const [M, K] = a.shape.slice(-2);
  const [K2, N] = b.shape.slice(-2);
  if (K !== K2) throw new KilnError('E_SHAPE', `matmul: [${a.shape}] @ [${b.shape}]: inner dims ${K} and ${K2} differ`);
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = Tensor.empty([...batch, M, N]);
  if (K === 0) out.storage.data.fill(0 as never);
  else if (out.size > 0) gemmInto(a, b, out, batch);
  return record(out, 'matmul', [a, b], (g) => [
    a.requiresGrad ? sumTo(matmul(g, transpose(b, -1, -2)), a.shape) : null,
    b.requiresGrad ? weightGrad(a, b, g) : null,
  ]);
}

/** ∂L/∂b = aᵀ·g, summed over broadcast batch dims; a shared 2-D b takes one GEMM over the flattened batch. */
function weightGrad(a: Tensor, b: Tensor, g: Tensor): Tensor {
  if (b.ndim === 2 && a.ndim > 2) {
    const af = reshape(a, [-1, a.shape[a.ndim - 1]]);
    const gf = reshape(g, [-1, g.shape[g.ndim - 1]]);
    return matmul(transpose(af, 0, 1), gf);
  }
  return sumTo(matmul(transpose(a, -1, -2), g), b.shape);
}
