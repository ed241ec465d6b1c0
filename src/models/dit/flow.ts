/**
 * Rectified flow as the Aquarius DiTs define it (Liu et al. 2022; SD3 / HunyuanVideo / Wan): what a DiT's input and
 * output mean, shared by the trainer (src/train/flow-loss.ts) and every sampler (src/infer/flow-sampler.ts,
 * src/infer/video-sampler.ts, src/apps/sampler.ts).
 *
 * Convention: σ ∈ [0, 1], x_σ = (1 − σ)·x₀ + σ·ε (σ = 1 is pure noise), the model predicts the velocity
 * v = dx_σ/dσ = ε − x₀ at timestep 1000·σ (`flowTimesteps`).
 * - Resolution-dependent shift: σ' = α·σ / (1 + (α − 1)·σ) with α = exp(μ), μ linear in the token count from
 *   base_shift 0.5 at 256 tokens to max_shift 1.15 at 4096 (Flux / SD3's rule): more tokens → noisier σ, since
 *   a larger video keeps more signal at the same σ. Applied to training σ and to the sampling schedule alike.
 * - Sampling schedule: S + 1 values σ_0 = 1 > … > σ_S = 0, uniform before the shift (`sigmaSchedule`).
 * - Classifier-free guidance: the null condition is zero states, zero pooled, an all-real mask; the guided velocity
 *   is v_null + g·(v_text − v_null), both halves from one batched call over [cond; null] (`guidedVelocity`).
 */
import { KilnError } from '../../errors.js';
import { fromArray, zerosLike } from '../../tensor/creation.js';
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

/** The null condition matching `cond`'s shapes. */
export function nullCondition(cond: Condition): Condition {
  return { text: zerosLike(cond.text), pooled: cond.pooled ? zerosLike(cond.pooled) : undefined, textMask: null };
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
