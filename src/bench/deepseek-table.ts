/**
 * Plain-text rendering of the DeepSeek-V3 benchmark rows (src/bench/deepseek.ts): the training step, greedy decode
 * and prefill, each with the target and whether this run met it ("NOT met" said plainly).
 */
import { DEEPSEEK_BENCH_PRESET } from './deepseek-constants.js';
import type { DeepseekDecodeResult, DeepseekPrefillResult, DeepseekSuiteResult, DeepseekTrainResult } from './deepseek.js';
import type { Unavailable } from './suite.js';
import { fmt, grid } from './table.js';

function pct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : `${(v * 100).toFixed(1)}%`;
}

const met = (v: boolean | null, why: string): string => (v === null ? `n/a (${why})` : v ? 'met' : 'NOT met');

export function deepseekTrainLines(t: DeepseekTrainResult): string[] {
  return [
    `DeepSeek-V3 training step: ${t.model} (${(t.paramsTotal / 1e6).toFixed(2)}M params, ${(t.paramsActivated / 1e6).toFixed(2)}M activated), batch ${t.batchSize} × ${t.seqLen}, fwd + CE/MTP/balance loss + bwd + clip + AdamW, ${t.backend} backend, ${t.threadsUsed} thread(s)`,
    ...grid(['step ms', 'tokens/s', 'GFLOP/step', 'GFLOP/s', 'MFU'], [[fmt(t.stepMs), fmt(t.tokensPerSecond), fmt(t.flopPerStep / 1e9), fmt(t.achievedGflops), pct(t.mfu)]]),
    `  FLOPs per token = flopsPerToken(c, {seqLen: ${t.seqLen}, training: true}) = ${fmt(t.flopPerToken / 1e6)} MFLOP (3 × fwd, MTP included); best of ${t.windows} window(s) over ${t.measuredSteps} step(s); median step ${fmt(t.medianStepMs)} ms`,
  ];
}

export function deepseekDecodeLines(d: DeepseekDecodeResult): string[] {
  return [
    `DeepSeek-V3 greedy decode: ${d.model}, batch 1, prompt ${d.promptLen}, ${d.newTokens} new tokens, latent cache, ${d.backend} backend, ${d.threadsUsed} thread(s)`,
    ...grid(['tokens/s', 'ms/token', 'median tokens/s', 'tokens/s incl. prefill'], [[fmt(d.tokensPerSecond), fmt(d.msPerToken), fmt(d.medianTokensPerSecond), fmt(d.tokensPerSecondWithPrefill)]]),
    `  best of ${d.runs} runs after a warm-up; tokens/s = cached single-token steps after the prefill ÷ their time${d.deterministic ? '' : '; WARNING: runs gave different tokens'}`,
  ];
}

export function deepseekPrefillLines(p: DeepseekPrefillResult): string[] {
  return [
    `DeepSeek-V3 prefill: ${p.model}, batch ${p.batchSize} × ${p.seqLen} into an empty latent cache, ${p.backend} backend, ${p.threadsUsed} thread(s)`,
    ...grid(['ms', 'tokens/s', 'GFLOP/s', 'MFU'], [[fmt(p.ms), fmt(p.tokensPerSecond), fmt(p.achievedGflops), pct(p.mfu)]]),
    `  FLOPs per token = flopsPerToken(c, {seqLen: ${p.seqLen}, training: false, mtp: false}) = ${fmt(p.flopPerToken / 1e6)} MFLOP (model FLOPs, expanded-attention form)`,
  ];
}

export function deepseekSuiteLines(r: DeepseekSuiteResult | Unavailable): string[] {
  if ('unavailable' in r) return ['DeepSeek-V3 (issue 3 bench config)', `  not available: ${r.unavailable}`];
  const head = `targets (issue 3, ${DEEPSEEK_BENCH_PRESET}): training MFU ≥ ${pct(r.targets.trainMfu)}, decode ≥ ${r.targets.decodeTokensPerSecond} tokens/s`;
  const verdict = r.config !== DEEPSEEK_BENCH_PRESET
    ? `${head}: not judged (quick run on ${r.config})`
    : `${head}: training ${met(r.trainMfuMet, 'no measured peak')} (measured ${pct(r.trainStep.mfu)}), decode ${met(r.decodeMet, '')} (measured ${fmt(r.decode.tokensPerSecond)} tokens/s)`;
  return [
    ...deepseekTrainLines(r.trainStep),
    '',
    ...deepseekDecodeLines(r.decode),
    '',
    ...deepseekPrefillLines(r.prefill),
    '',
    verdict,
  ];
}
