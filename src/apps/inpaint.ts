/**
 * Video inpainting for rectified flow (blended latents / RePaint without resampling): the input video is encoded, and
 * while sampling everything OUTSIDE the spatio-temporal mask is held as a known region — at every step it is replaced
 * by the input latents noised to the current σ with the sampler's own ε (`guidedSample`) —, so only the masked part is
 * generated (from the prompt, in the context of the rest). The decoded result is composited in pixel space,
 *     out = mask · generated + (1 − mask) · input,
 * so unmasked pixels are the input's exactly. Masks are [B | 1, 1, T, H, W] with 1 = regenerate; in latent space a
 * latent cell is regenerated when any pixel it covers is (frame 0 ↔ latent 0, frames 1 + r(k−1)…rk ↔ latent k).
 * Mask specs for the CLI: `box=x,y,w,h` with optional `;frames=a-b` (inclusive, default all frames).
 */
import { KilnError } from '../errors.js';
import { fromArray } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { GenerateOptions } from './image-to-video.js';
import { checkPrompts } from './image-to-video.js';
import { guidedSample } from './sampler.js';
import type { VideoModel } from './video-model.js';

export interface BoxMask {
  x: number;
  y: number;
  w: number;
  h: number;
  /** first and last frame (inclusive) */
  from?: number;
  to?: number;
}

/** A [1, 1, T, H, W] mask with 1 inside the box over frames from..to. */
export function boxMask(T: number, H: number, W: number, b: BoxMask): Tensor {
  const from = b.from ?? 0;
  const to = b.to ?? T - 1;
  if (b.w <= 0 || b.h <= 0 || b.x < 0 || b.y < 0 || b.x + b.w > W || b.y + b.h > H || from < 0 || to >= T || from > to)
    throw new KilnError('E_ARG', `mask box x=${b.x},y=${b.y},w=${b.w},h=${b.h} frames ${from}-${to} does not fit a ${T}×${H}×${W} video; keep it inside the frame and the frame range`);
  const m = new Float32Array(T * H * W);
  for (let t = from; t <= to; t++) for (let i = b.y; i < b.y + b.h; i++) for (let j = b.x; j < b.x + b.w; j++) m[(t * H + i) * W + j] = 1;
  return fromArray(m, [1, 1, T, H, W]);
}

/** Parses 'box=x,y,w,h' or 'box=x,y,w,h;frames=a-b' (also 'x,y,w,h'). */
export function parseBoxSpec(spec: string): BoxMask {
  const parts = spec.replace(/\s+/g, '').split(/[;:]/);
  const box = /^(?:box=)?(\d+),(\d+),(\d+),(\d+)$/.exec(parts[0] ?? '');
  const fr = parts[1] ? /^frames=(\d+)-(\d+)$/.exec(parts[1]) : null;
  if (!box || (parts[1] && !fr) || parts.length > 2)
    throw new KilnError('E_ARG', `mask spec '${spec}' is not understood; write 'box=x,y,w,h' or 'box=x,y,w,h;frames=a-b' (pixels, frames inclusive), or give a mask video`);
  const [x, y, w, h] = box.slice(1).map(Number);
  return fr ? { x, y, w, h, from: Number(fr[1]), to: Number(fr[2]) } : { x, y, w, h };
}

/** Pixel mask [B, 1, T, H, W] → latent keep mask [B, 1, t, h, w] (1 = keep the input). */
export function latentKeep(model: VideoModel, mask: Tensor): Tensor {
  const [B, , T, H, W] = mask.shape;
  const d = mask.contiguous().data() as Float32Array;
  if (!model.vae) return fromArray(d.map((v) => (v > 0.5 ? 0 : 1)), mask.shape);
  const c = model.vae.config;
  const r = c.temporal_compression_ratio;
  const s = c.spatial_compression_ratio;
  const [, , t, h, w] = model.latentShape(B, T, H, W);
  const out = new Float32Array(B * t * h * w).fill(1);
  for (let b = 0; b < B; b++)
    for (let f = 0; f < T; f++) {
      const lt = f === 0 ? 0 : Math.ceil(f / r);
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++)
          if (d[((b * T + f) * H + i) * W + j] > 0.5) out[((b * t + lt) * h + Math.floor(i / s)) * w + Math.floor(j / s)] = 0;
    }
  return fromArray(out, [B, 1, t, h, w]);
}

/** Regenerates the masked part of videos [B, 3, T, H, W]; returns the composite [B, 3, T, H, W]. */
export function inpaintVideo(model: VideoModel, video: Tensor, mask: Tensor, o: Omit<GenerateOptions, 'frames'>): Tensor {
  if (video.ndim !== 5 || video.shape[1] !== 3) throw new KilnError('E_SHAPE', `inpaint: video must be [B, 3, T, H, W], got [${video.shape}]`);
  const [B, , T, H, W] = video.shape;
  if (mask.ndim !== 5 || mask.shape[1] !== 1 || mask.shape[2] !== T || mask.shape[3] !== H || mask.shape[4] !== W || (mask.shape[0] !== 1 && mask.shape[0] !== B))
    throw new KilnError('E_SHAPE', `inpaint: mask [${mask.shape}] must be [1 or ${B}, 1, ${T}, ${H}, ${W}] (1 = regenerate)`);
  checkPrompts(o.prompts, B, 'inpaint');
  const m = mask.gt(0.5).to('f32');
  const latents = model.encode(video);
  const keep = latentKeep(model, m);
  const z = guidedSample(model.velocity(), latents.shape, model.condition(o.prompts), {
    steps: o.steps ?? model.config.sample_steps, seed: o.seed ?? 0, guidance: o.guidance ?? model.config.guidance, shift: model.sigmaShift(latents.shape), known: { latents, keep }, onStep: o.onStep,
  });
  const generated = model.decode(z);
  return generated.mul(m).add(video.mul(m.neg().add(1)));
}
