/**
 * A small training loop for the causal VAE on synthetic moving shapes (reconstruction MSE + β·KL, AdamW), and a
 * held-out evaluation (PSNR / SSIM of the posterior-mean reconstruction).
 */
import { AdamW } from '../../optim/adamw.js';
import { clipGradNorm } from '../../optim/clip.js';
import { noGrad } from '../../tensor/autograd.js';
import { Generator } from '../../tensor/random.js';
import { tidy } from '../../tensor/scope.js';
import { psnr, ssim } from './metrics.js';
import { movingShapes } from './synthetic.js';
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
}

export function trainVae(vae: CausalVae3d, o: VaeTrainOptions): { losses: number[] } {
  const { steps, batchSize = 2, frames = 5, size = 16, lr = 3e-3, klWeight = 1e-6, seed = 0 } = o;
  const data = new Generator(seed);
  const noise = new Generator(seed + 1);
  const opt = new AdamW(vae.parameters(), { lr, weightDecay: 0 });
  const losses: number[] = [];
  vae.train();
  for (let s = 0; s < steps; s++) {
    const loss = tidy(() => {
      const x = movingShapes(batchSize, frames, size, size, data);
      const l = vae.loss(x, { klWeight, generator: noise });
      l.loss.backward();
      return l.recon.item();
    });
    clipGradNorm(vae.parameters(), 1.0);
    opt.step();
    vae.zeroGrad();
    losses.push(loss);
    o.onStep?.(s, loss);
  }
  return { losses };
}

/** PSNR (dB) and SSIM of decode(mean of q(z|x)) on `clips` held-out clips drawn with `seed`. */
export function evaluateVae(vae: CausalVae3d, { clips = 4, frames = 5, size = 16, seed = 12345 } = {}): { psnr: number; ssim: number } {
  return noGrad(() => tidy(() => {
    const x = movingShapes(clips, frames, size, size, new Generator(seed));
    const y = vae.decode(vae.encode(x).mean).clamp(-1, 1);
    return { psnr: psnr(y, x), ssim: ssim(y, x) };
  }));
}
