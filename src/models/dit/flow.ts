/**
 * Rectified flow (Liu et al. 2022; the SD3 / HunyuanVideo / Wan training objective) for the Aquarius DiTs.
 *
 * Convention: σ ∈ [0, 1], x_σ = (1 − σ)·x₀ + σ·ε (σ = 1 is pure noise), the model predicts the velocity
 * v = dx_σ/dσ = ε − x₀ at timestep 1000·σ. Loss = mean ‖v̂ − v‖².
 * - Timestep sampling: logit-normal, σ = sigmoid(m + s·n), n ~ N(0, 1) (SD3, Esser et al. 2024, §3.1).
 * - Resolution-dependent shift: σ' = α·σ / (1 + (α − 1)·σ) with α = exp(μ), μ linear in the token count from
 *   base_shift 0.5 at 256 tokens to max_shift 1.15 at 4096 (Flux / SD3's rule): more tokens → noisier σ, since
 *   a larger video keeps more signal at the same σ. Applied to training σ and to the sampling schedule alike.
 * - Classifier-free guidance: in training each sample's text is dropped (the null condition: zero states, zero
 *   pooled, all-real mask) with probability p; in sampling v = v_null + g·(v_text − v_null).
 * - Samplers on σ_0 = 1 > … > σ_S = 0: Euler x ← x + (σ_{i+1} − σ_i)·v(x, σ_i); Heun (2nd order, the last step
 *   Euler) averages v at both ends. Noise comes from a seeded Generator, so sampling is reproducible.
 */
import { KilnError } from '../../errors.js';
import { noGrad } from '../../tensor/autograd.js';
import { fromArray, randn, zerosLike } from '../../tensor/creation.js';
import type { Generator } from '../../tensor/random.js';
import { Generator as Gen } from '../../tensor/random.js';
import { tidy, keep } from '../../tensor/scope.js';
import { cat } from '../../tensor/ops/shape.js';
import type { Tensor } from '../../tensor/tensor.js';

export interface ShiftOptions {
  baseShift?: number;
  maxShift?: number;
  baseTokens?: number;
  maxTokens?: number;
}

/** α = exp(μ(N)), μ linear from baseShift at baseTokens to maxShift at maxTokens (extrapolated beyond). */
export function resolutionShift(tokens: number, o: ShiftOptions = {}): number {
  const { baseShift = 0.5, maxShift = 1.15, baseTokens = 256, maxTokens = 4096 } = o;
  const m = (maxShift - baseShift) / (maxTokens - baseTokens);
  return Math.exp(baseShift + m * (tokens - baseTokens));
}

/** σ' = α·σ / (1 + (α − 1)·σ). */
export function shiftSigma(sigma: number, alpha: number): number {
  return (alpha * sigma) / (1 + (alpha - 1) * sigma);
}

/** n logit-normal samples σ = sigmoid(m + s·N(0,1)), each shifted by α. */
export function sampleSigmas(n: number, gen: Generator, { mean = 0, std = 1, shift = 1 } = {}): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = shiftSigma(1 / (1 + Math.exp(-(mean + std * gen.normal()))), shift);
  return out;
}

/** The sampling schedule: S + 1 values from 1 to 0, uniform in σ before the shift. */
export function sigmaSchedule(steps: number, shift = 1): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new KilnError('E_ARG', `sigmaSchedule: steps must be a positive integer, got ${steps}`);
  return Array.from({ length: steps + 1 }, (_, i) => shiftSigma(1 - i / steps, shift));
}

/** Text conditioning passed to the denoiser. */
export interface Condition {
  text: Tensor; // [B, L, Dt]
  pooled?: Tensor; // [B, Dp]
  textMask?: Tensor | null; // [B, L]
}

/** A velocity model: v̂ [B, C, T, H, W] from x_σ, timesteps 1000·σ [B] and a condition. */
export type VelocityModel = (x: Tensor, timestep: Tensor, cond: Condition) => Tensor;

/** Replaces each sample's condition by the null one with probability p (zero states/pooled, mask all ones). */
export function dropText(cond: Condition, p: number, gen: Generator): Condition {
  const B = cond.text.shape[0];
  const keepRow = Float32Array.from({ length: B }, () => (gen.uniform() < p ? 0 : 1));
  if (keepRow.every((v) => v === 1)) return cond;
  const k3 = fromArray(keepRow, [B, 1, 1]);
  const k2 = fromArray(keepRow, [B, 1]);
  return {
    text: cond.text.mul(k3),
    pooled: cond.pooled?.mul(k2),
    textMask: cond.textMask ? cond.textMask.mul(k2).add(k2.neg().add(1)).clamp(0, 1) : cond.textMask,
  };
}

/** The null condition matching `cond`'s shapes. */
export function nullCondition(cond: Condition): Condition {
  return { text: zerosLike(cond.text), pooled: cond.pooled ? zerosLike(cond.pooled) : undefined, textMask: null };
}

export interface FlowLossOptions {
  generator: Generator;
  /** logit-normal location / scale */
  mean?: number;
  std?: number;
  /** α; default resolutionShift(tokens) when `tokens` is given, else 1 */
  shift?: number;
  tokens?: number;
  /** text dropout probability for classifier-free guidance */
  textDropout?: number;
}

/** Rectified-flow velocity loss for clean latents x0 [B, C, T, H, W]. */
export function flowMatchingLoss(model: VelocityModel, x0: Tensor, cond: Condition, o: FlowLossOptions): { loss: Tensor; sigmas: Float32Array } {
  const B = x0.shape[0];
  const shift = o.shift ?? (o.tokens !== undefined ? resolutionShift(o.tokens) : 1);
  const sigmas = sampleSigmas(B, o.generator, { mean: o.mean ?? 0, std: o.std ?? 1, shift });
  const s = fromArray(sigmas, [B, 1, 1, 1, 1]);
  const eps = randn(x0.shape, { generator: o.generator });
  const xt = x0.mul(s.neg().add(1)).add(eps.mul(s));
  const target = eps.sub(x0);
  const c = o.textDropout ? dropText(cond, o.textDropout, o.generator) : cond;
  const v = model(xt, fromArray(sigmas.map((x) => 1000 * x), [B]), c);
  return { loss: v.sub(target).square().mean(), sigmas };
}

/** Timesteps [B] at noise level σ, on the DiTs' scale (1000·σ). */
export function flowTimesteps(B: number, sigma: number): Tensor {
  return fromArray(new Float32Array(B).fill(1000 * sigma), [B]);
}

/** The condition and its null twin batched as [cond; null], so one model call gives both halves of CFG. */
export function withUnconditional(cond: Condition): Condition {
  const uncond = nullCondition(cond);
  return {
    text: cat([cond.text, uncond.text], 0),
    pooled: cond.pooled && uncond.pooled ? cat([cond.pooled, uncond.pooled], 0) : undefined,
    textMask: cond.textMask ? cat([cond.textMask, cond.textMask.mul(0).add(1)], 0) : null,
  };
}

/**
 * The velocity field a sampler integrates, for a batch of B: the model itself (g = 1), or classifier-free guidance
 * v_null + g·(v_cond − v_null) from one batched call over [cond; null].
 */
export function guidedVelocity(model: VelocityModel, cond: Condition, B: number, g: number): (x: Tensor, sigma: number) => Tensor {
  if (g === 1) return (x, sigma) => model(x, flowTimesteps(B, sigma), cond);
  return (x, sigma) => {
    const t = flowTimesteps(B, sigma);
    const both = model(cat([x, x], 0), cat([t, t], 0), withUnconditional(cond));
    const vc = both.slice(0, 0, B);
    const vu = both.slice(0, B);
    return vu.add(vc.sub(vu).mul(g));
  };
}

export interface SampleOptions {
  steps: number;
  seed: number;
  sampler?: 'euler' | 'heun';
  /** classifier-free guidance scale (1 = off) */
  guidance?: number;
  shift?: number;
}

/** Generates latents of `shape` from noise (seeded) by integrating the velocity from σ = 1 to 0. */
export function sampleFlow(model: VelocityModel, shape: readonly number[], cond: Condition, o: SampleOptions): Tensor {
  const g = o.guidance ?? 1;
  const B = shape[0];
  const vel = guidedVelocity(model, cond, B, g);
  const sig = sigmaSchedule(o.steps, o.shift ?? 1);
  return noGrad(() => {
    let x = keep(randn(shape, { generator: new Gen(o.seed) }));
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
