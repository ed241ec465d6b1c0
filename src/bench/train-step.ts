/**
 * Training-step benchmark: the small GPT (src/models/gpt/) trained by the library's own loop
 * (src/train/lm.ts `trainLanguageModel`: batch sampling, forward, cross-entropy, backward, global-norm clipping,
 * AdamW) on a seeded random token stream, timed per step from the loop's own step callback.
 *
 * Method: one step to estimate its cost, then `warmupSteps` steps that are discarded, then enough steps to fill
 * `runs` windows of ≥ minSeconds each (windows of consecutive steps); the best window's mean step time is reported
 * (best-of-windows, like every other benchmark here), the median step time beside it. A step slower than the
 * single-call limit gets no discarded warm-up beyond the estimate and 2 one-step windows.
 *
 * FLOPs per step = tokens × gptTrainFlopsPerToken(config, T) (src/models/gpt/config.ts), i.e.
 *   6 × N_matmul                (forward 2 + backward 4 FLOP per weight per token; N_matmul = every weight that
 *                                 takes part in a matmul: attention and MLP projections and the LM head — not the
 *                                 input embedding lookup nor the norm gains)
 * + 6 × layers × T × d          (attention scores QKᵀ and P·V: 2·T·d each per token forward, halved by the causal
 *                                 mask, ×3 for forward + backward)
 * per token. MFU = (FLOPs per step ÷ step seconds) ÷ the measured fp32 FMA peak at the same thread count.
 */
import { readFileSync } from 'node:fs';
import { getBackendName } from '../backend/index.js';
import { KilnError } from '../errors.js';
import { GPT_PRESETS, gptConfig, gptParamCount, gptTrainFlopsPerToken, type GptConfig } from '../models/gpt/config.js';
import { Gpt } from '../models/gpt/model.js';
import { Generator } from '../tensor/random.js';
import { trainLanguageModel } from '../train/lm.js';
import { setKilnThreads } from './kiln-threads.js';
import type { TimingOptions } from './timing.js';

export interface TrainStepWorkload {
  /** Where the model config came from: a preset name or a config file path. */
  source: string;
  config: GptConfig;
  batchSize: number;
  seqLen: number;
  note: string | null;
}

/** The timing and throughput of a training-step run, shared by every model family's training-step benchmark. */
export interface StepMetrics {
  tokensPerStep: number;
  flopPerToken: number;
  flopPerStep: number;
  stepMs: number;
  medianStepMs: number;
  tokensPerSecond: number;
  achievedGflops: number;
  peakGflops: number | null;
  /** Model FLOPs utilisation: achieved FLOP/s ÷ measured peak. */
  mfu: number | null;
  measuredSteps: number;
  windows: number;
  firstLoss: number;
  lastLoss: number;
}

export interface TrainStepResult extends StepMetrics {
  workload: TrainStepWorkload;
  backend: string;
  threads: number;
  threadsUsed: number;
  params: number;
}

/** Per-step durations (s) from the cumulative seconds a training loop reports after each step. */
export function stepDurations(ends: readonly number[]): number[] {
  return ends.map((e, i) => e - (i === 0 ? 0 : ends[i - 1]));
}

/**
 * Times a training loop by the method in the file header: `run(steps)` trains that many steps and returns each
 * step's duration (s) and loss; the result holds the step metrics for `tokensPerStep` tokens of `flopPerToken`.
 */
export function measureSteps(
  run: (steps: number) => { durations: number[]; losses: number[] }, timing: TimingOptions,
  tokensPerStep: number, flopPerToken: number, peakGflops: number | null,
): StepMetrics {
  // estimate (also the first warm-up step), then size the measured run
  const est = run(1).durations[0];
  const slow = est > timing.singleCallSeconds;
  const warmupSteps = slow ? 0 : timing.warmupCalls;
  const perWindow = Math.max(1, Math.ceil(timing.minSeconds / Math.max(est, 1e-6)));
  const windows = slow ? 2 : timing.runs;
  const { durations, losses } = run(warmupSteps + perWindow * windows);
  const measured = durations.slice(warmupSteps);
  let best = Infinity;
  for (let wi = 0; wi < windows; wi++) {
    const win = measured.slice(wi * perWindow, (wi + 1) * perWindow);
    best = Math.min(best, win.reduce((a, b) => a + b, 0) / win.length);
  }
  const sorted = [...measured].sort((a, b) => a - b);
  const flopPerStep = flopPerToken * tokensPerStep;
  const achievedGflops = flopPerStep / best / 1e9;
  return {
    tokensPerStep,
    flopPerToken,
    flopPerStep,
    stepMs: best * 1e3,
    medianStepMs: sorted[Math.floor((sorted.length - 1) / 2)] * 1e3,
    tokensPerSecond: tokensPerStep / best,
    achievedGflops,
    peakGflops,
    mfu: peakGflops ? achievedGflops / peakGflops : null,
    measuredSteps: measured.length,
    windows,
    firstLoss: losses[0],
    lastLoss: losses[losses.length - 1],
  };
}

/**
 * The workload: `configPath` (a JSON file of GPT config keys — HF `config.json` names; an optional "preset" key
 * picks the base, "batch_size" / "seq_len" set the batch) when given, else the benchmark model `gpt-small` with
 * batch 8 × 128 tokens — or, on the TypeScript reference backend, `gpt-tiny` with 4 × 64 (gpt-small would take
 * minutes per step there; the note says so). Quick mode: gpt-tiny, 2 × 16.
 */
export function trainStepWorkload(o: { configPath?: string; batch?: number; seq?: number; quick: boolean }): TrainStepWorkload {
  let base: Partial<GptConfig> = {};
  let source = 'gpt-small';
  let batch = 8;
  let seq = 128;
  let note: string | null = null;
  if (o.configPath) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(o.configPath, 'utf8'));
    } catch (e) {
      throw new KilnError('E_CONFIG', `bench train-step: cannot read --config ${o.configPath}: ${(e as Error).message}; pass a JSON file of GPT config keys (hidden_size, num_hidden_layers, ...)`);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new KilnError('E_CONFIG', `bench train-step: --config ${o.configPath} must hold a JSON object of GPT config keys`);
    const { preset, batch_size: b, seq_len: s, ...rest } = raw as Record<string, unknown>;
    if (preset !== undefined) {
      if (typeof preset !== 'string' || !GPT_PRESETS[preset])
        throw new KilnError('E_CONFIG', `bench train-step: --config ${o.configPath}: unknown preset ${JSON.stringify(preset)}; known: ${Object.keys(GPT_PRESETS).join(', ')}`);
      base = { ...GPT_PRESETS[preset] };
    }
    base = { ...base, ...(rest as Partial<GptConfig>) };
    if (b !== undefined) batch = Number(b);
    if (s !== undefined) seq = Number(s);
    source = o.configPath;
  } else if (o.quick) {
    source = 'gpt-tiny';
    batch = 2;
    seq = 16;
  } else if (getBackendName() === 'ts') {
    source = 'gpt-tiny';
    batch = 4;
    seq = 64;
    note = 'ts reference backend: gpt-tiny 4 × 64 instead of gpt-small 8 × 128 (minutes per step on the reference kernels)';
  }
  if (!o.configPath) base = { ...GPT_PRESETS[source] };
  batch = o.batch ?? batch;
  seq = o.seq ?? seq;
  for (const [name, v] of [['batch size', batch], ['sequence length', seq]] as const)
    if (!Number.isInteger(v) || v < 1) throw new KilnError('E_ARG', `bench train-step: ${name} must be a positive integer, got ${v}`);
  const config = gptConfig(base);
  if (seq > config.max_position_embeddings)
    throw new KilnError('E_ARG', `bench train-step: sequence length ${seq} exceeds the model's max_position_embeddings ${config.max_position_embeddings}`);
  return { source, config, batchSize: batch, seqLen: seq, note };
}

/** Seeded uniform random tokens in [0, vocab). */
function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  const gen = new Generator(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(vocab - 1, Math.floor(gen.uniform() * vocab));
  return out;
}

export async function benchTrainStep(w: TrainStepWorkload, threads: number, timing: TimingOptions, peakGflops: number | null): Promise<TrainStepResult> {
  const th = await setKilnThreads(threads);
  const c = w.config;
  const tokensPerStep = w.batchSize * w.seqLen;
  const tokens = randomTokens(Math.max(4 * tokensPerStep, 4096) + w.seqLen + 2, c.vocab_size, 7);
  const model = new Gpt(c, { generator: new Generator(42) });
  try {
    const run = (steps: number) => {
      const ends: number[] = [];
      const { losses } = trainLanguageModel(model, tokens, {
        steps, batchSize: w.batchSize, seqLen: w.seqLen, lr: 1e-3, warmup: 0, seed: 3,
        onStep: (s) => ends.push(s.seconds),
      });
      return { durations: stepDurations(ends), losses };
    };
    const metrics = measureSteps(run, timing, tokensPerStep, gptTrainFlopsPerToken(c, w.seqLen), peakGflops);
    return { workload: w, backend: getBackendName(), threads, threadsUsed: th.used, params: gptParamCount(c), ...metrics };
  } finally {
    model.dispose();
  }
}
