/**
 * x-prediction for pixel-space DiTs (Li & He 2025, "Back to Basics: Let Denoising Generative Models Denoise"): the
 * network outputs the clean clip x̂₀ and the sampler/loss see the velocity it implies,
 *     v̂ = (x_σ − x̂₀) / max(σ, σ_min)          (from x_σ = (1 − σ)x₀ + σε and v = ε − x₀),
 * so the loss stays flow.ts's velocity loss. Why: a 1×8×8 RGB patch has 192 values but the tiny DiT is 64 wide; a
 * velocity (≈ noise) target lives in all 192 dimensions and cannot pass the bottleneck (the sampler then never
 * removes the noise outside it), while clean demo frames lie near a low-dimensional set the network can output.
 * `XPrediction` wraps a StagedDit (every stage passes through; only the head converts), so the diffusion caches of
 * src/infer/ work unchanged.
 */
import type { DitInputs, DitPass, StagedDit } from '../../models/dit/single-dit.js';
import { fromArray } from '../../tensor/creation.js';
import type { Tensor } from '../../tensor/tensor.js';

export const SIGMA_MIN = 0.05;

/** v̂ [B, C, T, H, W] from x_σ, x̂₀ and timesteps 1000·σ [B]. */
export function velocityFromX0(xt: Tensor, x0: Tensor, timestep: Tensor): Tensor {
  const B = xt.shape[0];
  const t = timestep.contiguous().data() as Float32Array;
  const inv = Float32Array.from(t, (v) => 1 / Math.max(v / 1000, SIGMA_MIN));
  return xt.sub(x0).mul(fromArray(inv, [B, 1, 1, 1, 1]));
}

function wrapPass(p: DitPass, xt: Tensor, timestep: Tensor): DitPass {
  return {
    x: p.x,
    batch: p.batch,
    numBlocks: p.numBlocks,
    modulatedInput: (x) => p.modulatedInput(x),
    blocks: (x, from, to) => p.blocks(x, from, to),
    head: (x) => velocityFromX0(xt, p.head(x), timestep),
    rows: (start, end) => wrapPass(p.rows(start, end), xt.slice(0, start, end), timestep.slice(0, start, end)),
  };
}

export class XPrediction implements StagedDit {
  constructor(readonly dit: StagedDit) {}
  begin(inputs: DitInputs): DitPass {
    return wrapPass(this.dit.begin(inputs), inputs.latents, inputs.timestep);
  }
  forward(inputs: DitInputs): Tensor {
    return velocityFromX0(inputs.latents, this.dit.forward(inputs), inputs.timestep);
  }
}
