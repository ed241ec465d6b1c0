/**
 * The rectified-flow training objective for the Aquarius DiTs (Liu et al. 2022; the SD3 / HunyuanVideo / Wan loss),
 * on the formulation of src/models/dit/flow.ts (x_σ = (1 − σ)·x₀ + σ·ε, velocity target v = ε − x₀, timestep 1000·σ):
 * - `sampleSigmas`: training σ, logit-normal σ = sigmoid(m + s·n), n ~ N(0, 1) (SD3, Esser et al. 2024, §3.1), each
 *   shifted by α (flow.ts `shiftSigma`, the resolution-dependent shift);
 * - `dropText`: classifier-free-guidance training — each sample's condition becomes the null one with probability p;
 * - `flowMatchingLoss`: mean ‖v̂(x_σ, 1000σ, c) − (ε − x₀)‖² over a batch of clean latents x₀ [B, C, T, H, W].
 */
import { fromArray, randn } from '../tensor/creation.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { resolutionShift, shiftSigma, type Condition, type VelocityModel } from '../models/dit/flow.js';

/** n logit-normal samples σ = sigmoid(m + s·N(0,1)), each shifted by α. */
export function sampleSigmas(n: number, gen: Generator, { mean = 0, std = 1, shift = 1 } = {}): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = shiftSigma(1 / (1 + Math.exp(-(mean + std * gen.normal()))), shift);
  return out;
}

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
  const xt = x0.mul(s.neg().add(1)).add(eps.mul(s)); // x_σ
  const target = eps.sub(x0); // v = dx_σ/dσ
  const c = o.textDropout ? dropText(cond, o.textDropout, o.generator) : cond;
  const v = model(xt, fromArray(sigmas.map((x) => 1000 * x), [B]), c);
  return { loss: v.sub(target).square().mean(), sigmas };
}
