/**
 * Trains the causal VAE on real clips (VideoSample, src/train/video-data.ts) with bucketed batches — each step one
 * single-bucket batch, so clips of every aspect ratio and length train the same model — minimising the VAE's own
 * loss (`CausalVae3d.loss`: reconstruction MSE + β·KL), AdamW with gradient clipping. `evaluateVaeOn` reports
 * PSNR/SSIM of the posterior-mean reconstruction on given samples.
 */
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { psnr, ssim } from '../models/dit/metrics.js';
import type { CausalVae3d } from '../models/dit/vae.js';
import { noGrad } from '../tensor/autograd.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { batchVideo, BucketBatcher, type VideoSample } from './video-data.js';

export interface VideoVaeTrainOptions {
  steps: number;
  batchSize?: number;
  lr?: number;
  klWeight?: number;
  seed?: number;
  onStep?: (step: number, recon: number, bucket: string) => void;
}

export function trainVaeOnVideos(vae: CausalVae3d, samples: readonly VideoSample[], o: VideoVaeTrainOptions): { losses: number[]; seconds: number } {
  const { steps, batchSize = 2, lr = 3e-3, klWeight = 1e-6, seed = 0 } = o;
  const noise = new Generator(seed + 1);
  const opt = new AdamW(vae.parameters(), { lr, weightDecay: 0 });
  const batches = new BucketBatcher(samples, { batchSize, seed }).batches();
  const losses: number[] = [];
  const t0 = Date.now();
  vae.train();
  for (let s = 0; s < steps; s++) {
    const idx = batches.next().value;
    const recon = tidy(() => {
      const l = vae.loss(batchVideo(idx.map((i) => samples[i])).video, { klWeight, generator: noise });
      l.loss.backward();
      return l.recon.item();
    });
    clipGradNorm(vae.parameters(), 1.0);
    opt.step();
    opt.zeroGrad();
    losses.push(recon);
    o.onStep?.(s, recon, samples[idx[0]].bucket);
  }
  vae.eval();
  return { losses, seconds: (Date.now() - t0) / 1000 };
}

/** Mean PSNR (dB) / SSIM of decode(mean of q(z|x)) over `samples`, one clip at a time. */
export function evaluateVaeOn(vae: CausalVae3d, samples: readonly VideoSample[]): { psnr: number; ssim: number } {
  let p = 0, s = 0;
  noGrad(() => {
    for (const smp of samples)
      tidy(() => {
        const x = batchVideo([smp]).video;
        const y = vae.decode(vae.encode(x).mean).clamp(-1, 1);
        p += psnr(y, x);
        s += ssim(y, x);
      });
  });
  return { psnr: p / samples.length, ssim: s / samples.length };
}
