/**
 * Resampling over 1..3 spatial dims of [N, C, ...spatial] tensors, built from views and existing ops so gradients
 * come from the composed ops: average pooling (torch avg_pool{1,2,3}d, ceil_mode=False), nearest interpolation
 * (torch 'nearest' index rule), block-average downsampling and nearest upsampling by integer factors (the VAE
 * resamplers), and padding with modes constant / replicate / reflect / circular (torch F.pad order: pairs from the
 * last dim).
 *
 * How each is built:
 * - non-overlapping pools (stride = kernel, no padding) and downsampleAvg: reshape [.., o, k, ..] + mean (a view and
 *   one reduction);
 * - other pools: a conv of [N·C, 1, ...] with a constant kernel [1, 1, ...k] (im2col + GEMM), divided by the window
 *   size, or by the per-position count of real inputs when countIncludePad is false;
 * - nearest: each dim's source indices by torch's rule; a repeat pattern becomes reshape + expand (a view, its
 *   gradient a sum), a stride pattern a strided slice, anything else indexSelect;
 * - replicate / reflect / circular padding: indexSelect with a clamped / mirrored / wrapped index per padded dim.
 */
import { KilnError } from '../../errors.js';
import { fromArray, full } from '../creation.js';
import { Tensor } from '../tensor.js';
import { conv1d, conv2d, conv3d, type IntOrTuple } from './conv.js';
import { div } from './elementwise.js';
import { indexSelect } from './indexing.js';
import { mean } from './reduce.js';
import { cat, clone, expand, pad, reshape, slice } from './shape.js';
import { assertFloat } from './util.js';

function spatialRank(x: Tensor, op: string): number {
  assertFloat(x, op);
  const rank = x.ndim - 2;
  if (rank < 1 || rank > 3) throw new KilnError('E_SHAPE', `${op}: input must be [N, C, ...spatial] with 1 to 3 spatial dims, got [${x.shape}]`);
  return rank;
}

function tuple(v: IntOrTuple | undefined, rank: number, dflt: readonly number[], name: string, op: string, min: number): number[] {
  const a = v === undefined ? [...dflt] : typeof v === 'number' ? new Array<number>(rank).fill(v) : [...v];
  if (a.length !== rank || a.some((d) => !Number.isInteger(d) || d < min))
    throw new KilnError('E_ARG', `${op}: ${name} must be an integer ≥ ${min} or a list of ${rank} of them, got ${JSON.stringify(v)}`);
  return a;
}

/** Mean over non-overlapping blocks: x [N, C, ...o·f] → [N, C, ...o] (a view and one reduction). */
function blockMean(x: Tensor, factors: readonly number[]): Tensor {
  const rank = factors.length;
  if (factors.every((f) => f === 1)) return clone(x);
  const shape = [x.shape[0], x.shape[1]];
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    shape.push(x.shape[i + 2] / factors[i], factors[i]);
    dims.push(3 + 2 * i);
  }
  return mean(reshape(x, shape), dims);
}

export interface AvgPoolOptions {
  /** Default: the kernel size. */
  stride?: IntOrTuple;
  /** Implicit zero padding on both sides, at most half the kernel (default 0). */
  padding?: IntOrTuple;
  /** Whether zero padding counts in the divisor (default true, as torch). */
  countIncludePad?: boolean;
}

function avgPoolNd(op: string, rank: number, x: Tensor, kernelSize: IntOrTuple, opts: AvgPoolOptions): Tensor {
  if (spatialRank(x, op) !== rank) throw new KilnError('E_SHAPE', `${op}: input must have ${rank + 2} dims [N, C, ...], got [${x.shape}]`);
  const kernel = tuple(kernelSize, rank, [], 'kernel size', op, 1);
  const stride = tuple(opts.stride, rank, kernel, 'stride', op, 1);
  const padding = tuple(opts.padding, rank, new Array<number>(rank).fill(0), 'padding', op, 0);
  padding.forEach((p, i) => {
    if (2 * p > kernel[i]) throw new KilnError('E_ARG', `${op}: padding ${p} in dim ${i} must be at most half the kernel size ${kernel[i]}`);
  });
  const inSize = x.shape.slice(2);
  const outSize = inSize.map((n, i) => Math.floor((n + 2 * padding[i] - kernel[i]) / stride[i]) + 1);
  if (outSize.some((o) => o < 1)) throw new KilnError('E_SHAPE', `${op}: input [${x.shape}] is smaller than the kernel [${kernel}] with padding [${padding}]`);
  const [N, C] = x.shape;
  if (padding.every((p) => p === 0) && stride.every((s, i) => s === kernel[i])) {
    let xs = x;
    for (let i = 0; i < rank; i++) if (outSize[i] * kernel[i] !== inSize[i]) xs = slice(xs, i + 2, 0, outSize[i] * kernel[i]);
    return blockMean(xs, kernel);
  }
  const K = kernel.reduce((a, b) => a * b, 1);
  const countIncludePad = opts.countIncludePad ?? true;
  const exclude = !countIncludePad && padding.some((p) => p > 0);
  const w = full([1, 1, ...kernel], exclude ? 1 : 1 / K);
  const conv = [conv1d, conv2d, conv3d][rank - 1];
  const pooled = conv(reshape(x, [N * C, 1, ...inSize]), w, null, { stride, padding });
  let y = reshape(pooled, [N, C, ...outSize]);
  if (exclude) {
    // count of real (unpadded) inputs under each window: a product of per-dim counts
    const counts = new Float32Array(outSize.reduce((a, b) => a * b, 1)).fill(1);
    let rep = counts.length;
    for (let i = 0; i < rank; i++) {
      rep /= outSize[i];
      for (let j = 0; j < counts.length; j++) {
        const o = Math.floor(j / rep) % outSize[i];
        const start = o * stride[i] - padding[i];
        counts[j] *= Math.min(start + kernel[i], inSize[i]) - Math.max(start, 0);
      }
    }
    y = div(y, fromArray(counts, [1, 1, ...outSize]));
  }
  return y;
}

/** Average pooling over the last dim of x [N, C, W] (torch avg_pool1d, ceil_mode=False). */
export function avgPool1d(x: Tensor, kernelSize: IntOrTuple, opts: AvgPoolOptions = {}): Tensor {
  return avgPoolNd('avgPool1d', 1, x, kernelSize, opts);
}

/** Average pooling of x [N, C, H, W] (torch avg_pool2d, ceil_mode=False). */
export function avgPool2d(x: Tensor, kernelSize: IntOrTuple, opts: AvgPoolOptions = {}): Tensor {
  return avgPoolNd('avgPool2d', 2, x, kernelSize, opts);
}

/** Average pooling of x [N, C, T, H, W] (torch avg_pool3d, ceil_mode=False). */
export function avgPool3d(x: Tensor, kernelSize: IntOrTuple, opts: AvgPoolOptions = {}): Tensor {
  return avgPoolNd('avgPool3d', 3, x, kernelSize, opts);
}

export interface DownsampleAvgOptions {
  /**
   * Causal video VAEs: when the first spatial dim (time) has odd length, frame 0 is kept out of the temporal
   * averaging (only pooled spatially) and the remaining frames are averaged in groups, so T = 1 + f·k → 1 + k.
   */
  keepFirstFrame?: boolean;
}

/**
 * Block-average downsampling by integer factors per spatial dim: x [N, C, ...n] → [N, C, ...n/f]. Each size must be
 * divisible by its factor (a factor of 1 leaves the dim alone; e.g. [1, 2, 2] halves H and W of [N, C, T, H, W]).
 */
export function downsampleAvg(x: Tensor, factors: IntOrTuple, opts: DownsampleAvgOptions = {}): Tensor {
  const op = 'downsampleAvg';
  const rank = spatialRank(x, op);
  const f = tuple(factors, rank, [], 'factors', op, 1);
  const inSize = x.shape.slice(2);
  if (opts.keepFirstFrame && f[0] > 1 && inSize[0] % f[0] === 1) {
    const first = blockMean(checkDivisible(slice(x, 2, 0, 1), [1, ...f.slice(1)], op), [1, ...f.slice(1)]);
    if (inSize[0] === 1) return first;
    const rest = blockMean(checkDivisible(slice(x, 2, 1), f, op), f);
    return cat([first, rest], 2);
  }
  return blockMean(checkDivisible(x, f, op), f);
}

function checkDivisible(x: Tensor, f: readonly number[], op: string): Tensor {
  const inSize = x.shape.slice(2);
  if (inSize.some((n, i) => n % f[i] !== 0))
    throw new KilnError('E_SHAPE', `${op}: spatial size [${inSize}] is not divisible by the factors [${f}]; pad or crop first (or pass keepFirstFrame for a causal 1 + f·k time axis)`);
  return x;
}

export interface InterpolateOptions {
  /** Output spatial size (one number for every dim, or one per dim). */
  size?: IntOrTuple;
  /** Positive integer scale factor(s); out = in · factor. */
  scaleFactor?: IntOrTuple;
}

/** torch's nearest source index: dst·scale in f32, floored, clamped to in − 1 (exact for out = in and out = 2·in). */
function nearestIndices(inSize: number, outSize: number, scale: number): Int32Array {
  const idx = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    if (outSize === inSize) idx[o] = o;
    else if (outSize === 2 * inSize) idx[o] = o >> 1;
    else idx[o] = Math.min(Math.floor(Math.fround(Math.fround(o) * scale)), inSize - 1);
  }
  return idx;
}

/** Nearest-neighbour resampling to an output size or by integer factors (torch F.interpolate mode='nearest'). */
export function interpolateNearest(x: Tensor, opts: InterpolateOptions): Tensor {
  const op = 'interpolateNearest';
  const rank = spatialRank(x, op);
  if ((opts.size === undefined) === (opts.scaleFactor === undefined))
    throw new KilnError('E_ARG', `${op}: give exactly one of size or scaleFactor`);
  const inSize = x.shape.slice(2);
  let outSize: number[];
  let scales: number[];
  if (opts.size !== undefined) {
    outSize = tuple(opts.size, rank, [], 'size', op, 1);
    scales = inSize.map((n, i) => Math.fround(n / outSize[i]));
  } else {
    const f = tuple(opts.scaleFactor, rank, [], 'scaleFactor (integer; pass size for other ratios)', op, 1);
    outSize = inSize.map((n, i) => n * f[i]);
    scales = f.map((s) => Math.fround(1 / s));
  }
  let y = x;
  const repeat = new Array<number>(rank).fill(1);
  for (let i = 0; i < rank; i++) {
    const [n, m] = [inSize[i], outSize[i]];
    const idx = nearestIndices(n, m, scales[i]);
    if (m === n && idx.every((v, o) => v === o)) continue;
    const r = m % n === 0 ? m / n : 0;
    const s = idx[1] ?? 1;
    if (r > 0 && idx.every((v, o) => v === Math.floor(o / r))) repeat[i] = r;
    else if (m > 1 && s > 0 && idx.every((v, o) => v === o * s)) y = slice(y, i + 2, 0, (m - 1) * s + 1, s);
    else y = indexSelect(y, i + 2, fromArray(idx, [m]));
  }
  return repeat.some((r) => r > 1) ? repeatEach(y, repeat) : y === x ? clone(x) : y;
}

/** Each element repeated r_i times along spatial dim i: [N, C, a, b] → [N, C, a·r0, b·r1] (reshape + expand). */
function repeatEach(x: Tensor, r: readonly number[]): Tensor {
  const sizes = x.shape.slice(2);
  const withOnes = [x.shape[0], x.shape[1], ...sizes.flatMap((n) => [n, 1])];
  const expanded = [x.shape[0], x.shape[1], ...sizes.flatMap((n, i) => [n, r[i]])];
  return reshape(expand(reshape(x, withOnes), expanded), [x.shape[0], x.shape[1], ...sizes.map((n, i) => n * r[i])]);
}

/** Nearest upsampling by integer factors per spatial dim (e.g. [1, 2, 2] doubles H and W of a video). */
export function upsampleNearest(x: Tensor, factors: IntOrTuple): Tensor {
  return interpolateNearest(x, { scaleFactor: factors });
}

export type PadMode = 'constant' | 'replicate' | 'reflect' | 'circular';

/**
 * Padding with a mode, torch F.pad's order: `pads` lists (before, after) pairs starting from the LAST dim.
 * 'constant' fills `value` (and may crop with negative pads); 'replicate' repeats the edge element (e.g. causal 3-D
 * VAEs replicate the first frame: padMode(x, [0, 0, 0, 0, 2, 0], 'replicate')); 'reflect' mirrors without repeating
 * the edge (pad < size); 'circular' wraps around (pad ≤ size). Gradients flow through indexSelect.
 */
export function padMode(x: Tensor, pads: readonly number[], mode: PadMode = 'constant', value = 0): Tensor {
  if (mode === 'constant') return pad(x, pads, value);
  const op = `padMode('${mode}')`;
  assertFloat(x, op);
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim)
    throw new KilnError('E_ARG', `${op}: expected (before, after) pairs for at most ${x.ndim} dims, got [${pads}]`);
  let y = x;
  for (let i = 0; i < pads.length / 2; i++) {
    const d = x.ndim - 1 - i;
    const [lo, hi] = [pads[2 * i], pads[2 * i + 1]];
    if (lo === 0 && hi === 0) continue;
    const n = x.shape[d];
    const limit = mode === 'reflect' ? n - 1 : mode === 'circular' ? n : Infinity;
    if (lo < 0 || hi < 0 || !Number.isInteger(lo) || !Number.isInteger(hi) || lo > limit || hi > limit || n === 0)
      throw new KilnError('E_ARG', `${op}: pads (${lo}, ${hi}) for dim ${d} of size ${n} must be non-negative integers${limit !== Infinity ? ` ≤ ${limit}` : ''} (use mode 'constant' to crop)`);
    const idx = new Int32Array(n + lo + hi);
    for (let j = 0; j < idx.length; j++) {
      const s = j - lo;
      idx[j] = mode === 'replicate' ? Math.min(Math.max(s, 0), n - 1) : mode === 'reflect' ? (s < 0 ? -s : s >= n ? 2 * (n - 1) - s : s) : ((s % n) + n) % n;
    }
    y = indexSelect(y, d, fromArray(idx, [idx.length]));
  }
  return y === x ? clone(x) : y;
}
