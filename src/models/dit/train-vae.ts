/**
 * A small training loop for the causal VAE on synthetic moving shapes (reconstruction MSE + β·KL, AdamW), and a
 * held-out evaluation (PSNR / SSIM of the posterior-mean reconstruction).
 * Optional: a learning-rate schedule (linear warmup, then constant or cosine decay to `minLrRatio`·lr), another
 * clip source (`data(batch, generator)` → [N, 3, T, H, W] in [−1, 1], e.g. rendered demo clips), and a progress
 * callback every `evalEvery` steps with held-out PSNR/SSIM (the training curve).
 */
import { AdamW } from '../../optim/adamw.js';
import { clipGradNorm } from '../../optim/clip.js';
import { noGrad } from '../../tensor/autograd.js';
import { Generator } from '../../tensor/random.js';
import { tidy } from '../../tensor/scope.js';
import { psnr, ssim } from './metrics.js';
import { movingShapes } from './synthetic.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { CausalVae3d } from './vae.js';

export interface VaeTrainOptions {
  steps: number;
  batchSize?: number;
  frames?: number;
  size?: number;
  lr?: number;
  klWeight?: number;
  seed?: number;
  onStep?: (step: number, loss: number) => void;
  /** Linear warmup steps (default 0). */
  warmup?: number;
  /** After warmup: 'constant' (default) or 'cosine' decay to minLrRatio·lr at the last step. */
  schedule?: 'constant' | 'cosine';
  minLrRatio?: number;
  /** Gradient-norm clip (default 1). */
  clip?: number;
  /** AdamW betas (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Training clips: (batch, generator) → [N, 3, T, H, W] (default: movingShapes(batch, frames, size, size)). */
  data?: (batch: number, gen: Generator) => Tensor;
  /** Every `evalEvery` steps, `onEval(step, held-out metrics, seconds of training so far)`. */
  evalEvery?: number;
  onEval?: (step: number, metrics: { psnr: number; ssim: number }, seconds: number) => void;
  /** Held-out set for onEval (default: 8 clips of seed 12345 at the training frames/size). */
  evalOptions?: EvalOptions;
}

export interface EvalOptions {
  clips?: number;
  frames?: number;
  size?: number;
  seed?: number;
  /** Held-out clips: (clips, generator) → [N, 3, T, H, W] (default movingShapes). */
  data?: (clips: number, gen: Generator) => Tensor;
}

/** The learning rate at `step` of `steps`. */
export function vaeLr(step: number, steps: number, { lr = 3e-3, warmup = 0, schedule = 'constant', minLrRatio = 0.05 }: Pick<VaeTrainOptions, 'lr' | 'warmup' | 'schedule' | 'minLrRatio'> = {}): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  if (schedule === 'constant' || steps <= warmup) return lr;
  const p = (step - warmup) / Math.max(1, steps - warmup - 1);
  return lr * (minLrRatio + (1 - minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, p))));
}

export function trainVae(vae: CausalVae3d, o: VaeTrainOptions): { losses: number[] } {
  const { steps, batchSize = 2, frames = 5, size = 16, lr = 3e-3, klWeight = 1e-6, seed = 0, clip = 1 } = o;
  const data = new Generator(seed);
  const noise = new Generator(seed + 1);
  const source = o.data ?? ((n: number, g: Generator) => movingShapes(n, frames, size, size, g));
  const opt = new AdamW(vae.parameters(), { lr, weightDecay: 0, betas: o.betas ?? [0.9, 0.999] });
  const losses: number[] = [];
  const ev = { clips: 8, frames, size, seed: 12345, ...o.evalOptions };
  let trainMs = 0;
  vae.train();
  for (let s = 0; s < steps; s++) {
    const t0 = Date.now();
    opt.setLr(vaeLr(s, steps, o));
    const loss = tidy(() => {
      const x = source(batchSize, data);
      const l = vae.loss(x, { klWeight, generator: noise });
      l.loss.backward();
      return l.recon.item();
    });
    clipGradNorm(vae.parameters(), clip);
    opt.step();
    vae.zeroGrad();
    trainMs += Date.now() - t0;
    losses.push(loss);
    o.onStep?.(s, loss);
    if (o.onEval && o.evalEvery && ((s + 1) % o.evalEvery === 0 || s === steps - 1)) {
      o.onEval(s + 1, evaluateVae(vae, ev), trainMs / 1000);
      vae.train();
    }
  }
  return { losses };
}

/** PSNR (dB) and SSIM of decode(mean of q(z|x)) on `clips` held-out clips drawn with `seed`. */
export function evaluateVae(vae: CausalVae3d, { clips = 4, frames = 5, size = 16, seed = 12345, data }: EvalOptions = {}): { psnr: number; ssim: number } {
  return noGrad(() => tidy(() => {
    const x = data ? data(clips, new Generator(seed)) : movingShapes(clips, frames, size, size, new Generator(seed));
    const y = vae.decode(vae.encode(x).mean).clamp(-1, 1);
    return { psnr: psnr(y, x), ssim: ssim(y, x) };
  }));
}
