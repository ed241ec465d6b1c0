/**
 * The DiT building blocks shared by Single-DiT and MM-DiT:
 * - sinusoidal timestep embedding (diffusers `get_timestep_embedding`, flip_sin_to_cos = true, shift 0):
 *     e(t)_i = cos(t·ω_i) for i < f/2, sin(t·ω_{i−f/2}) after, ω_i = 10000^(−i/(f/2));
 * - `MlpEmbedder` (linear_1 → SiLU → linear_2), used for timesteps, guidance and pooled text;
 * - 3D patchify / unpatchify between latents [B, C, T, H, W] and tokens [B, N, C·pt·ph·pw], N = T/pt · H/ph · W/pw,
 *   tokens in (t, h, w) raster order, features in (c, pt, ph, pw) order (so a Conv3d patch-embedding weight
 *   [D, C, pt, ph, pw] reshapes to the Linear weight [D, P]);
 * - 3D RoPE tables: the head dim is split into (d_t, d_h, d_w) contiguous chunks; inside each chunk consecutive
 *   pairs (x_2i, x_2i+1) rotate by pos_axis · θ^(−2i/d_axis) (HunyuanVideo's layout, `applyRotary` 'interleaved').
 */
import { KilnError } from '../../errors.js';
import { Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { fromArray } from '../../tensor/creation.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';

/** t [B] (any scale, e.g. 0..1000) → [B, dim]. */
export function timestepEmbedding(t: Tensor, dim: number, maxPeriod = 10000): Tensor {
  const half = dim / 2;
  const ts = t.contiguous().data() as Float32Array;
  const out = new Float32Array(ts.length * dim);
  for (let b = 0; b < ts.length; b++) {
    for (let i = 0; i < half; i++) {
      const a = ts[b] * Math.exp((-Math.log(maxPeriod) * i) / half);
      out[b * dim + i] = Math.cos(a);
      out[b * dim + half + i] = Math.sin(a);
    }
  }
  return fromArray(out, [ts.length, dim]);
}

export class MlpEmbedder extends Module {
  linear_1: Linear;
  linear_2: Linear;
  constructor(inDim: number, dim: number, generator?: Generator, readonly act: 'silu' | 'gelu_tanh' = 'silu') {
    super();
    this.linear_1 = new Linear(inDim, dim, { generator });
    this.linear_2 = new Linear(dim, dim, { generator });
  }
  forward(x: Tensor): Tensor {
    const h = this.linear_1.forward(x);
    return this.linear_2.forward(this.act === 'silu' ? h.silu() : h.gelu('tanh'));
  }
}

export interface PatchGrid {
  /** token grid (T/pt, H/ph, W/pw) */
  t: number;
  h: number;
  w: number;
}

/** x [B, C, T, H, W] → tokens [B, N, C·pt·ph·pw] and the token grid. */
export function patchify(x: Tensor, patch: readonly [number, number, number]): { tokens: Tensor; grid: PatchGrid } {
  const [B, C, T, H, W] = x.shape;
  const [pt, ph, pw] = patch;
  if (x.ndim !== 5 || T % pt !== 0 || H % ph !== 0 || W % pw !== 0)
    throw new KilnError('E_SHAPE', `patchify: latents [${x.shape}] must be [B, C, T, H, W] with T, H, W divisible by the patch [${patch}]`);
  const grid = { t: T / pt, h: H / ph, w: W / pw };
  const tokens = x
    .reshape([B, C, grid.t, pt, grid.h, ph, grid.w, pw])
    .permute([0, 2, 4, 6, 1, 3, 5, 7]) // [B, t, h, w, C, pt, ph, pw]
    .reshape([B, grid.t * grid.h * grid.w, C * pt * ph * pw]);
  return { tokens, grid };
}

/** tokens [B, N, C·pt·ph·pw] → [B, C, T, H, W] (the inverse of `patchify`). */
export function unpatchify(tokens: Tensor, grid: PatchGrid, patch: readonly [number, number, number], C: number): Tensor {
  const [pt, ph, pw] = patch;
  const B = tokens.shape[0];
  if (tokens.shape[1] !== grid.t * grid.h * grid.w || tokens.shape[2] !== C * pt * ph * pw)
    throw new KilnError('E_SHAPE', `unpatchify: tokens [${tokens.shape}] do not match grid ${grid.t}×${grid.h}×${grid.w} with ${C} channels and patch [${patch}]`);
  return tokens
    .reshape([B, grid.t, grid.h, grid.w, C, pt, ph, pw])
    .permute([0, 4, 1, 5, 2, 6, 3, 7]) // [B, C, t, pt, h, ph, w, pw]
    .reshape([B, C, grid.t * pt, grid.h * ph, grid.w * pw]);
}

/**
 * cos/sin tables [N + extra, D_h/2] for a t×h×w token grid (raster order) with the head dim split `axes` = [d_t, d_h,
 * d_w]; `extraIdentityRows` rows of angle 0 (cos 1, sin 0) are appended for tokens that take no rotation (text
 * tokens in a joint sequence).
 */
export function rope3d(grid: PatchGrid, axes: readonly [number, number, number], theta: number, extraIdentityRows = 0, offset: [number, number, number] = [0, 0, 0]): { cos: Tensor; sin: Tensor } {
  const half = (axes[0] + axes[1] + axes[2]) / 2;
  const N = grid.t * grid.h * grid.w;
  const rows = N + extraIdentityRows;
  const cos = new Float32Array(rows * half).fill(1);
  const sin = new Float32Array(rows * half);
  const inv = axes.map((d) => Float64Array.from({ length: d / 2 }, (_, i) => Math.pow(theta, (-2 * i) / d)));
  let n = 0;
  for (let t = 0; t < grid.t; t++) {
    for (let h = 0; h < grid.h; h++) {
      for (let w = 0; w < grid.w; w++, n++) {
        const pos = [t + offset[0], h + offset[1], w + offset[2]];
        let j = 0;
        for (let a = 0; a < 3; a++) {
          for (let i = 0; i < inv[a].length; i++, j++) {
            const ang = pos[a] * inv[a][i];
            cos[n * half + j] = Math.cos(ang);
            sin[n * half + j] = Math.sin(ang);
          }
        }
      }
    }
  }
  return { cos: fromArray(cos, [rows, half]), sin: fromArray(sin, [rows, half]) };
}
