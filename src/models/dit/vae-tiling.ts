/**
 * Spatial tiling for the causal VAE: a frame too large to encode or decode at once is cut into overlapping tiles,
 * each tile goes through the network on its own, and the outputs are blended with linear ramps across the overlaps.
 *
 *   tileGrid(size, tile, overlap, align)  tile starts along one axis: stride tile − overlap, the last tile flush with
 *                                         the end, every start a multiple of `align` (8 px for the encoder, so tiles
 *                                         sit on the latent grid); one tile when size ≤ tile;
 *   rampWeights(len, before, after)       per-position blend weight of a tile: rises linearly over the `before`
 *                                         positions it shares with the previous tile, falls over the `after` positions
 *                                         it shares with the next, 1 elsewhere (always > 0);
 *   TileBlender                           accumulates Σ w·y and Σ w per output pixel and returns their ratio, so
 *                                         overlapping tiles of a pointwise map blend back to the untiled output
 *                                         exactly (up to rounding), and uneven overlaps need no special case.
 *
 * The VAE is not pointwise: its convolutions see zero padding at a tile border instead of the neighbouring pixels,
 * and its GroupNorms take statistics over the tile instead of the frame. Overlaps wider than the border effect and
 * the blending keep the difference small (measured in test/models/dit/vae-tiling.test.ts and docs/aquarius.md).
 * Blending happens in plain typed-array loops (no autograd: tiled passes are inference only).
 */
import { KilnError } from '../../errors.js';
import { fromArray } from '../../tensor/creation.js';
import type { Tensor } from '../../tensor/tensor.js';

export interface SpatialTile {
  /** input start and length (rows or columns) */
  start: number;
  len: number;
  /** overlap with the previous and next tile, in input units */
  before: number;
  after: number;
}

export function tileGrid(size: number, tile: number, overlap: number, align = 1): SpatialTile[] {
  if (!(tile > 0) || tile % align !== 0 || overlap % align !== 0 || overlap < 0 || overlap >= tile)
    throw new KilnError('E_ARG', `VAE tiling: tile ${tile} and overlap ${overlap} must be multiples of ${align} with 0 ≤ overlap < tile`);
  if (size <= tile) return [{ start: 0, len: size, before: 0, after: 0 }];
  const stride = tile - overlap;
  const starts: number[] = [];
  for (let s = 0; s + tile < size; s += stride) starts.push(s);
  const last = size - tile;
  if (last % align !== 0) throw new KilnError('E_ARG', `VAE tiling: size ${size} is not a multiple of ${align}`);
  starts.push(last);
  return starts.map((start, i) => ({
    start,
    len: tile,
    before: i === 0 ? 0 : starts[i - 1] + tile - start,
    after: i === starts.length - 1 ? 0 : start + tile - starts[i + 1],
  }));
}

/** Blend weights of `len` positions: linear ramps over the first `before` and last `after` positions. */
export function rampWeights(len: number, before: number, after: number): Float32Array {
  const w = new Float32Array(len);
  for (let p = 0; p < len; p++) {
    let v = 1;
    if (before > 0) v = Math.min(v, (p + 0.5) / before);
    if (after > 0) v = Math.min(v, (len - p - 0.5) / after);
    w[p] = v;
  }
  return w;
}

/** Σ w·y / Σ w over tiles of an [N, C, T, H, W] output. */
export class TileBlender {
  private readonly acc: Float32Array;
  private readonly wsum: Float32Array;
  constructor(readonly shape: readonly number[]) {
    if (shape.length !== 5) throw new KilnError('E_SHAPE', `TileBlender: output must be [N, C, T, H, W], got [${shape}]`);
    this.acc = new Float32Array(shape.reduce((a, b) => a * b, 1));
    this.wsum = new Float32Array(shape[3] * shape[4]);
  }

  /** Adds tile y [N, C, T, h, w] at rows h0.., columns w0.., weighted by wh [h] ⊗ ww [w]. */
  add(y: Tensor, h0: number, w0: number, wh: Float32Array, ww: Float32Array): void {
    const [N, C, T, H, W] = this.shape;
    const [n, c, t, h, w] = y.shape;
    if (n !== N || c !== C || t !== T || h !== wh.length || w !== ww.length || h0 + h > H || w0 + w > W)
      throw new KilnError('E_SHAPE', `TileBlender: tile [${y.shape}] at (${h0}, ${w0}) does not fit output [${this.shape}] with weights ${wh.length}×${ww.length}`);
    const yc = y.contiguous();
    const src = yc.data() as Float32Array;
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) this.wsum[(h0 + i) * W + w0 + j] += wh[i] * ww[j];
    for (let p = 0; p < N * C * T; p++) {
      for (let i = 0; i < h; i++) {
        const s = (p * h + i) * w;
        const d = (p * H + h0 + i) * W + w0;
        const a = wh[i];
        for (let j = 0; j < w; j++) this.acc[d + j] += a * ww[j] * src[s + j];
      }
    }
    if (yc !== y) yc.dispose();
  }

  /** The blended output (every pixel must have been covered by some tile). */
  result(): Tensor {
    const [, , , H, W] = this.shape;
    const plane = H * W;
    for (let k = 0; k < plane; k++)
      if (!(this.wsum[k] > 0)) throw new KilnError('E_ARG', `TileBlender: output pixel (${Math.floor(k / W)}, ${k % W}) was covered by no tile`);
    for (let i = 0; i < this.acc.length; i++) this.acc[i] /= this.wsum[i % plane];
    return fromArray(this.acc, this.shape);
  }
}
