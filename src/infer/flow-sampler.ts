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
  const vel = guidedVelocity(model, cond, shape[0], o.guidance ?? 1);
  return integrateFlow(shape, o.seed, sigmaSchedule(o.steps, o.shift ?? 1), o.sampler ?? 'euler', vel);
}

/**
 * The integration loop shared by every sampler: seeded noise of `shape` at σ = sig[0] = 1, then one Euler or Heun
 * step per schedule interval (Heun's last step, to σ = 0, stays Euler) with the velocity `vel(x, σ)`; `onStep(i, n)`
 * after each step. Runs without gradients; intermediate tensors are freed step by step.
 */
export function integrateFlow(
  shape: readonly number[], seed: number, sig: readonly number[], sampler: 'euler' | 'heun',
  vel: (x: Tensor, sigma: number) => Tensor, onStep?: (done: number, total: number) => void,
): Tensor {
  const steps = sig.length - 1;
  return noGrad(() => {
    let x = keep(randn(shape, { generator: new Generator(seed) }));
    for (let i = 0; i < steps; i++) {
      const next = tidy(() => {
        const d = sig[i + 1] - sig[i];
        const v1 = vel(x, sig[i]);
        const euler = x.add(v1.mul(d));
        if (sampler !== 'heun' || sig[i + 1] === 0) return euler;
        const v2 = vel(euler, sig[i + 1]);
        return x.add(v1.add(v2).mul(0.5 * d));
      });
      x.dispose();
      x = keep(next);
      onStep?.(i + 1, steps);
    }
    return x;
  });
}
