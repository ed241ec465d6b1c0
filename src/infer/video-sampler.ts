/**
 * The video sampling loop for the Aquarius DiTs: rectified flow from σ = 1 (seeded noise) to σ = 0 with Euler or
 * Heun (the last step Euler) on flow.ts's schedule, classifier-free guidance, and an optional diffusion cache
 * (src/infer/diffusion-cache.ts).
 *
 *   const { latents } = sampleVideo(model, cond, { shape: [1, 16, 5, 32, 32], steps: 50, cfg: 5, seed: 0,
 *                                                 cache: 'teacache:0.1' });            // or parseCacheSetting(...)
 *
 * `cond` is the text conditioning (flow.ts `Condition`: token states [B, L, Dt], optional mask [B, L] and pooled
 * vector). With cfg ≠ 1 every call is ONE batched denoiser pass over [cond; null] rows (null = zero states, all-real
 * mask), as flow-sampler.ts `sampleFlow`; the cache treats the two halves as two streams, each with its own cache state.
 * Calls are numbered over the whole run (Euler: S calls; Heun: 2S − 1), and the cache always computes the first
 * and the last call. With cache 'none' the result equals `sampleFlow` bit for bit.
 */
import { KilnError } from '../errors.js';
import type { Condition } from '../models/dit/flow.js';
import { flowTimesteps, sigmaSchedule, withUnconditional } from '../models/dit/flow.js';
import type { StagedDit } from '../models/dit/single-dit.js';
import { noGrad } from '../tensor/autograd.js';
import { fromArray } from '../tensor/creation.js';
import { cat } from '../tensor/ops/shape.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { integrateFlow } from './flow-sampler.js';
import { DiffusionCache, type CacheSetting, type CacheStats, type CacheTraceEntry } from './diffusion-cache.js';

export interface VideoSampleOptions {
  /** latent shape [B, C, T, H, W] (B = the text batch) */
  shape: readonly number[];
  steps: number;
  seed: number;
  sampler?: 'euler' | 'heun';
  /** classifier-free guidance scale (1 = off; default 1) */
  cfg?: number;
  /** σ schedule shift α (flow.ts `resolutionShift`); default 1 */
  shift?: number;
  /** diffusion cache: 'none' | 'teacache:<thr>' | 'fbcache:<thr>' or a CacheSetting; default none */
  cache?: CacheSetting | string | null;
  /** MM-DiT with guidance_embeds: the embedded (distilled) guidance scale */
  embeddedGuidance?: number;
  /** called after each step (for progress bars) */
  onStep?: (step: number, steps: number) => void;
  /** cache decisions per call and stream are appended here (for fitting TeaCache's rescaling) */
  trace?: CacheTraceEntry[];
}

export interface VideoSampleResult {
  /** denoised latents [B, C, T, H, W] */
  latents: Tensor;
  seconds: number;
  /** denoiser calls (batched CFG counts once) */
  calls: number;
  cache: CacheStats;
}

/** Samples latents of `o.shape` (see the file header). */
export function sampleVideo(model: StagedDit, cond: Condition, o: VideoSampleOptions): VideoSampleResult {
  const g = o.cfg ?? 1;
  const shape = o.shape;
  if (shape.length !== 5) throw new KilnError('E_SHAPE', `sampleVideo: shape [${shape}] must be the latent shape [B, C, T, H, W]`);
  const B = shape[0];
  if (cond.text.shape[0] !== B) throw new KilnError('E_SHAPE', `sampleVideo: text states [${cond.text.shape}] must have the latent batch ${B} rows`);
  if (!Number.isFinite(g)) throw new KilnError('E_ARG', `sampleVideo: cfg must be a finite number, got ${g}`);
  const sampler = o.sampler ?? 'euler';
  if (sampler !== 'euler' && sampler !== 'heun') throw new KilnError('E_ARG', `sampleVideo: sampler must be 'euler' or 'heun', got '${sampler}'`);
  const sig = sigmaSchedule(o.steps, o.shift ?? 1);
  const totalCalls = sampler === 'heun' ? sig.slice(1).filter((s) => s !== 0).length + o.steps : o.steps;
  const useCfg = g !== 1;
  const cache = new DiffusionCache(o.cache ?? null, useCfg ? 2 : 1, o.trace);
  // the batched [cond; null] condition (flow-sampler.ts sampleFlow's layout); its tensors are freed when the run ends
  const both: Condition = !useCfg
    ? cond
    : noGrad(() => tidy(() => withUnconditional(cond)));
  let call = 0;
  const vel = (x: Tensor, sigma: number): Tensor => {
    const rows = useCfg ? 2 * B : B;
    const t = flowTimesteps(B, sigma);
    const pass = model.begin({
      latents: useCfg ? cat([x, x], 0) : x,
      timestep: useCfg ? cat([t, t], 0) : t,
      text: both.text,
      textMask: both.textMask,
      pooled: both.pooled,
      guidance: o.embeddedGuidance !== undefined ? fromArray(new Float32Array(rows).fill(o.embeddedGuidance), [rows]) : undefined,
    });
    const v = cache.run(pass, call++, totalCalls, sigma);
    if (!useCfg) return v;
    const vc = v.slice(0, 0, B);
    const vu = v.slice(0, B);
    return vu.add(vc.sub(vu).mul(g));
  };
  const t0 = performance.now();
  try {
    const latents = integrateFlow(shape, o.seed, sig, sampler, vel, o.onStep);
    return { latents, seconds: (performance.now() - t0) / 1000, calls: call, cache: cache.stats() };
  } finally {
    cache.dispose();
    if (useCfg) {
      both.text.dispose();
      both.pooled?.dispose();
      both.textMask?.dispose();
    }
  }
}
