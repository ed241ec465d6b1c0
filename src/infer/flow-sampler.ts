/**
 * The plain rectified-flow sampler for any velocity model (flow.ts `VelocityModel`): integrates dx/dσ = v from
 * seeded noise at σ = 1 to σ = 0 on flow.ts's `sigmaSchedule`, with Euler x ← x + (σ_{i+1} − σ_i)·v(x, σ_i) or Heun
 * (2nd order: averages v at both ends; the last step, to σ = 0, stays Euler), and classifier-free guidance as one
 * batched call over [cond; null] (flow.ts `guidedVelocity`). Noise comes from `Generator(seed)`, so sampling is
 * reproducible. `sampleVideo` (video-sampler.ts) is the same loop over a staged DiT with diffusion caches; with
 * cache 'none' the two agree bit for bit.
 */
import { noGrad } from '../tensor/autograd.js';
import { randn } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { guidedVelocity, sigmaSchedule, type Condition, type VelocityModel } from '../models/dit/flow.js';

export interface SampleOptions {
  steps: number;
  seed: number;
  sampler?: 'euler' | 'heun';
  /** classifier-free guidance scale (1 = off) */
  guidance?: number;
  /** σ schedule shift α (flow.ts `resolutionShift`); default 1 */
  shift?: number;
}

/** Generates latents of `shape` [B, C, T, H, W] from noise (seeded) by integrating the velocity from σ = 1 to 0. */
export function sampleFlow(model: VelocityModel, shape: readonly number[], cond: Condition, o: SampleOptions): Tensor {
  const g = o.guidance ?? 1;
  const B = shape[0];
  const vel = guidedVelocity(model, cond, B, g);
  const sig = sigmaSchedule(o.steps, o.shift ?? 1);
  return noGrad(() => {
    let x = keep(randn(shape, { generator: new Generator(o.seed) }));
    for (let i = 0; i < o.steps; i++) {
      const next = tidy(() => {
        const d = sig[i + 1] - sig[i];
        const v1 = vel(x, sig[i]);
        const euler = x.add(v1.mul(d));
        if (o.sampler !== 'heun' || sig[i + 1] === 0) return euler;
        const v2 = vel(euler, sig[i + 1]);
        return x.add(v1.add(v2).mul(0.5 * d));
      });
      x.dispose();
      x = keep(next);
    }
    return x;
  });
}
