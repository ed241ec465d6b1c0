/**
 * Rectified-flow sampling for the applications: Euler from σ = 1 to 0 (the schedule of `flow.ts`), classifier-free
 * guidance as one batched call over [text; null], and an optional KNOWN region (the blended-latent / RePaint rule for
 * rectified flow): after every step the known part of x is overwritten with the known latents noised to the new σ,
 *     x_σ ← keep · ((1 − σ)·x₀ + σ·ε) + (1 − keep) · x_σ,
 * with the same ε the sampler started from, so the known part follows exactly the trajectory it would have had and
 * lands on x₀ at σ = 0. The generated part sees a consistent, progressively cleaner context at every step.
 * Image-to-video (first latent frame known) and inpainting (everything outside the mask known) are this sampler.
 */
import { KilnError } from '../errors.js';
import { noGrad } from '../tensor/autograd.js';
import { randn } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { keep as keepTensor, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { guidedVelocity, sigmaSchedule, type Condition, type VelocityModel } from '../models/dit/flow.js';

export interface KnownRegion {
  /** clean latents [B, C, T, H, W] (only the kept part is read) */
  latents: Tensor;
  /** 1 = keep the known value, 0 = generate; broadcastable to the latents (e.g. [1, 1, T, H, W]) */
  keep: Tensor;
}

export interface GuidedSampleOptions {
  steps: number;
  seed: number;
  /** classifier-free guidance scale (1 = off) */
  guidance?: number;
  shift?: number;
  known?: KnownRegion | null;
  /** called after every step with (step, steps) */
  onStep?: (i: number, n: number) => void;
}

export function guidedSample(model: VelocityModel, shape: readonly number[], cond: Condition, o: GuidedSampleOptions): Tensor {
  const g = o.guidance ?? 1;
  const B = shape[0];
  if (cond.text.shape[0] !== B) throw new KilnError('E_SHAPE', `guidedSample: ${cond.text.shape[0]} prompts for a batch of ${B}`);
  const known = o.known ?? null;
  if (known && known.latents.shape.some((d, i) => d !== shape[i]))
    throw new KilnError('E_SHAPE', `guidedSample: known latents [${known.latents.shape}] must have the sample shape [${shape}]`);
  const vel = guidedVelocity(model, cond, B, g);
  const sig = sigmaSchedule(o.steps, o.shift ?? 1);
  return noGrad(() => {
    const eps = keepTensor(randn(shape, { generator: new Generator(o.seed) }));
    const blend = (x: Tensor, sigma: number): Tensor => {
      if (!known) return x;
      const target = known.latents.mul(1 - sigma).add(eps.mul(sigma));
      return target.mul(known.keep).add(x.mul(known.keep.neg().add(1)));
    };
    let x = keepTensor(eps.clone());
    for (let i = 0; i < o.steps; i++) {
      const next = tidy(() => blend(x.add(vel(x, sig[i]).mul(sig[i + 1] - sig[i])), sig[i + 1]));
      x.dispose();
      x = keepTensor(next);
      o.onStep?.(i, o.steps);
    }
    eps.dispose();
    return x;
  });
}
