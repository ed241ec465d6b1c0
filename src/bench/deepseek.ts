/**
 * DeepSeek-V3 benchmarks (issue 3's "Targets"): training step, greedy cached decode and prefill of a DeepSeek-V3
 * config (a preset name such as `deepseek-v3-bench`, or an HF `config.json` with `model_type: deepseek_v3` — or a
 * JSON whose "preset" key names a DeepSeek-V3 preset) with random weights (seeded) on seeded random tokens.
 *
 * - train-step: `trainDeepseekV3` (src/train/deepseek-v3.ts) — batch sampling, forward, CE + λ·MTP CE + α·balance,
 *   backward, global-norm clip, AdamW, routing-bias update — timed per step from its step callback; the same
 *   warm-up / windows / best-window method as the GPT train-step benchmark (src/bench/train-step.ts).
 *   FLOPs per token = flopsPerToken(c, { seqLen: T, training: true }) (src/models/deepseek-v3/config.ts): 3 × 2 ×
 *   (activated matmul weights of every layer incl. router and LM head + q·k and p·v over the causal average context
 *   (T + 1) / 2) plus the MTP modules (their block, eh_proj and the shared head).
 * - decode: `generate` (src/infer/deepseek-v3.ts), greedy, batch 1, over the latent cache; tokens/s counts only the
 *   cached single-token forwards after the prefill: (new tokens − 1) ÷ (time of the last token − time of the first).
 *   One untimed warm-up generation, then `runs` timed generations; the best is reported.
 * - prefill: one `forwardCached` of [batch, T] tokens into an empty latent cache (the prefill `generate` does).
 *   MFU counts model FLOPs: flopsPerToken(c, { seqLen: T, training: false, mtp: false }) (the expanded-attention form;
 *   the absorbed path does somewhat different attention work).
 * MFU = achieved FLOP/s ÷ the measured fp32 FMA peak at the same thread count.
 */
import { existsSync, readFileSync } from 'node:fs';
import { getBackendName } from '../backend/index.js';
import { KilnError } from '../errors.js';
import { DEEPSEEK_V3_PRESETS, deepseekV3Config, flopsPerToken, paramCounts, type DeepseekV3Config } from '../models/deepseek-v3/config.js';
import { DeepseekV3ForCausalLM } from '../models/deepseek-v3/model.js';
import { generate } from '../infer/deepseek-v3.js';
import { fromArray } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { trainDeepseekV3 } from '../train/deepseek-v3.js';
import { DEEPSEEK_BENCH_PRESET, DEEPSEEK_TARGETS } from './deepseek-constants.js';
import { measureSteps, stepDurations, type StepMetrics } from './train-step.js';
import { setKilnThreads } from './kiln-threads.js';
import { timeSync, type TimingOptions } from './timing.js';

export { DEEPSEEK_BENCH_PRESET, DEEPSEEK_TARGETS };

export interface DeepseekSource {
  /** The preset name or config file path. */
  source: string;
  config: DeepseekV3Config;
  /** "batch_size" / "seq_len" from a config file, if it had them. */
  batch?: number;
  seq?: number;
}

function readJsonObject(p: string): Record<string, unknown> | null {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    return null;
  }
  return raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
}

/**
 * The DeepSeek-V3 config named by a `--config` argument, or null when it names something else (a GPT config file,
 * which the GPT train-step path reads). Throws when it is neither a known preset nor a readable file.
 */
export function deepseekSource(arg: string): DeepseekSource | null {
  if (DEEPSEEK_V3_PRESETS[arg]) return { source: arg, config: deepseekV3Config(arg) };
  if (!existsSync(arg)) {
    if (/^deepseek/i.test(arg))
      throw new KilnError('E_CONFIG', `bench: unknown DeepSeek-V3 preset '${arg}'; known: ${Object.keys(DEEPSEEK_V3_PRESETS).join(', ')} (or pass a config.json path)`);
    return null;
  }
  const o = readJsonObject(arg);
  if (!o) return null;
  const { preset, batch_size: b, seq_len: s, ...rest } = o;
  const isPreset = typeof preset === 'string' && DEEPSEEK_V3_PRESETS[preset] !== undefined;
  if (rest.model_type !== 'deepseek_v3' && !isPreset) return null;
  const base = isPreset ? DEEPSEEK_V3_PRESETS[preset as string] : {};
  const config = deepseekV3Config({ ...base, ...rest });
  return { source: arg, config, batch: b === undefined ? undefined : Number(b), seq: s === undefined ? undefined : Number(s) };
}

function positive(name: string, v: number, max?: number, maxName?: string): number {
  if (!Number.isInteger(v) || v < 1) throw new KilnError('E_ARG', `bench: ${name} must be a positive integer, got ${v}`);
  if (max !== undefined && v > max) throw new KilnError('E_ARG', `bench: ${name} ${v} exceeds the model's ${maxName} ${max}`);
  return v;
}

/** Seeded uniform random tokens in [0, vocab). */
function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  const gen = new Generator(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(vocab - 1, Math.floor(gen.uniform() * vocab));
  return out;
}

const newModel = (c: DeepseekV3Config) => new DeepseekV3ForCausalLM(c, { generator: new Generator(42) });

export interface DeepseekTrainResult extends StepMetrics {
  bench: 'train-step';
  model: string;
  config: DeepseekV3Config;
  batchSize: number;
  seqLen: number;
  backend: string;
  threads: number;
  threadsUsed: number;
  paramsTotal: number;
  paramsActivated: number;
}

/** The training-step benchmark (see the file header). Default batch 8 × 256; quick 2 × 16. */
export function benchDeepseekTrainStep(
  src: DeepseekSource, o: { batch?: number; seq?: number; quick: boolean }, threadsUsed: number, threads: number, timing: TimingOptions, peakGflops: number | null,
): DeepseekTrainResult {
  const c = src.config;
  const batch = positive('batch size', o.batch ?? src.batch ?? (o.quick ? 2 : 8));
  const seq = positive('sequence length', o.seq ?? src.seq ?? (o.quick ? 16 : 256), c.max_position_embeddings, 'max_position_embeddings');
  const tokensPerStep = batch * seq;
  const tokens = randomTokens(Math.max(4 * tokensPerStep, 4096) + seq + 2, c.vocab_size, 7);
  const model = newModel(c);
  try {
    const run = (steps: number) => {
      const ends: number[] = [];
      const { logs } = trainDeepseekV3(model, tokens, { steps, batchSize: batch, seqLen: seq, lr: 1e-3, seed: 3, onStep: (s) => ends.push(s.seconds) });
      return { durations: stepDurations(ends), losses: logs.map((l) => l.loss) };
    };
    const metrics = measureSteps(run, timing, tokensPerStep, flopsPerToken(c, { seqLen: seq, training: true }), peakGflops);
    const p = paramCounts(c);
    return {
      bench: 'train-step', model: src.source, config: c, batchSize: batch, seqLen: seq, backend: getBackendName(), threads, threadsUsed,
      paramsTotal: p.params_total, paramsActivated: p.params_activated, ...metrics,
    };
  } finally {
    model.dispose();
  }
}

export interface DeepseekDecodeResult {
  bench: 'decode';
  model: string;
  promptLen: number;
  newTokens: number;
  backend: string;
  threads: number;
  threadsUsed: number;
  /** Decode tokens/s after the prefill (best run). */
  tokensPerSecond: number;
  medianTokensPerSecond: number;
  /** generate()'s own figure: new tokens ÷ wall time including the prefill (best run). */
  tokensPerSecondWithPrefill: number;
  msPerToken: number;
  runs: number;
  /** The greedy continuation of the last run (identical every run: a check that decoding is deterministic). */
  ids: number[];
  deterministic: boolean;
}

/** Greedy decode at batch 1 (see the file header). Default prompt 16, 128 new tokens; quick 4 and 8. */
export function benchDeepseekDecode(
  src: DeepseekSource, o: { promptLen?: number; newTokens?: number; quick: boolean }, threadsUsed: number, threads: number, timing: TimingOptions,
): DeepseekDecodeResult {
  const c = src.config;
  const promptLen = positive('prompt length', o.promptLen ?? (o.quick ? 4 : 16));
  const newTokens = positive('new tokens', o.newTokens ?? (o.quick ? 8 : 128));
  if (newTokens < 2) throw new KilnError('E_ARG', 'bench decode: --new-tokens must be ≥ 2 (the first token comes from the prefill)');
  positive('prompt length + new tokens', promptLen + newTokens, c.max_position_embeddings, 'max_position_embeddings');
  const prompt = randomTokens(promptLen, c.vocab_size, 11);
  const model = newModel(c);
  model.eval();
  try {
    const once = () => {
      const stamps: number[] = [];
      const r = generate(model, prompt, { maxNewTokens: newTokens, greedy: true, onToken: () => stamps.push(performance.now()) });
      const decodeSeconds = (stamps[stamps.length - 1] - stamps[0]) / 1e3;
      return { tps: (stamps.length - 1) / decodeSeconds, withPrefill: r.tokensPerSecond, ids: Array.from(r.ids) };
    };
    once(); // warm-up
    const runs = Math.max(2, timing.runs);
    const results = Array.from({ length: runs }, once);
    const tps = results.map((r) => r.tps).sort((a, b) => b - a);
    const last = results[results.length - 1];
    return {
      bench: 'decode', model: src.source, promptLen, newTokens, backend: getBackendName(), threads, threadsUsed,
      tokensPerSecond: tps[0], medianTokensPerSecond: tps[Math.floor((tps.length - 1) / 2)],
      tokensPerSecondWithPrefill: Math.max(...results.map((r) => r.withPrefill)), msPerToken: 1e3 / tps[0], runs,
      ids: last.ids, deterministic: results.every((r) => r.ids.join() === last.ids.join()),
    };
  } finally {
    model.dispose();
  }
}

export interface DeepseekPrefillResult {
  bench: 'prefill';
  model: string;
  batchSize: number;
  seqLen: number;
  backend: string;
  threads: number;
  threadsUsed: number;
  ms: number;
  medianMs: number;
  tokensPerSecond: number;
  flopPerToken: number;
  achievedGflops: number;
  peakGflops: number | null;
  mfu: number | null;
  runs: number;
  /** Sum of |logits| at the last position (finite: a sanity check that the forward produced numbers). */
  logitCheck: number;
}

/** Prefill of [batch, T] random tokens into an empty latent cache (see the file header). Default 1 × 256; quick 1 × 16. */
export function benchDeepseekPrefill(
  src: DeepseekSource, o: { batch?: number; seq?: number; quick: boolean }, threadsUsed: number, threads: number, timing: TimingOptions, peakGflops: number | null,
): DeepseekPrefillResult {
  const c = src.config;
  const batch = positive('batch size', o.batch ?? 1);
  const seq = positive('sequence length', o.seq ?? src.seq ?? (o.quick ? 16 : 256), c.max_position_embeddings, 'max_position_embeddings');
  const ids = randomTokens(batch * seq, c.vocab_size, 13);
  const model = newModel(c);
  model.eval();
  let logitCheck = NaN;
  try {
    const once = () => {
      const cache = model.newCache(batch);
      try {
        tidy(() => {
          const r = model.forwardCached(fromArray(ids, [batch, seq]), cache);
          const v = r.logits.data() as Float32Array;
          let s = 0;
          for (let i = v.length - c.vocab_size; i < v.length; i++) s += Math.abs(v[i]);
          logitCheck = s;
        });
      } finally {
        cache.dispose();
      }
    };
    const t = timeSync(once, timing);
    const flopPerToken = flopsPerToken(c, { seqLen: seq, training: false, mtp: false });
    const achievedGflops = (flopPerToken * batch * seq) / t.seconds / 1e9;
    return {
      bench: 'prefill', model: src.source, batchSize: batch, seqLen: seq, backend: getBackendName(), threads, threadsUsed,
      ms: t.seconds * 1e3, medianMs: t.medianSeconds * 1e3, tokensPerSecond: (batch * seq) / t.seconds, flopPerToken, achievedGflops,
      peakGflops, mfu: peakGflops ? achievedGflops / peakGflops : null, runs: t.runs, logitCheck,
    };
  } finally {
    model.dispose();
  }
}

/** Sets the Kiln thread count and returns how many are in use. */
export async function deepseekThreads(threads: number): Promise<number> {
  return (await setKilnThreads(threads)).used;
}

export interface DeepseekSuiteResult {
  config: string;
  trainStep: DeepseekTrainResult;
  decode: DeepseekDecodeResult;
  prefill: DeepseekPrefillResult;
  targets: { trainMfu: number; decodeTokensPerSecond: number };
  /** null when not applicable: MFU could not be computed (no peak), or a quick run on another config. */
  trainMfuMet: boolean | null;
  decodeMet: boolean | null;
}

/** The three rows for the bench config (quick: deepseek-v3-micro with tiny sizes), for `npm run bench`. */
export async function benchDeepseekSuite(quick: boolean, threads: number, timing: TimingOptions, peakGflops: number | null, log: (s: string) => void): Promise<DeepseekSuiteResult> {
  const name = quick ? 'deepseek-v3-micro' : DEEPSEEK_BENCH_PRESET;
  const src: DeepseekSource = { source: name, config: deepseekV3Config(name) };
  const used = await deepseekThreads(threads);
  log(`deepseek-v3: ${name} train step`);
  const trainStep = benchDeepseekTrainStep(src, { quick }, used, threads, timing, peakGflops);
  log(`deepseek-v3: ${name} decode`);
  const decode = benchDeepseekDecode(src, { quick }, used, threads, timing);
  log(`deepseek-v3: ${name} prefill`);
  const prefill = benchDeepseekPrefill(src, { quick }, used, threads, timing, peakGflops);
  const r: DeepseekSuiteResult = {
    config: name, trainStep, decode, prefill, targets: { ...DEEPSEEK_TARGETS },
    trainMfuMet: null,
    decodeMet: name === DEEPSEEK_BENCH_PRESET ? decode.tokensPerSecond >= DEEPSEEK_TARGETS.decodeTokensPerSecond : null,
  };
  applyDeepseekPeak(r, peakGflops);
  return r;
}

/** Recomputes the MFU figures with a (re-probed) peak. */
export function applyDeepseekPeak(r: DeepseekSuiteResult, peakGflops: number | null): void {
  for (const x of [r.trainStep, r.prefill]) {
    x.peakGflops = peakGflops;
    x.mfu = peakGflops ? x.achievedGflops / peakGflops : null;
  }
  r.trainMfuMet = r.trainStep.mfu === null || r.config !== DEEPSEEK_BENCH_PRESET ? null : r.trainStep.mfu >= r.targets.trainMfu;
}
