/**
 * The Aquarius and ERNIE 3.0 rows of `npm run bench` (issues 5 and 6): the Single-DiT training step, the diffusion
 * cache's speed-up and quality, the causal VAE's throughput and decode memory, and the ERNIE 3.0 pre-training step.
 * Each part is imported and run on its own, so one that fails costs only its rows (reported with the reason).
 */
import type { DitStepResult } from './dit-step.js';
import type { VideoCacheResult } from './aquarius-cache.js';
import type { VaeMemory, VaeThroughput } from './aquarius-vae.js';
import type { ErnieStepResult } from './ernie.js';
import type { TimingOptions } from './timing.js';
import type { Unavailable } from './suite.js';

export interface ModelSuiteResult {
  ditStep: DitStepResult | Unavailable;
  videoCache: VideoCacheResult | Unavailable;
  vae: { throughput: VaeThroughput; memory: VaeMemory } | Unavailable;
  ernieStep: ErnieStepResult | Unavailable;
}

async function part<T>(name: string, run: () => Promise<T>): Promise<T | Unavailable> {
  try {
    return await run();
  } catch (e) {
    return { unavailable: `${name} did not run: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Runs the four parts at `threads` (the video cache at 1: the tiny demo model is dispatch-bound). */
export async function benchModelSuite(quick: boolean, threads: number, timing: TimingOptions, peakGflops: number | null, log: (line: string) => void): Promise<ModelSuiteResult> {
  log('aquarius: Single-DiT training step');
  const ditStep = await part('dit-step', async () => {
    const { benchDitStep, ditStepWorkload } = await import('./dit-step.js');
    return benchDitStep(ditStepWorkload({ quick }), threads, quick, peakGflops);
  });
  log('aquarius: diffusion cache (trains the tiny demo model first)');
  const videoCache = await part('video-cache', async () => (await import('./aquarius-cache.js')).benchVideoCache({ quick, log }));
  log('aquarius: causal VAE throughput and decode memory');
  const vae = await part('vae', async () => {
    const { benchVaeMemory, benchVaeThroughput } = await import('./aquarius-vae.js');
    const size = quick ? 32 : 64;
    return { throughput: benchVaeThroughput({ size, frames: quick ? 5 : 17, quick }), memory: benchVaeMemory({ size, frames: quick ? [5, 9, 17] : undefined }) };
  });
  log('ernie: pre-training step');
  const ernieStep = await part('ernie-step', async () => {
    const { benchErnieStep, ernieStepWorkload } = await import('./ernie.js');
    return benchErnieStep(ernieStepWorkload({ quick }), threads, timing, peakGflops, peakGflops === null ? null : peakGflops / threads);
  });
  return { ditStep, videoCache, vae, ernieStep };
}

export async function modelSuiteLines(r: ModelSuiteResult): Promise<string[]> {
  const or = (x: object, lines: () => string[]) => ('unavailable' in x ? [`  not available: ${(x as Unavailable).unavailable}`] : lines());
  const { ditStepLines } = await import('./dit-step.js');
  const { videoCacheLines } = await import('./aquarius-cache.js');
  const { vaeBenchLines } = await import('./aquarius-vae.js');
  const { ernieStepLines } = await import('./ernie.js');
  return [
    'Aquarius (issue 5)',
    ...or(r.ditStep, () => ditStepLines(r.ditStep as DitStepResult)),
    '',
    ...or(r.videoCache, () => videoCacheLines(r.videoCache as VideoCacheResult)),
    '',
    ...or(r.vae, () => { const v = r.vae as { throughput: VaeThroughput; memory: VaeMemory }; return vaeBenchLines(v.throughput, v.memory); }),
    '',
    'ERNIE 3.0 (issue 6)',
    ...or(r.ernieStep, () => ernieStepLines(r.ernieStep as ErnieStepResult)),
  ];
}
