/**
 * Fused neural-network ops, each one kernel forward and one backward: softmax, logSoftmax, cross-entropy (ignore
 * index, label smoothing), RMSNorm, LayerNorm, and seeded dropout.
 */
import { backend } from '../../backend/index.js';
import { KilnError } from '../../errors.js';
import { record } from '../autograd.js';
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor } from '../tensor.js';
import { indexData } from './cast.js';
import { mul } from './elementwise.js';
import { contig, dataOf, normDim, assertFloat } from './util.js';
import { transpose } from './shape.js';

function lastDimOp(x: Tensor, dim: number, f: (x: Tensor) => Tensor): Tensor {
  const d = normDim(dim, x.ndim);
  if (d === x.ndim - 1 || x.ndim === 0) return f(x);
  return transpose(f(transpose(x, d, -1)), d, -1);
}

function softmaxLast(x: Tensor, log: boolean): Tensor {
  assertFloat(x, log ? 'logSoftmax' : 'softmax');
  const c = contig(x);
  const cols = x.ndim === 0 ? 1 : x.shape[x.ndim - 1];
  const rows = cols === 0 ? 0 : x.size / cols;
  const y = Tensor.empty(x.shape);
  backend().softmax(dataOf(c), rows, cols, dataOf(y), log);
  if (c !== x) c.dispose();
  return record(y, log ? 'logSoftmax' : 'softmax', [x], (g) => {
    const gc = contig(g);
    const dx = Tensor.empty(x.shape);
    backend().softmaxBackward(dataOf(y), dataOf(gc), rows, cols, dataOf(dx), log);
    return [dx];
  });
}

export function softmax(x: Tensor, dim = -1): Tensor {
  return lastDimOp(x, dim, (t) => softmaxLast(t, false));
}

export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return lastDimOp(x, dim, (t) => softmaxLast(t, true));
}

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (default −100, as in PyTorch). */
  ignoreIndex?: number;
  /** ε of label smoothing (default 0). */
  labelSmoothing?: number;
  /** 'mean' over non-ignored targets (default), 'sum', or 'none' (per-row losses). */
  reduction?: 'mean' | 'sum' | 'none';
}

/** Cross-entropy of logits [..., C] against integer targets [...]. */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  assertFloat(logits, 'crossEntropy');
  const ignore = opts.ignoreIndex ?? -100;
  const eps = opts.labelSmoothing ?? 0;
  const reduction = opts.reduction ?? 'mean';
  const C = logits.shape[logits.ndim - 1];
  const rows = logits.size / C;
  if (targets.size !== rows)
    throw new KilnError('E_SHAPE', `crossEntropy: logits [${logits.shape}] need ${rows} targets, got [${targets.shape}]`);
  const t = indexData(targets, 'crossEntropy');
  for (let i = 0; i < rows; i++)
    if (t[i] !== ignore && (t[i] < 0 || t[i] >= C))
      throw new KilnError('E_ARG', `crossEntropy: target ${t[i]} at row ${i} is outside [0, ${C})`);
  const lc = contig(logits);
  const loss = Tensor.empty(targets.shape);
  const needGrad = logits.requiresGrad;
  const dl = needGrad ? Tensor.empty(logits.shape) : null;
  backend().crossEntropy(dataOf(lc), rows, C, t, ignore, eps, dataOf(loss), dl ? dataOf(dl) : null);
  if (lc !== logits) lc.dispose();
  let count = 0;
  for (let i = 0; i < rows; i++) if (t[i] !== ignore) count++;
  const lossData = dataOf(loss);
  if (reduction === 'none') {
    return record(loss, 'crossEntropy', [logits], (g) => [mul(dl!, contig(g).reshape([...targets.shape, 1]))]);
  }
  let total = 0;
  for (let i = 0; i < rows; i++) total += lossData[i];
  loss.dispose();
  const scale = reduction === 'mean' ? 1 / Math.max(count, 1) : 1;
  const out = Tensor.empty([]);
  dataOf(out)[0] = reduction === 'mean' && count === 0 ? NaN : total * scale;
  return record(out, 'crossEntropy', [logits], (g) => [mul(dl!, g.item() * scale)]);
}

/** RMSNorm over the last dim: x · rsqrt(mean(x²) + eps) · weight. */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6): Tensor {
  assertFloat(x, 'rmsNorm');
  const cols = x.shape[x.ndim - 1];
  if (weight && (weight.ndim !== 1 || weight.shape[0] !== cols))
    throw new KilnError('E_SHAPE', `rmsNorm: weight [${weight.shape}] must be [${cols}]`);
  const rows = x.size / cols;
  const xc = contig(x);
  const wc = weight ? contig(weight) : null;
  const y = Tensor.empty(x.shape);
  const rstd = Tensor.empty([rows]);
  backend().rmsNorm(dataOf(xc), wc ? dataOf(wc) : null, rows, cols, eps, dataOf(y), dataOf(rstd));
  const inputs = weight ? [x, weight] : [x];
  return record(y, 'rmsNorm', inputs, (g) => {
    const gc = contig(g);
    const dx = Tensor.empty(x.shape);
    const dw = weight?.requiresGrad ? Tensor.zeros([cols]) : null;
    backend().rmsNormBackward(dataOf(xc), wc ? dataOf(wc) : null, dataOf(rstd), dataOf(gc), rows, cols, dataOf(dx), dw ? dataOf(dw) : null);
    return [dx, dw];
  });
}

/** LayerNorm over the last dim with optional affine weight and bias. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  assertFloat(x, 'layerNorm');
  const cols = x.shape[x.ndim - 1];
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const)
    if (p && (p.ndim !== 1 || p.shape[0] !== cols)) throw new KilnError('E_SHAPE', `layerNorm: ${name} [${p.shape}] must be [${cols}]`);
  const rows = x.size / cols;
  const xc = contig(x);
  const wc = weight ? contig(weight) : null;
  const y = Tensor.empty(x.shape);
  const mean = Tensor.empty([rows]);
  const rstd = Tensor.empty([rows]);
  backend().layerNorm(dataOf(xc), wc ? dataOf(wc) : null, bias ? dataOf(contig(bias)) : null, rows, cols, eps, dataOf(y), dataOf(mean), dataOf(rstd));
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(y, 'layerNorm', inputs, (g) => {
    const gc = contig(g);
    const dx = Tensor.empty(x.shape);
    const dw = weight?.requiresGrad ? Tensor.zeros([cols]) : null;
    const db = bias?.requiresGrad ? Tensor.zeros([cols]) : null;
    backend().layerNormBackward(dataOf(xc), wc ? dataOf(wc) : null, dataOf(mean), dataOf(rstd), dataOf(gc), rows, cols, dataOf(dx), dw ? dataOf(dw) : null, db ? dataOf(db) : null);
    return weight ? (bias ? [dx, dw, db] : [dx, dw]) : bias ? [dx, db] : [dx];
  });
}

/** Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1−p). Identity when !training. */
export function dropout(x: Tensor, p: number, training = true, generator: Generator = defaultGenerator()): Tensor {
  if (p < 0 || p >= 1) {
    if (p === 1 && training) return mul(x, 0);
    if (p < 0 || p > 1) throw new KilnError('E_ARG', `dropout: p must be in [0, 1), got ${p}`);
  }
  if (!training || p === 0) return x;
  const mask = Tensor.empty(x.shape);
  const m = dataOf(mask);
  const scale = 1 / (1 - p);
  for (let i = 0; i < m.length; i++) m[i] = generator.uniform() >= p ? scale : 0;
  return mul(x, mask);
}
