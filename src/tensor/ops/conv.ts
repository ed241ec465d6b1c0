/**
 * Convolution and transposed convolution over 1, 2 or 3 spatial dims (PyTorch semantics and weight layouts), one
 * N-d implementation: im2col + the backend's batched GEMM (one GEMM batch entry per group) + col2im, sample by
 * sample, and within a sample in chunks of the outermost output dim when the column buffer would exceed
 * `maxColumnElements` (default 2^24 floats), so memory stays bounded for video-sized inputs.
 *
 * Letters: N = batch, C = input channels, Co = output channels, G = groups, Cg = C/G, Cog = Co/G,
 * K = prod(kernel), L = prod(output spatial size).
 *
 *   conv:       x [N, C, ...in], w [Co, Cg, ...k]          → y [N, Co, ...out]
 *               y_n[g] [Cog, L] = w[g] [Cog, Cg·K] · im2col(x_n)[g] [Cg·K, L] (+ bias)
 *   conv dx:    col2im(w[g]ᵀ · dy_n[g])                     (= the transposed conv of dy)
 *   conv dw:    Σ_n dy_n[g] · im2col(x_n)[g]ᵀ
 *   convT:      x [N, Cin, ...in], w [Cin, Cout/G, ...k]   → y [N, Cout, ...out], the conv dx map with the conv's
 *               roles swapped (conv input = convT output), so its dx is a conv and its dw the conv dw with x, dy
 *               exchanged.
 *
 * Output sizes: conv  out = ⌊(in + padBefore + padAfter − dilation·(k − 1) − 1) / stride⌋ + 1;
 *               convT out = (in − 1)·stride − 2·padding + dilation·(k − 1) + outputPadding + 1.
 */
import { backend } from '../../backend/index.js';
import { KilnError } from '../../errors.js';
import { record } from '../autograd.js';
import { Tensor, numel } from '../tensor.js';
import { sum } from './reduce.js';
import { contiguous, reshape, transpose } from './shape.js';
import { assertFloat, contig, dataOf } from './util.js';

/** A size per spatial dim, or one number for all of them. */
export type IntOrTuple = number | readonly number[];

export interface ConvOptions {
  stride?: IntOrTuple;
  /** Zero padding on both sides per dim, or 'same' (stride 1; an odd total pads one more after, as torch) or 'valid' (0). */
  padding?: IntOrTuple | 'same' | 'valid';
  dilation?: IntOrTuple;
  groups?: number;
  /** Memory bound of the im2col buffer in elements (default 2^24 = 64 MiB); above it the conv runs in chunks. */
  maxColumnElements?: number;
}

export interface ConvTransposeOptions {
  stride?: IntOrTuple;
  /** dilation·(k − 1) − padding zero padding is added to both sides of the input (torch's meaning). */
  padding?: IntOrTuple;
  /** Extra size added to one side of the output (< stride or < dilation), to pick among the sizes a stride allows. */
  outputPadding?: IntOrTuple;
  dilation?: IntOrTuple;
  groups?: number;
  /** Memory bound of the col2im buffer in elements (default 2^24 = 64 MiB); above it the op runs in chunks. */
  maxColumnElements?: number;
}

/** The geometry of one convolution (for a transposed conv: of the conv whose input gradient it is). */
export interface ConvGeometry {
  /** spatial rank, 1..3 */
  rank: number;
  /** conv input channels (C) and output channels (Co) */
  cIn: number;
  cOut: number;
  groups: number;
  inSize: number[];
  kernel: number[];
  stride: number[];
  /** leading (before) zero padding per dim */
  padding: number[];
  dilation: number[];
  outSize: number[];
  /** bound on the column buffer in elements; larger convs run in chunks of the outermost output dim */
  maxColumnElements: number;
}

function tuple(v: IntOrTuple | undefined, rank: number, dflt: number, name: string, op: string, min: number): number[] {
  const a = v === undefined ? new Array<number>(rank).fill(dflt) : typeof v === 'number' ? new Array<number>(rank).fill(v) : [...v];
  if (a.length !== rank || a.some((d) => !Number.isInteger(d) || d < min))
    throw new KilnError('E_ARG', `${op}: ${name} must be an integer ≥ ${min} or a list of ${rank} of them, got ${JSON.stringify(v)}`);
  return a;
}

function columnBound(v: number | undefined, op: string): number {
  if (v === undefined) return DEFAULT_MAX_COLUMN_ELEMENTS;
  if (!(v >= 1)) throw new KilnError('E_ARG', `${op}: maxColumnElements must be ≥ 1, got ${v}`);
  return v;
}

function checkRank(op: string, rank: number, x: Tensor, w: Tensor, bias: Tensor | null | undefined): void {
  assertFloat(x, op);
  assertFloat(w, op);
  if (bias) assertFloat(bias, op);
  if (x.ndim !== rank + 2)
    throw new KilnError('E_SHAPE', `${op}: input must be [N, C, ${['T', 'H', 'W'].slice(3 - rank).join(', ')}] (${rank + 2} dims), got [${x.shape}]; add a batch dim with unsqueeze(0)`);
  if (w.ndim !== rank + 2) throw new KilnError('E_SHAPE', `${op}: weight must have ${rank + 2} dims, got [${w.shape}]`);
}

/** Geometry of a conv from its input and weight shapes and options. */
export function convGeometry(op: string, rank: number, x: Tensor, w: Tensor, bias: Tensor | null | undefined, opts: ConvOptions): ConvGeometry {
  checkRank(op, rank, x, w, bias);
  const groups = opts.groups ?? 1;
  const [C, Co, Cg] = [x.shape[1], w.shape[0], w.shape[1]];
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0 || Co % groups !== 0)
    throw new KilnError('E_ARG', `${op}: groups = ${groups} must be a positive integer dividing both input channels ${C} and output channels ${Co}`);
  if (Cg !== C / groups)
    throw new KilnError('E_SHAPE', `${op}: weight [${w.shape}] must be [Co, C/groups = ${C / groups}, ...kernel] for input [${x.shape}] with groups = ${groups}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== Co)) throw new KilnError('E_SHAPE', `${op}: bias [${bias.shape}] must be [${Co}]`);
  const kernel = w.shape.slice(2);
  const inSize = x.shape.slice(2);
  const stride = tuple(opts.stride, rank, 1, 'stride', op, 1);
  const dilation = tuple(opts.dilation, rank, 1, 'dilation', op, 1);
  let before: number[];
  let after: number[];
  if (opts.padding === 'same') {
    if (stride.some((s) => s !== 1)) throw new KilnError('E_ARG', `${op}: padding 'same' needs stride 1 (got [${stride}]); give explicit padding instead`);
    const total = kernel.map((k, i) => dilation[i] * (k - 1));
    before = total.map((t) => Math.floor(t / 2));
    after = total.map((t, i) => t - before[i]);
  } else {
    before = tuple(opts.padding === 'valid' ? 0 : opts.padding, rank, 0, 'padding', op, 0);
    after = before;
  }
  const outSize = inSize.map((n, i) => Math.floor((n + before[i] + after[i] - dilation[i] * (kernel[i] - 1) - 1) / stride[i]) + 1);
  if (outSize.some((o) => o < 1))
    throw new KilnError('E_SHAPE', `${op}: input spatial size [${inSize}] with padding [${before}] is smaller than the dilated kernel [${kernel.map((k, i) => dilation[i] * (k - 1) + 1)}]`);
  return { rank, cIn: C, cOut: Co, groups, inSize, kernel, stride, padding: before, dilation, outSize, maxColumnElements: columnBound(opts.maxColumnElements, op) };
}

/** Geometry of the conv whose input gradient is the transposed conv of x [N, Cin, ...] with w [Cin, Cout/G, ...k]. */
export function convTransposeGeometry(op: string, rank: number, x: Tensor, w: Tensor, bias: Tensor | null | undefined, opts: ConvTransposeOptions): ConvGeometry {
  checkRank(op, rank, x, w, bias);
  const groups = opts.groups ?? 1;
  const Cin = x.shape[1];
  if (w.shape[0] !== Cin) throw new KilnError('E_SHAPE', `${op}: weight [${w.shape}] must be [Cin = ${Cin}, Cout/groups, ...kernel] for input [${x.shape}]`);
  if (!Number.isInteger(groups) || groups < 1 || Cin % groups !== 0)
    throw new KilnError('E_ARG', `${op}: groups = ${groups} must be a positive integer dividing the input channels ${Cin}`);
  const Cout = w.shape[1] * groups;
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== Cout)) throw new KilnError('E_SHAPE', `${op}: bias [${bias.shape}] must be [${Cout}]`);
  const kernel = w.shape.slice(2);
  const inSize = x.shape.slice(2);
  const stride = tuple(opts.stride, rank, 1, 'stride', op, 1);
  const dilation = tuple(opts.dilation, rank, 1, 'dilation', op, 1);
  const padding = tuple(opts.padding, rank, 0, 'padding', op, 0);
  const outputPadding = tuple(opts.outputPadding, rank, 0, 'outputPadding', op, 0);
  outputPadding.forEach((p, i) => {
    if (p >= Math.max(stride[i], dilation[i]))
      throw new KilnError('E_ARG', `${op}: outputPadding ${p} in dim ${i} must be smaller than stride ${stride[i]} or dilation ${dilation[i]}`);
  });
  const outSize = inSize.map((n, i) => (n - 1) * stride[i] - 2 * padding[i] + dilation[i] * (kernel[i] - 1) + outputPadding[i] + 1);
  if (outSize.some((o) => o < 1)) throw new KilnError('E_SHAPE', `${op}: padding [${padding}] leaves an empty output [${outSize}] for input [${x.shape}]`);
  // the conv it transposes: input = this op's output, output = this op's input
  return { rank, cIn: Cout, cOut: Cin, groups, inSize: outSize, kernel, stride, padding, dilation, outSize: inSize, maxColumnElements: columnBound(opts.maxColumnElements, op) };
}

/** Default bound on the column buffer, in elements (2^24 f32 = 64 MiB). */
const DEFAULT_MAX_COLUMN_ELEMENTS = 1 << 24;

/**
 * The column buffer and the chunks of the outermost output dim it is filled in: each chunk covers output positions
 * [o0, o0 + count) along outSize[0] (all positions of the other dims), count·rest columns.
 */
interface Columns {
  col: Tensor;
  rest: number;
  chunks: { o0: number; count: number }[];
}

function columns(geo: ConvGeometry): Columns {
  const rows = geo.cIn * numel(geo.kernel);
  const rest = numel(geo.outSize.slice(1));
  const o = geo.outSize[0];
  const step = Math.max(1, Math.min(o, Math.floor(geo.maxColumnElements / Math.max(rows * rest, 1))));
  const chunks: { o0: number; count: number }[] = [];
  for (let o0 = 0; o0 < o; o0 += step) chunks.push({ o0, count: Math.min(step, o - o0) });
  return { col: Tensor.empty([rows * step * rest]), rest, chunks };
}

function im2col(geo: ConvGeometry, x: Float32Array, o0: number, count: number, col: Float32Array): void {
  backend().im2col(x, geo.cIn, geo.inSize, geo.kernel, geo.stride, geo.padding, geo.dilation, geo.outSize, o0, count, col);
}

function col2im(geo: ConvGeometry, col: Float32Array, o0: number, count: number, x: Float32Array): void {
  backend().col2im(col, geo.cIn, geo.inSize, geo.kernel, geo.stride, geo.padding, geo.dilation, geo.outSize, o0, count, x);
}

/** y [N, Co, ...out] = conv(x [N, C, ...in], w [Co, Cg, ...k]) + bias; all contiguous. */
export function convForwardRaw(geo: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null): Tensor {
  const N = x.shape[0];
  const { cIn: C, cOut: Co, groups: G } = geo;
  const L = numel(geo.outSize);
  const [CgK, Cog] = [(C / G) * numel(geo.kernel), Co / G];
  const inNumel = C * numel(geo.inSize);
  const y = Tensor.empty([N, Co, ...geo.outSize]);
  const Y = dataOf(y);
  const be = backend();
  if (bias) {
    const b = dataOf(bias);
    for (let n = 0; n < N; n++) for (let c = 0; c < Co; c++) be.fill(Y, b[c], (n * Co + c) * L, (n * Co + c + 1) * L);
  } else if (CgK === 0) be.fill(Y, 0, 0, y.size);
  if (CgK === 0 || y.size === 0) return y;
  const { col, rest, chunks } = columns(geo);
  const [X, Wd, Cd] = [dataOf(x), dataOf(w), dataOf(col)];
  for (let n = 0; n < N; n++) {
    for (const { o0, count } of chunks) {
      const Lc = count * rest;
      im2col(geo, X.subarray(n * inNumel, (n + 1) * inNumel), o0, count, Cd);
      // per group g: Y_n[g][:, chunk] [Cog, Lc] = W[g] [Cog, CgK] · col[g] [CgK, Lc]
      be.gemm(G, false, false, Cog, Lc, CgK, 1, Wd, 0, CgK, Cog * CgK, Cd, 0, Lc, CgK * Lc, bias ? 1 : 0, Y, n * Co * L + o0 * rest, L, Cog * L);
    }
  }
  col.dispose();
  return y;
}

/** dx [N, C, ...in] = col2im(wᵀ · dy) for dy [N, Co, ...out] (the transposed conv of dy); all contiguous. */
export function convInputGradRaw(geo: ConvGeometry, dy: Tensor, w: Tensor): Tensor {
  const N = dy.shape[0];
  const { cIn: C, cOut: Co, groups: G } = geo;
  const L = numel(geo.outSize);
  const [CgK, Cog] = [(C / G) * numel(geo.kernel), Co / G];
  const inNumel = C * numel(geo.inSize);
  const dx = Tensor.empty([N, C, ...geo.inSize]);
  const DX = dataOf(dx);
  backend().fill(DX, 0, 0, dx.size);
  if (Cog === 0 || L === 0 || dx.size === 0) return dx;
  const { col, rest, chunks } = columns(geo);
  const [DY, Wd, Cd] = [dataOf(dy), dataOf(w), dataOf(col)];
  for (let n = 0; n < N; n++) {
    for (const { o0, count } of chunks) {
      const Lc = count * rest;
      // per group g: col[g] [CgK, Lc] = W[g]ᵀ [CgK, Cog] · dY_n[g][:, chunk] [Cog, Lc]
      backend().gemm(G, true, false, CgK, Lc, Cog, 1, Wd, 0, CgK, Cog * CgK, DY, n * Co * L + o0 * rest, L, Cog * L, 0, Cd, 0, Lc, CgK * Lc);
      col2im(geo, Cd, o0, count, DX.subarray(n * inNumel, (n + 1) * inNumel));
    }
  }
  col.dispose();
  return dx;
}

/**
 * dw [Co, Cg, ...k] = Σ_n dy_n · im2col(x_n)ᵀ per group; all contiguous. Computed as dwᵀ [G, Cg·K, Cog] =
 * Σ_n im2col(x_n) · dy_nᵀ and transposed at the end (the same GEMM work; the long L axis is then the contiguous
 * reduction axis of both operands, which the reference GEMM runs ~2.5× faster than the other orientation).
 */
export function convWeightGradRaw(geo: ConvGeometry, x: Tensor, dy: Tensor): Tensor {
  const N = x.shape[0];
  const { cIn: C, cOut: Co, groups: G } = geo;
  const L = numel(geo.outSize);
  const [CgK, Cog] = [(C / G) * numel(geo.kernel), Co / G];
  const inNumel = C * numel(geo.inSize);
  const dwT = Tensor.empty([G, CgK, Cog]);
  const DWT = dataOf(dwT);
  backend().fill(DWT, 0, 0, dwT.size);
  if (N > 0 && L > 0 && dwT.size > 0) {
    const { col, rest, chunks } = columns(geo);
    const [X, DY, Cd] = [dataOf(x), dataOf(dy), dataOf(col)];
    for (let n = 0; n < N; n++) {
      for (const { o0, count } of chunks) {
        const Lc = count * rest;
        im2col(geo, X.subarray(n * inNumel, (n + 1) * inNumel), o0, count, Cd);
        // per group g: dWᵀ[g] [CgK, Cog] += col[g] [CgK, Lc] · dY_n[g][:, chunk]ᵀ [Lc, Cog]
        backend().gemm(G, false, true, CgK, Cog, Lc, 1, Cd, 0, Lc, CgK * Lc, DY, n * Co * L + o0 * rest, L, Cog * L, 1, DWT, 0, Cog, CgK * Cog);
      }
    }
    col.dispose();
  }
  const dw = reshape(contiguous(transpose(dwT, 1, 2)), [Co, C / G, ...geo.kernel]);
  dwT.dispose();
  return dw;
}

/** Σ of dy [N, Co, ...] over batch and space → [Co]. */
function biasGrad(dy: Tensor): Tensor {
  return sum(reshape(dy, [dy.shape[0], dy.shape[1], -1]), [0, 2]);
}

function convNd(op: string, rank: number, x: Tensor, w: Tensor, bias: Tensor | null | undefined, opts: ConvOptions): Tensor {
  const geo = convGeometry(op, rank, x, w, bias, opts);
  const [xc, wc, bc] = [contig(x), contig(w), bias ? contig(bias) : null];
  const y = convForwardRaw(geo, xc, wc, bc);
  if (xc !== x) xc.dispose();
  if (wc !== w) wc.dispose();
  if (bc && bc !== bias) bc.dispose();
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, op, inputs, (g) => {
    const gc = contig(g);
    return [
      x.requiresGrad ? convInputGradRaw(geo, gc, contig(w)) : null,
      w.requiresGrad ? convWeightGradRaw(geo, contig(x), gc) : null,
      bias?.requiresGrad ? biasGrad(gc) : null,
    ];
  });
}

function convTransposeNd(op: string, rank: number, x: Tensor, w: Tensor, bias: Tensor | null | undefined, opts: ConvTransposeOptions): Tensor {
  const geo = convTransposeGeometry(op, rank, x, w, bias, opts);
  const [xc, wc] = [contig(x), contig(w)];
  const y = convInputGradRaw(geo, xc, wc);
  if (xc !== x) xc.dispose();
  if (wc !== w) wc.dispose();
  if (bias) addBiasInPlace(y, bias);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, op, inputs, (g) => {
    const gc = contig(g);
    return [
      x.requiresGrad ? convForwardRaw(geo, gc, contig(w), null) : null,
      w.requiresGrad ? convWeightGradRaw(geo, gc, contig(x)) : null,
      bias?.requiresGrad ? biasGrad(gc) : null,
    ];
  });
}

/** y [N, Co, ...] += bias [Co] as one rank-1 GEMM per sample: Y_n [Co, L] += bias [Co, 1] · ones [1, L]. */
function addBiasInPlace(y: Tensor, bias: Tensor): void {
  const [N, Co] = [y.shape[0], y.shape[1]];
  const L = numel(y.shape.slice(2));
  const bc = contig(bias);
  const ones = Tensor.empty([L]);
  backend().fill(dataOf(ones), 1, 0, L);
  backend().gemm(N, false, false, Co, L, 1, 1, dataOf(bc), 0, 1, 0, dataOf(ones), 0, L, 0, 1, dataOf(y), 0, L, Co * L);
  ones.dispose();
  if (bc !== bias) bc.dispose();
}

/** 1-D convolution: x [N, C, W], w [Co, C/groups, kW], bias [Co] → [N, Co, Wout]. */
export function conv1d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: ConvOptions = {}): Tensor {
  return convNd('conv1d', 1, x, w, bias, opts);
}

/** 2-D convolution (torch.nn.functional.conv2d): x [N, C, H, W], w [Co, C/groups, kH, kW], bias [Co] → [N, Co, Ho, Wo]. */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: ConvOptions = {}): Tensor {
  return convNd('conv2d', 2, x, w, bias, opts);
}

/** 3-D convolution: x [N, C, T, H, W], w [Co, C/groups, kT, kH, kW], bias [Co] → [N, Co, To, Ho, Wo]. */
export function conv3d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: ConvOptions = {}): Tensor {
  return convNd('conv3d', 3, x, w, bias, opts);
}

/** 1-D transposed convolution: x [N, Cin, W], w [Cin, Cout/groups, kW] → [N, Cout, Wout]. */
export function convTranspose1d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: ConvTransposeOptions = {}): Tensor {
  return convTransposeNd('convTranspose1d', 1, x, w, bias, opts);
}

/** 2-D transposed convolution (torch conv_transpose2d): x [N, Cin, H, W], w [Cin, Cout/groups, kH, kW] → [N, Cout, Ho, Wo]. */
export function convTranspose2d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: ConvTransposeOptions = {}): Tensor {
  return convTransposeNd('convTranspose2d', 2, x, w, bias, opts);
}

/** 3-D transposed convolution: x [N, Cin, T, H, W], w [Cin, Cout/groups, kT, kH, kW] → [N, Cout, To, Ho, Wo]. */
export function convTranspose3d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: ConvTransposeOptions = {}): Tensor {
  return convTransposeNd('convTranspose3d', 3, x, w, bias, opts);
}
