/**
 * Rectified-flow training of a text-to-video denoiser on real clips (VideoSample, src/train/video-data.ts), batch by
 * bucket: each step takes one single-bucket batch, encodes it to the model's latent space (the identity in pixel
 * space; the frozen VAE's posterior mean otherwise — computed once per clip and cached), and minimises flow.ts's
 * velocity loss with the resolution-dependent shift of that bucket's token count (so every T × H × W gets its own
 * σ shift), text dropout for classifier-free guidance, AdamW with linear warmup then linear decay to lr/10, and
 * gradient clipping.
 * The model is anything with a velocity function, a text condition and an encoder (apps/video-model.ts's VideoModel
 * fits); only `params` are trained (the DiT and text encoder, never the VAE).
 */
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { linearWarmup } from '../optim/schedules.js';
import type { Condition, VelocityModel } from '../models/dit/flow.js';
import { dropText, flowMatchingLoss, sampleSigmas } from './flow-loss.js';
import { resolutionShift, shiftSigma } from '../models/dit/flow.js';
import { fromArray, randn } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import { cat } from '../tensor/ops/shape.js';
import { Generator } from '../tensor/random.js';
import { keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { batchVideo, BucketBatcher, type VideoSample } from './video-data.js';

export interface TrainableVideoModel {
  /** video [B, 3, T, H, W] in [−1, 1] → latents [B, C, t, h, w] */
  encode(video: Tensor): Tensor;
  condition(prompts: readonly string[]): Condition;
  velocity(): VelocityModel;
}

export interface VideoDitTrainOptions {
  /** the trained parameters (DiT + text encoder) */
  params: Tensor[];
  steps: number;
  batchSize?: number;
  lr?: number;
  warmup?: number;
  textDropout?: number;
  seed?: number;
  /** tokens per latent clip, for the σ shift (flow.ts resolutionShift); omitted = no shift */
  tokensOf?: (latentShape: readonly number[]) => number;
  /** a fixed σ shift α for every batch instead of the resolution shift of `tokensOf` */
  shift?: number;
  /**
   * how training σ is drawn before the shift: 'logit-normal' (default; SD3) or 'uniform' — σ = shift(u), u ~ U(0, 1),
   * the density of the sampler's own schedule (flow.ts `sigmaSchedule`), so every σ the sampler visits is trained
   */
  sigmaSampling?: 'logit-normal' | 'uniform';
  /**
   * per-sample weight w(σ) of the velocity loss (omitted = 1, flow-loss.ts `flowMatchingLoss`). For an x-predicting
   * model ‖v̂ − v‖² = ‖x̂₀ − x₀‖²/σ², so w(σ) = min(1, (σ/σ_c)²) caps the weight of the clean-clip error at 1/σ_c²
   * (see `cappedXWeight`)
   */
  lossWeight?: (sigma: number) => number;
  /**
   * fraction of each batch whose σ is drawn uniformly on (0, 1) with no shift (default 0). A large shift puts almost
   * no training σ below 0.3 (α = 8: 0.3% of logit-normal draws), yet the sampler's last step returns the model's
   * clean-clip estimate at σ ≈ 0.3 and any extra step goes below it — so without these draws the low-noise end,
   * where edges and corners are drawn, is never learned
   */
  lowNoiseFraction?: number;
  onStep?: (step: number, loss: number, bucket: string) => void;
}

export interface VideoDitTrainResult {
  losses: number[];
  buckets: string[];
  seconds: number;
}

/** Latents of every sample, encoded bucket by bucket in batches (kept; the caller disposes them). */
export function encodeSamples(model: TrainableVideoModel, samples: readonly VideoSample[], batch = 8): Tensor[] {
  const out: Tensor[] = new Array(samples.length);
  const byBucket = new BucketBatcher(samples, { batchSize: batch });
  noGrad(() => {
    for (const idx of [...byBucket.buckets.values()].flatMap((ids) => Array.from({ length: Math.ceil(ids.length / batch) }, (_, k) => ids.slice(k * batch, (k + 1) * batch)))) {
      const z = tidy(() => keep(model.encode(batchVideo(idx.map((i) => samples[i])).video)));
      idx.forEach((i, b) => (out[i] = keep(z.slice(0, b, b + 1).contiguous())));
      z.dispose();
    }
  });
  return out;
}

/**
 * w(σ) = min(1, (σ/σ_c)²): on an x-predicting model the clean-clip error is weighted 1/max(σ, σ_c)² instead of
 * 1/σ² — the low-noise steps (weights up to 400 at σ = 0.05) no longer drown the high-noise ones, where the layout
 * the prompt asks for is decided.
 */
export function cappedXWeight(sigmaC: number): (sigma: number) => number {
  return (s) => Math.min(1, (s / sigmaC) ** 2);
}

/**
 * flow-loss.ts `flowMatchingLoss` with a per-sample weight w(σ), a choice of σ draw (logit-normal: the same draws in the
 * same order) and a fraction of unshifted uniform draws.
 */
function weightedFlowLoss(model: VelocityModel, x0: Tensor, cond: Condition, w: (sigma: number) => number, gen: Generator, textDropout: number,
    shift: number, sampling: 'logit-normal' | 'uniform', lowNoise: number): { loss: Tensor } {
  const B = x0.shape[0];
  const sigmas = sampling === 'uniform' ? Float32Array.from({ length: B }, () => shiftSigma(gen.uniform(), shift)) : sampleSigmas(B, gen, { shift });
  if (lowNoise > 0) for (let i = 0; i < B; i++) if (gen.uniform() < lowNoise) sigmas[i] = gen.uniform();
  const s = fromArray(sigmas, [B, 1, 1, 1, 1]);
  const eps = randn(x0.shape, { generator: gen });
  const xt = x0.mul(s.neg().add(1)).add(eps.mul(s));
  const c = textDropout ? dropText(cond, textDropout, gen) : cond;
  const v = model(xt, fromArray(sigmas.map((x) => 1000 * x), [B]), c);
  const wb = fromArray(sigmas.map((x) => w(x) / B), [B, 1, 1, 1, 1]);
  return { loss: v.sub(eps.sub(x0)).square().mean([1, 2, 3, 4], true).mul(wb).sum() };
}

export function trainVideoDit(model: TrainableVideoModel, samples: readonly VideoSample[], o: VideoDitTrainOptions): VideoDitTrainResult {
  const { steps, batchSize = 8, lr = 2e-3, warmup = 20, textDropout = 0.1, seed = 0 } = o;
  const latents = encodeSamples(model, samples);
  const gen = new Generator(seed + 1);
  const opt = new AdamW(o.params, { lr, weightDecay: 0 });
  // linear warmup, then linear decay to lr/10 at the last step
  const schedule = linearWarmup(lr, warmup, (k) => lr * (1 - (0.9 * k) / Math.max(1, steps - warmup)));
  const batches = new BucketBatcher(samples, { batchSize, seed }).batches();
  const losses: number[] = [], buckets: string[] = [];
  const t0 = Date.now();
  try {
    for (let s = 0; s < steps; s++) {
      const idx = batches.next().value;
      const bucket = samples[idx[0]].bucket;
      opt.setLr(schedule(s));
      const loss = tidy(() => {
        const x0 = cat(idx.map((i) => latents[i]), 0);
        const cond = model.condition(idx.map((i) => samples[i].caption));
        const tokens = o.tokensOf?.(x0.shape);
        const shift = o.shift ?? (tokens !== undefined ? resolutionShift(tokens) : 1);
        const { loss } = o.lossWeight || o.sigmaSampling === 'uniform' || o.lowNoiseFraction
          ? weightedFlowLoss(model.velocity(), x0, cond, o.lossWeight ?? (() => 1), gen, textDropout, shift, o.sigmaSampling ?? 'logit-normal', o.lowNoiseFraction ?? 0)
          : flowMatchingLoss(model.velocity(), x0, cond, { generator: gen, textDropout, shift });
        loss.backward();
        return loss.item();
      });
      clipGradNorm(o.params, 1.0);
      opt.step();
      opt.zeroGrad();
      losses.push(loss);
      buckets.push(bucket);
      o.onStep?.(s, loss, bucket);
    }
  } finally {
    for (const z of latents) z.dispose();
    opt.dispose?.();
  }
  return { losses, buckets, seconds: (Date.now() - t0) / 1000 };
}
