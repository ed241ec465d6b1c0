/**
 * Training and evaluating the Aquarius causal VAE (src/models/dit/vae.ts).
 * - `trainVae(vae, batch, o)`: minimises the VAE's own loss (`CausalVae3d.loss`: reconstruction + β·KL) on clips
 *   [N, 3, T, H, W] in [−1, 1] that `batch(step)` supplies, with AdamW, gradient-norm clipping and a learning-rate
 *   schedule (`vaeLr`: linear warmup, then constant or cosine decay to `minLrRatio`·lr); optionally every `evalEvery`
 *   steps `onEval` with held-out PSNR/SSIM (the training curve; evaluation time is excluded from `seconds`).
 *   Optionally an edge term (`edgeWeight`): + w·`edgeLoss`, the squared error of the spatial finite differences — a
 *   cheap structure term (no pretrained network) that weighs the object boundaries a 8× codec has to place.
 * - `evaluateVae(vae, count, clip)`: mean PSNR (dB) / SSIM of decode(mean of q(z|x)), clamped to [−1, 1], over batches.
 * - `trainVaeOnVideos` / `evaluateVaeOn`: the same on real clips (VideoSample, src/train/video-data.ts) with
 *   bucketed batches — each step one single-bucket batch, so clips of every aspect ratio and length train the same
 *   model; held-out clips are evaluated one at a time. This is what `kiln train vae` runs.
 */
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { psnr, ssim } from '../models/dit/metrics.js';
import type { CausalVae3d } from '../models/dit/vae.js';
import { noGrad } from '../tensor/autograd.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { batchVideo, BucketBatcher, type VideoSample } from './video-data.js';

export interface VaeScheduleOptions {
  /** peak learning rate */
  lr?: number;
  /** linear warmup steps (default 0) */
  warmup?: number;
  /** after warmup: 'constant' (default) or 'cosine' decay to minLrRatio·lr at the last step */
  schedule?: 'constant' | 'cosine';
  /** default 0.05 */
  minLrRatio?: number;
}

export interface VaeTrainOptions extends VaeScheduleOptions {
  steps: number;
  /** KL weight β (default 1e-6) */
  klWeight?: number;
  /** weight of `edgeLoss(output, x)` added to the loss (default 0) */
  edgeWeight?: number;
  /** seed of the posterior samples (default 0) */
  seed?: number;
  /** gradient-norm clip (default 1) */
  clip?: number;
  /** AdamW betas (default [0.9, 0.999]) */
  betas?: [number, number];
  onStep?: (step: number, recon: number) => void;
  /** every `evalEvery` steps and after the last, `onEval(step, evaluate(), seconds of training so far)` */
  evalEvery?: number;
  evaluate?: () => { psnr: number; ssim: number };
  onEval?: (step: number, metrics: { psnr: number; ssim: number }, seconds: number) => void;
}

/** The learning rate at `step` of `steps`. */
export function vaeLr(step: number, steps: number, { lr = 5e-4, warmup = 0, schedule = 'constant', minLrRatio = 0.05 }: VaeScheduleOptions = {}): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  if (schedule === 'constant' || steps <= warmup) return lr;
  const p = (step - warmup) / Math.max(1, steps - warmup - 1);
  return lr * (minLrRatio + (1 - minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, p))));
}

/** Mean squared error of the horizontal and vertical finite differences of y and x [N, C, T, H, W] (summed). */
export function edgeLoss(y: Tensor, x: Tensor): Tensor {
  const [, , , H, W] = x.shape;
  const dx = (t: Tensor): Tensor => t.slice(4, 1).sub(t.slice(4, 0, W - 1));
  const dy = (t: Tensor): Tensor => t.slice(3, 1).sub(t.slice(3, 0, H - 1));
  return dx(y).sub(dx(x)).square().mean().add(dy(y).sub(dy(x)).square().mean());
}

/** Trains `vae` for `o.steps` steps on `batch(step)` → clips [N, 3, T, H, W]; returns the reconstruction losses. */
export function trainVae(vae: CausalVae3d, batch: (step: number) => Tensor, o: VaeTrainOptions): { losses: number[]; seconds: number } {
  const { steps, klWeight = 1e-6, seed = 0, clip = 1, edgeWeight = 0 } = o;
  const noise = new Generator(seed + 1);
  const opt = new AdamW(vae.parameters(), { lr: vaeLr(0, steps, o), weightDecay: 0, betas: o.betas ?? [0.9, 0.999] });
  const losses: number[] = [];
  let trainMs = 0;
  vae.train();
  for (let s = 0; s < steps; s++) {
    const t0 = Date.now();
    opt.setLr(vaeLr(s, steps, o));
    const recon = tidy(() => {
      const x = batch(s);
      const l = vae.loss(x, { klWeight, generator: noise });
      (edgeWeight ? l.loss.add(edgeLoss(l.output, x).mul(edgeWeight)) : l.loss).backward();
      return l.recon.item();
    });
    clipGradNorm(vae.parameters(), clip);
    opt.step();
    opt.zeroGrad();
    trainMs += Date.now() - t0;
    losses.push(recon);
    o.onStep?.(s, recon);
    if (o.evaluate && o.onEval && o.evalEvery && ((s + 1) % o.evalEvery === 0 || s === steps - 1)) {
      o.onEval(s + 1, o.evaluate(), trainMs / 1000);
      vae.train();
    }
  }
  vae.eval();
  return { losses, seconds: trainMs / 1000 };
}

/** Mean PSNR (dB) / SSIM of decode(mean of q(z|x)) over `count` batches `clip(i)` → [N, 3, T, H, W] (made in scope). */
export function evaluateVae(vae: CausalVae3d, count: number, clip: (i: number) => Tensor): { psnr: number; ssim: number } {
  let p = 0, s = 0;
  noGrad(() => {
    for (let i = 0; i < count; i++)
      tidy(() => {
        const x = clip(i);
        const y = vae.decode(vae.encode(x).mean).clamp(-1, 1);
        p += psnr(y, x);
        s += ssim(y, x);
      });
  });
  return { psnr: p / count, ssim: s / count };
}

export interface VideoVaeTrainOptions extends Omit<VaeTrainOptions, 'onStep'> {
  /** clips per step (default 2) */
  batchSize?: number;
  onStep?: (step: number, recon: number, bucket: string) => void;
}

/** `trainVae` on real clips with bucketed batches; default schedule: warmup min(20, steps), cosine to 5 %. */
export function trainVaeOnVideos(vae: CausalVae3d, samples: readonly VideoSample[], o: VideoVaeTrainOptions): { losses: number[]; seconds: number } {
  const { batchSize = 2, seed = 0 } = o;
  const batches = new BucketBatcher(samples, { batchSize, seed }).batches();
  let bucket = '';
  return trainVae(vae, () => {
    const idx = batches.next().value;
    bucket = samples[idx[0]].bucket;
    return batchVideo(idx.map((i) => samples[i])).video;
  }, { warmup: Math.min(20, o.steps), schedule: 'cosine', ...o, onStep: (s, recon) => o.onStep?.(s, recon, bucket) });
}

/** Mean PSNR (dB) / SSIM over `samples`, one clip at a time. */
export function evaluateVaeOn(vae: CausalVae3d, samples: readonly VideoSample[]): { psnr: number; ssim: number } {
  return evaluateVae(vae, samples.length, (i) => batchVideo([samples[i]]).video);
}
