/**
 * fp8Linear: y = x·Wᵀ (+ b) simulating DeepSeek-V3's FP8 training recipe (arXiv 2412.19437 §3.3), with its own VJP.
 *   forward  y[M, N]  = GEMM( x in 1×128 tiles along K,  W [N, K] in 128×128 blocks )
 *   dgrad    dx[M, K] = GEMM( dy in 1×128 tiles along N,  the forward's W blocks )
 *   wgrad    dW[N, K] = GEMM( dyᵀ in 128×1 tiles along M, x in 128×1 tiles along M )
 * Every tile / block gets an online max-abs scale (amax / 448), every element E4M3 with RNE and saturation
 * (quantize.ts); each GEMM accumulates `interval` (128) products per chunk and promotes the scaled partial sum into
 * an f32 accumulator (gemm.ts). x [.., K] is flattened to M = numel / K rows; partial edge tiles are fine.
 * What is kept as in the report: the activation x is cached for backward in FP8 (its forward 1×128 codes and scales);
 * wgrad dequantises that cache and re-quantises it into 128×1 tiles (the transposition the report's §3.5.2 notes);
 * the weight's FP8 blocks are reused by dgrad; dW is f32 and goes to the f32 master weight; the bias (if any) is
 * added in f32 outside the FP8 GEMM. `granularity: 'tensor'` uses one scale per whole tensor instead (a baseline for
 * comparing against the fine-grained scheme).
 */
import { KilnError } from '../../errors.js';
import { record } from '../../tensor/autograd.js';
import { Tensor } from '../../tensor/tensor.js';
import { scaledGemm } from './gemm.js';
import { compact, dequantize, quantizeTiles, withValues } from './quantize.js';

export interface Fp8LinearOptions {
  /** Tile edge: 1×tile activation tiles, tile×tile weight blocks. Default 128. */
  tile?: number;
  /** Promotion interval N_C (products per chunk). Default 128; must divide `tile`. */
  interval?: number;
  /** 'tile' (the recipe) or 'tensor' (one scale per tensor, a baseline). Default 'tile'. */
  granularity?: 'tile' | 'tensor';
  /** Simulate a p-bit in-chunk accumulator (slow, small shapes only); default null = f32 partial sums. */
  accumulatorBits?: number | null;
}

function f32Data(t: Tensor, what: string): Float32Array {
  if (t.dtype !== 'f32') throw new KilnError('E_DTYPE', `fp8Linear: ${what} must be f32 (the master / compute dtype), got ${t.dtype}`);
  return t.data() as Float32Array;
}

function tensorOf(data: Float32Array, shape: readonly number[]): Tensor {
  const t = Tensor.empty(shape);
  (t.storage.data as Float32Array).set(data, t.offset);
  return t;
}

export function fp8Linear(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Fp8LinearOptions = {}): Tensor {
  const tile = opts.tile ?? 128;
  const interval = opts.interval ?? 128;
  const perTensor = (opts.granularity ?? 'tile') === 'tensor';
  if (weight.ndim !== 2) throw new KilnError('E_SHAPE', `fp8Linear: weight must be [out, in], got [${weight.shape}]`);
  const [N, K] = weight.shape;
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== K)
    throw new KilnError('E_SHAPE', `fp8Linear: input [${x.shape}] does not end in in_features = ${K} of weight [${weight.shape}]`);
  if (tile % interval !== 0) throw new KilnError('E_ARG', `fp8Linear: interval ${interval} must divide the tile size ${tile}`);
  const lead = x.shape.slice(0, -1);
  const M = lead.reduce((a, b) => a * b, 1);
  const gemmOpts = { interval, accumulatorBits: opts.accumulatorBits ?? null };
  // Tile shapes: [tr, tc] for a stored [rows, cols] matrix (whole matrix when per-tensor).
  const rowTiles = (rows: number, cols: number): [number, number] => (perTensor ? [Math.max(rows, 1), Math.max(cols, 1)] : [1, tile]);
  const colTiles = (rows: number, cols: number): [number, number] => (perTensor ? [Math.max(rows, 1), Math.max(cols, 1)] : [tile, 1]);
  const blocks = (rows: number, cols: number): [number, number] => (perTensor ? [Math.max(rows, 1), Math.max(cols, 1)] : [tile, tile]);

  const xq = quantizeTiles(f32Data(x, 'input'), M, K, ...rowTiles(M, K));
  const wq = quantizeTiles(f32Data(weight, 'weight'), N, K, ...blocks(N, K));
  let out = tensorOf(scaledGemm(xq, false, wq, true, gemmOpts), [...lead, N]);
  // the backward keeps FP8 bytes + scales only: the activation cache and the weight's blocks
  const xCache = compact(xq);
  const wCache = compact(wq);
  out = record(out, 'fp8Linear', [x, weight], (g) => {
    const gd = g.data() as Float32Array; // [M, N]
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    if (x.requiresGrad) {
      const gq = quantizeTiles(gd, M, N, ...rowTiles(M, N));
      dx = tensorOf(scaledGemm(gq, false, withValues(wCache), false, gemmOpts), x.shape); // [M, K]
    }
    if (weight.requiresGrad) {
      const gqT = quantizeTiles(gd, M, N, ...colTiles(M, N)); // read as dyᵀ [N, M]
      const xqT = quantizeTiles(dequantize(xCache), M, K, ...colTiles(M, K));
      dw = tensorOf(scaledGemm(gqT, true, xqT, false, gemmOpts), [N, K]);
    }
    return [dx, dw];
  });
  return bias ? out.add(bias) : out;
}
