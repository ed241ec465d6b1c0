/**
 * Attention with qk-norm and 3D RoPE for the DiTs. Tokens [B, N, D] are split into heads [B, H, N, D_h]; q and k
 * are RMS-normalised (over the whole D "across heads", as Wan, or per head over D_h, as HunyuanVideo), rotated by the
 * RoPE tables when given, and attended with the fused `scaledDotProductAttention` (never holding N×N).
 * Module names follow diffusers (`to_q`, `to_k`, `to_v`, `to_out.0`, `norm_q`, `norm_k`).
 *
 * Sliding-tile sparse self-attention (`slidingTileAttention`, for long videos; the idea of STA, Zhang et al. 2025):
 * the t×h×w token grid is cut into tiles of `tile` tokens per axis; every query tile attends to the keys of a
 * `window` of tiles around it (per axis: the window's start is the tile index − ⌊(w − 1)/2⌋ clamped so the window
 * stays inside the grid, so every query tile sees exactly the same number of keys and no padding is needed). The
 * key/value tiles of each window are GATHERED (indexSelect) into a [B·H·tiles, 1, window·tile, D_h] batch and attended
 * with the fused kernel, so the work is tiles × (tile × window·tile) instead of N × N — real FLOPs saved, not a
 * mask over full attention. A window that covers the whole grid equals full attention (keys in another order).
 * The joint form (`slidingTileJointAttention`, MM-DiT's [video; text] sequence) appends the text keys to every
 * window and gives the text queries full attention.
 * Composed of existing differentiable ops (reshape/permute/indexSelect/fused attention), so it has their gradients.
 */
import { constant_ } from '../../nn/init.js';
import { Linear, RMSNorm } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { KilnError } from '../../errors.js';
import { fromArray, ones } from '../../tensor/creation.js';
import { cat } from '../../tensor/ops/shape.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { indexSelect } from '../../tensor/ops/indexing.js';
import { applyRotary } from '../../tensor/ops/rope.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { PatchGrid } from './embeddings.js';

export interface Rope {
  cos: Tensor; // [N, D_h/2]
  sin: Tensor;
}

/** [B, N, D] → [B, H, N, D_h]. */
export function toHeads(x: Tensor, heads: number): Tensor {
  const [B, N, D] = x.shape;
  return x.reshape([B, N, heads, D / heads]).transpose(1, 2);
}

/** [B, H, N, D_h] → [B, N, D]. */
export function fromHeads(x: Tensor): Tensor {
  const [B, H, N, Dh] = x.shape;
  return x.transpose(1, 2).reshape([B, N, H * Dh]);
}

export function rotate(x: Tensor, rope: Rope | null | undefined): Tensor {
  return rope ? applyRotary(x, rope.cos, rope.sin, { layout: 'interleaved' }) : x;
}

/** Keep mask [B, L] (1 = real token) → attention keep mask [B, 1, 1, L] (bool), or null. */
export function keyMask(mask: Tensor | null | undefined): Tensor | null {
  if (!mask) return null;
  return mask.ne(0).to('bool').reshape([mask.shape[0], 1, 1, mask.shape[1]]); // ne gives 0/1 f32, which attention would read as additive
}

/** The sliding-tile sparse attention switch: tile size and window (in tiles) along (t, h, w). */
export interface TileWindow {
  /** tokens per tile along (t, h, w); each must divide the token grid's size on that axis */
  tile: [number, number, number];
  /** tiles per window along (t, h, w) (clamped to the grid's tile count) */
  window: [number, number, number];
}

/** Parses 'tile=1x4x4,window=3x3x3' (or 'none'/'full' → null); for CLIs. */
export function parseTileWindow(spec: string): TileWindow | null {
  const s = spec.trim().toLowerCase();
  if (s === 'none' || s === 'full' || s === '') return null;
  const m = /^tile=(\d+)x(\d+)x(\d+),window=(\d+)x(\d+)x(\d+)$/.exec(s.replace(/\s+/g, ''));
  if (!m || m.slice(1).some((v) => Number(v) < 1))
    throw new KilnError('E_ARG', `sparse attention setting '${spec}' is not understood; write 'tile=TxHxW,window=TxHxW' (positive integers, e.g. tile=1x4x4,window=3x3x3) or 'full'`);
  const n = m.slice(1).map(Number);
  return { tile: [n[0], n[1], n[2]], window: [n[3], n[4], n[5]] };
}

/** Per-axis tile count and the window's first tile for every tile index (clamped inside the grid). */
function windowStarts(tiles: number, w: number): number[] {
  return Array.from({ length: tiles }, (_, i) => Math.min(Math.max(i - Math.floor((w - 1) / 2), 0), tiles - w));
}

/** Tile layout of a grid: tile counts, window sizes (clamped), and the gathered key-tile index [tiles · window]. */
export function tilePlan(grid: PatchGrid, o: TileWindow): { counts: [number, number, number]; window: [number, number, number]; index: Int32Array } {
  const sizes = [grid.t, grid.h, grid.w];
  sizes.forEach((n, a) => {
    if (!Number.isInteger(o.tile[a]) || o.tile[a] < 1 || n % o.tile[a] !== 0)
      throw new KilnError('E_SHAPE', `slidingTileAttention: tile [${o.tile}] does not divide the token grid ${grid.t}×${grid.h}×${grid.w} (axis ${'thw'[a]}); pick tile sizes that divide the latent grid (after patching)`);
  });
  const counts = sizes.map((n, a) => n / o.tile[a]) as [number, number, number];
  const window = counts.map((c, a) => Math.min(Math.max(1, o.window[a]), c)) as [number, number, number];
  const starts = counts.map((c, a) => windowStarts(c, window[a]));
  const nTiles = counts[0] * counts[1] * counts[2];
  const W = window[0] * window[1] * window[2];
  const index = new Int32Array(nTiles * W);
  let p = 0;
  for (let i = 0; i < counts[0]; i++)
    for (let j = 0; j < counts[1]; j++)
      for (let l = 0; l < counts[2]; l++)
        for (let a = 0; a < window[0]; a++)
          for (let b = 0; b < window[1]; b++)
            for (let c = 0; c < window[2]; c++)
              index[p++] = ((starts[0][i] + a) * counts[1] + (starts[1][j] + b)) * counts[2] + (starts[2][l] + c);
  return { counts, window, index };
}

/**
 * Sliding-tile sparse attention (see the file header). q, k, v [B, H, N, D_h] with tokens in the grid's (t, h, w)
 * raster order (RoPE already applied) → [B, H, N, D_h].
 */
export function slidingTileAttention(q: Tensor, k: Tensor, v: Tensor, grid: PatchGrid, o: TileWindow): Tensor {
  const N = grid.t * grid.h * grid.w;
  if (q.shape[2] !== N || k.shape[2] !== N)
    throw new KilnError('E_SHAPE', `slidingTileAttention: q [${q.shape}] / k [${k.shape}] must have N = ${grid.t}·${grid.h}·${grid.w} tokens (self-attention over the grid)`);
  return videoTileAttention(q, k, v, grid, o, null);
}

/**
 * The joint form (MM-DiT): q, k, v [B, H, N + L, D_h] hold N video tokens (grid order) then L text tokens; `mask` a
 * keep mask broadcastable to [B, 1, 1, N + L] (bool/u8/i32) or null. Video queries attend to their tile window of
 * video keys plus every text key; text queries attend to everything (full attention, L × (N + L)).
 */
export function slidingTileJointAttention(q: Tensor, k: Tensor, v: Tensor, grid: PatchGrid, o: TileWindow, mask: Tensor | null): Tensor {
  const N = grid.t * grid.h * grid.w;
  const T = q.shape[2];
  if (T < N || k.shape[2] !== T)
    throw new KilnError('E_SHAPE', `slidingTileJointAttention: q [${q.shape}] / k [${k.shape}] must hold the ${grid.t}·${grid.h}·${grid.w} video tokens first, then the text tokens`);
  if (T === N) return videoTileAttention(q, k, v, grid, o, null);
  const textMask = mask ? mask.reshape([mask.shape[0], 1, 1, T]).slice(3, N) : null; // [B|1, 1, 1, L]
  const video = videoTileAttention(q.slice(2, 0, N), k.slice(2, 0, N), v.slice(2, 0, N), grid, o, { k: k.slice(2, N), v: v.slice(2, N), mask: textMask });
  const text = scaledDotProductAttention(q.slice(2, N), k, v, { mask });
  return cat([video, text], 2);
}

/** Video queries over their gathered tile windows, plus (joint form) shared extra keys/values appended to each window. */
function videoTileAttention(q: Tensor, k: Tensor, v: Tensor, grid: PatchGrid, o: TileWindow, extra: { k: Tensor; v: Tensor; mask: Tensor | null } | null): Tensor {
  const [B, H, N, Dh] = q.shape;
  const { counts, window, index } = tilePlan(grid, o);
  const [tt, th, tw] = o.tile;
  const nT = counts[0] * counts[1] * counts[2];
  const S = tt * th * tw;
  const W = window[0] * window[1] * window[2];
  const L = extra ? extra.k.shape[2] : 0;
  // [B, H, N, D] → [B, H, nT, S, D] (one copy); heads and tiles then fold into the kernel's batch for free
  const toTiles = (x: Tensor) =>
    x.reshape([B, H, counts[0], tt, counts[1], th, counts[2], tw, x.shape[3]]).permute([0, 1, 2, 4, 6, 3, 5, 7, 8]).reshape([B, H, nT, S, x.shape[3]]);
  const idx = fromArray(index, [index.length], { dtype: 'i32' });
  // gathered key/value windows: [B, H, nT·W, S, D] (the one expanded copy) → [B·H·nT, 1, W·S (+ L), D]
  const gatherKv = (x: Tensor, ext: Tensor | undefined) => {
    const D = x.shape[3];
    const g = indexSelect(toTiles(x), 2, idx);
    if (!ext) return g.reshape([B * H * nT, 1, W * S, D]);
    const shared = ext.unsqueeze(2).expand([B, H, nT, L, D]);
    return cat([g.reshape([B, H, nT, W * S, D]), shared], 3).reshape([B * H * nT, 1, W * S + L, D]);
  };
  let keepMask: Tensor | null = null;
  if (extra?.mask) {
    const m = extra.mask.to('f32'); // [B|1, 1, 1, L] keep
    const Bm = m.shape[0];
    const row = cat([ones([Bm, 1, 1, W * S]), m], 3); // [Bm, 1, 1, W·S + L]
    keepMask = row.reshape([Bm, 1, 1, 1, W * S + L]).expand([B, H, nT, 1, W * S + L]).reshape([B * H * nT, 1, 1, W * S + L]).ne(0).to('bool');
  }
  const qt = toTiles(q).reshape([B * H * nT, 1, S, Dh]);
  const o4 = scaledDotProductAttention(qt, gatherKv(k, extra?.k), gatherKv(v, extra?.v), { mask: keepMask }); // [B·H·nT, 1, S, Dv]
  const Dv = o4.shape[3];
  return o4
    .reshape([B, H, counts[0], counts[1], counts[2], tt, th, tw, Dv])
    .permute([0, 1, 2, 5, 3, 6, 4, 7, 8]) // [B, H, ct, tt, ch, th, cw, tw, Dv]
    .reshape([B, H, N, Dv]);
}

/** Wan-style attention: one set of projections; q from x, k/v from x (self) or from the context (cross). */
export class QkNormAttention extends Module {
  to_q: Linear;
  to_k: Linear;
  to_v: Linear;
  to_out: Linear[];
  norm_q: RMSNorm;
  norm_k: RMSNorm;
  constructor(readonly dim: number, readonly heads: number, eps: number, generator?: Generator, { zeroOut = false, kvDim = dim } = {}) {
    super();
    this.to_q = new Linear(dim, dim, { generator });
    this.to_k = new Linear(kvDim, dim, { generator });
    this.to_v = new Linear(kvDim, dim, { generator });
    this.to_out = [new Linear(dim, dim, { generator })];
    if (zeroOut) {
      constant_(this.to_out[0].weight, 0);
      constant_(this.to_out[0].bias!, 0);
    }
    this.norm_q = new RMSNorm(dim, eps);
    this.norm_k = new RMSNorm(dim, eps);
  }

  /**
   * x [B, N, D]; context [B, L, D] for cross-attention (no RoPE there); mask [B, 1, 1, L] keep mask; `sparse`
   * (self-attention only): sliding-tile attention over the token grid instead of full attention.
   */
  forward(x: Tensor, { context, rope, mask, sparse }: { context?: Tensor; rope?: Rope | null; mask?: Tensor | null; sparse?: { grid: PatchGrid; window: TileWindow } | null } = {}): Tensor {
    const src = context ?? x;
    const q = rotate(toHeads(this.norm_q.forward(this.to_q.forward(x)), this.heads), context ? null : rope);
    const k = rotate(toHeads(this.norm_k.forward(this.to_k.forward(src)), this.heads), context ? null : rope);
    const v = toHeads(this.to_v.forward(src), this.heads);
    if (sparse && !context) {
      if (mask) throw new KilnError('E_ARG', 'QkNormAttention: sliding-tile self-attention takes no key mask (video tokens are never padding)');
      return this.to_out[0].forward(fromHeads(slidingTileAttention(q, k, v, sparse.grid, sparse.window)));
    }
    return this.to_out[0].forward(fromHeads(scaledDotProductAttention(q, k, v, { mask: mask ?? null })));
  }
}
