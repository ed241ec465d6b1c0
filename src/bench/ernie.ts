/**
 * ERNIE 3.0 pre-training step benchmark (`kiln bench ernie-step`): tokens/s and MFU of whole training steps of
 * `Ernie3ForPreTraining` — forward, the task loss (`taskForward`, the trainer's own call), backward, global-norm
 * clip 1.0, AdamW — for the two paths a pre-training step takes:
 *   nlu: knowledge-masked LM — universal module (bidirectional) → NLU module → mlm_head, B × T tokens
 *   nlg: document LM — 2 consecutive segments of B × T tokens through the recurrence memories → NLG → lm_head
 * and `mixed` = both together (sum of FLOPs ÷ sum of step times). Batches are seeded random ids of full length T
 * (15 % of the positions scored for the MLM; next tokens for the LM), so every step has the same shape.
 * Timing: `measureSteps` of src/bench/train-step.ts (estimate, warm-up, best window of consecutive steps; median
 * beside it).
 *
 * FLOPs (model FLOPs, 3 × forward for forward + backward), with d the width, f the FFN width, V the vocabulary:
 *   per token and layer:  2·(4d² + 2·d·f)                       q, k, v, o and the FFN
 *                       + 2·Kv·d + 2·Kv·d + 2·Kv·d            content scores (q+u)·k, position scores (q+v)·W_kR R,
 *                                                             and P·V, over the Kv keys the token sees:
 *                                                             bidirectional Kv = T; causal with M memory keys
 *                                                             Kv = M + (T + 1)/2 on average (memory keys counted)
 *   per token:            2·du·dt (in_proj) + 2·dt·V (mlm_head / lm_head)
 *   per forward and layer: 2·P·d² with P = M + 2T (W_kR over the sinusoids of every relative distance; batch-
 *                          independent)
 * Not counted: embeddings, LayerNorms, softmax, GELU, the relative shift, dropout, the loss, clip, AdamW.
 * MFU = achieved FLOP/s ÷ the measured fp32 FMA peak at the same thread count.
 *
 * The default model is `ernie3-bench` (universal 4 × 512, task modules 2 × 256, vocab 8192, T 128, memory 64; batch
 * 16): wide enough that the step is GEMM-bound, as the ≥ 35 % MFU target presumes. `ernie3-tiny` (64 wide) cannot
 * get there (its GEMMs are [B·T, 64] × [64, 64]; see docs/ernie3.md §9); `--quick` runs ernie3-micro for tests.
 * `--profile` adds a per-kernel breakdown of a few extra steps per path (src/bench/kernel-profile.ts).
 */
import os from 'node:os';
import type { Command } from 'commander';
import { getBackendName } from '../backend/index.js';
import { positiveInt } from '../cli/options.js';
import { KilnError } from '../errors.js';
import { ernie3Config, ERNIE3_PRESETS, type Ernie3Config, type Ernie3ModuleDims } from '../models/ernie3/config.js';
import { Ernie3ForPreTraining } from '../models/ernie3/heads.js';
import { taskForward, type TaskBatch } from '../models/ernie3/multitask.js';
import { IGNORE } from '../models/ernie3/pretrain-data.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { fromArray } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { kernelProfileLines, startKernelProfile, type KernelRow } from './kernel-profile.js';
import { setKilnThreads } from './kiln-threads.js';
import { measurePeak } from './peak.js';
import { measureSteps, type StepMetrics } from './train-step.js';
import { timingOptions, type TimingOptions } from './timing.js';

export const ERNIE_BENCH_PRESET = 'ernie3-bench';

export type ErniePath = 'nlu' | 'nlg';

export interface ErnieStepWorkload {
  preset: string;
  config: Ernie3Config;
  batchSize: number;
  seqLen: number;
}

/**
 * A path's step metrics, plus its median process CPU time per step (all threads): on a machine shared with other
 * jobs the wall-clock step waits for a core; `cpuMfu` = FLOPs ÷ CPU seconds ÷ the ONE-thread peak is what the step's
 * own work achieves per core-second (a thread pool spinning idle counts as CPU time, so it can only read low).
 */
export interface PathMetrics extends StepMetrics {
  cpuMsPerStep: number;
  cpuMfu: number | null;
  /** With `profile`: per-kernel wall time over `profileSteps` extra steps taking `profileMs`. */
  profile?: { steps: number; totalMs: number; rows: KernelRow[] };
}

export interface ErnieStepResult {
  workload: ErnieStepWorkload;
  params: number;
  backend: string;
  threads: number;
  threadsUsed: number;
  nlu: PathMetrics;
  nlg: PathMetrics;
  /** fp32 FMA peak of ONE thread (for the CPU-time MFU). */
  peak1Gflops: number | null;
  /** Both paths together: (FLOPs nlu + nlg) ÷ (best step nlu + nlg). */
  mixed: { tokensPerSecond: number; achievedGflops: number; mfu: number | null; medianMfu: number | null; stepMs: number; cpuMfu: number | null };
  peakGflops: number | null;
}

const layerFlops = (m: Ernie3ModuleDims, keysSeen: number) => 2 * (4 * m.hidden_size ** 2 + 2 * m.hidden_size * m.intermediate_size) + 6 * keysSeen * m.hidden_size;
const relFlops = (m: Ernie3ModuleDims, P: number) => m.num_layers * 2 * P * m.hidden_size ** 2;

/**
 * Training FLOPs of one step (3 × forward) of a path, for B × T tokens (nlg: per segment, `segments` of them; the
 * first has no memory, the later ones min(mem_len, T·k) memory keys).
 */
export function ernieStepFlops(c: Ernie3Config, path: ErniePath, B: number, T: number, segments = 2): number {
  const u = c.universal;
  const t = path === 'nlu' ? c.nlu : c.nlg;
  const V = c.vocab_size;
  const perToken = (Kv: number) => u.num_layers * layerFlops(u, Kv) + t.num_layers * layerFlops(t, Kv) + 2 * u.hidden_size * t.hidden_size + 2 * t.hidden_size * V;
  if (path === 'nlu') return 3 * (B * T * perToken(T) + relFlops(u, 2 * T) + relFlops(t, 2 * T));
  let total = 0;
  for (let s = 0; s < segments; s++) {
    const M = Math.min(c.mem_len, s * T);
    total += B * T * perToken(M + (T + 1) / 2) + relFlops(u, M + 2 * T) + relFlops(t, M + 2 * T);
  }
  return 3 * total;
}

export function ernieStepWorkload(o: { preset?: string; batch?: number; seq?: number; quick: boolean }): ErnieStepWorkload {
  const preset = o.preset ?? (o.quick ? 'ernie3-micro' : ERNIE_BENCH_PRESET);
  if (!ERNIE3_PRESETS[preset]) throw new KilnError('E_CONFIG', `bench ernie-step: unknown preset '${preset}'; known: ${Object.keys(ERNIE3_PRESETS).join(', ')}`);
  const config = ernie3Config(preset);
  const batchSize = o.batch ?? (o.quick ? 2 : 16);
  const seqLen = o.seq ?? config.max_seq_len;
  for (const [name, v] of [['batch size', batchSize], ['sequence length', seqLen]] as const)
    if (!Number.isInteger(v) || v < 1) throw new KilnError('E_ARG', `bench ernie-step: ${name} must be a positive integer, got ${v}`);
  if (seqLen > config.max_seq_len) throw new KilnError('E_ARG', `bench ernie-step: sequence length ${seqLen} exceeds ${preset}'s max_seq_len ${config.max_seq_len}`);
  return { preset, config, batchSize, seqLen };
}

/** A fixed-shape batch of the path: random ids; MLM labels on 15 % of the positions, or next-token labels. */
function batchOf(path: ErniePath, c: Ernie3Config, B: number, T: number, gen: Generator): TaskBatch {
  const i32 = (a: Int32Array) => fromArray(a, [B, T], { dtype: 'i32' });
  const rand = () => Int32Array.from({ length: B * T }, () => 5 + Math.floor(gen.uniform() * (c.vocab_size - 5)));
  if (path === 'nlu') {
    const ids = rand();
    const labels = new Int32Array(B * T).fill(IGNORE);
    for (let i = 0; i < ids.length; i++) if (gen.uniform() < 0.15) labels[i] = ids[i];
    labels[0] = ids[0];
    return { task: 'knowledge_mlm', batch: { inputIds: i32(ids), tokenTypeIds: i32(new Int32Array(B * T)), attentionMask: i32(new Int32Array(B * T).fill(1)), labels: i32(labels), label: null }, segments: [] };
  }
  const segments = [0, 1].map(() => ({ inputIds: i32(rand()), labels: i32(rand()) }));
  return { task: 'document_lm', batch: null, segments };
}

function runPath(model: Ernie3ForPreTraining, path: ErniePath, w: ErnieStepWorkload, timing: TimingOptions, peak: number | null, peak1: number | null, profileSteps: number): PathMetrics {
  const params = model.parameters();
  const opt = new AdamW(
    [{ params: params.filter((p) => p.ndim >= 2) }, { params: params.filter((p) => p.ndim < 2), weightDecay: 0 }],
    { lr: 1e-3, betas: [0.9, 0.98], weightDecay: 0.01 },
  );
  const gen = new Generator(7);
  model.train();
  model.ernie.setDropout(0.1, new Generator(8));
  const cpu: number[] = [];
  try {
    const run = (steps: number) => {
      const durations: number[] = [];
      const losses: number[] = [];
      for (let s = 0; s < steps; s++) {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        const loss = tidy(() => {
          const out = taskForward(model, batchOf(path, w.config, w.batchSize, w.seqLen, gen));
          out.loss.backward();
          return out.loss.item();
        });
        clipGradNorm(params, 1.0);
        opt.step();
        opt.zeroGrad();
        durations.push((performance.now() - t0) / 1000);
        const c = process.cpuUsage(c0);
        cpu.push((c.user + c.system) / 1e6);
        losses.push(loss);
      }
      return { durations, losses };
    };
    const tokens = w.batchSize * w.seqLen * (path === 'nlg' ? 2 : 1);
    const m = measureSteps(run, timing, tokens, ernieStepFlops(w.config, path, w.batchSize, w.seqLen) / tokens, peak);
    const sorted = cpu.slice(1).sort((a, b) => a - b);
    const cpuSec = sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : cpu[0];
    const r: PathMetrics = { ...m, cpuMsPerStep: cpuSec * 1e3, cpuMfu: peak1 ? m.flopPerStep / cpuSec / 1e9 / peak1 : null };
    if (profileSteps > 0) {
      const prof = startKernelProfile({ gemmShapes: true });
      let totalMs = 0;
      try {
        totalMs = run(profileSteps).durations.reduce((a, b) => a + b, 0) * 1e3;
      } finally {
        r.profile = { steps: profileSteps, totalMs, rows: prof.stop() };
      }
    }
    return r;
  } finally {
    opt.dispose();
    model.eval();
  }
}

export async function benchErnieStep(w: ErnieStepWorkload, threads: number, timing: TimingOptions, peakGflops: number | null, peak1Gflops: number | null = null, profileSteps = 0): Promise<ErnieStepResult> {
  const th = await setKilnThreads(threads);
  const model = new Ernie3ForPreTraining(w.config, { generator: new Generator(42) });
  try {
    const nlu = runPath(model, 'nlu', w, timing, peakGflops, peak1Gflops, profileSteps);
    const nlg = runPath(model, 'nlg', w, timing, peakGflops, peak1Gflops, profileSteps);
    const flop = nlu.flopPerStep + nlg.flopPerStep;
    const sec = (nlu.stepMs + nlg.stepMs) / 1000;
    const medSec = (nlu.medianStepMs + nlg.medianStepMs) / 1000;
    const achieved = flop / sec / 1e9;
    return {
      workload: w, params: model.numParameters(), backend: getBackendName(), threads, threadsUsed: th.used, nlu, nlg, peakGflops, peak1Gflops,
      mixed: {
        tokensPerSecond: (nlu.tokensPerStep + nlg.tokensPerStep) / sec, achievedGflops: achieved, stepMs: sec * 1e3,
        mfu: peakGflops ? achieved / peakGflops : null, medianMfu: peakGflops ? flop / medSec / 1e9 / peakGflops : null,
        cpuMfu: peak1Gflops ? flop / ((nlu.cpuMsPerStep + nlg.cpuMsPerStep) / 1e3) / 1e9 / peak1Gflops : null,
      },
    };
  } finally {
    model.dispose();
  }
}

/** The text lines of a result. */
export function ernieStepLines(r: ErnieStepResult): string[] {
  const w = r.workload;
  const c = w.config;
  const f = (x: number, d = 1) => x.toFixed(d);
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);
  const row = (name: string, m: PathMetrics) =>
    `  ${name.padEnd(6)} ${f(m.stepMs).padStart(8)} ${f(m.medianStepMs).padStart(10)} ${Math.round(m.tokensPerSecond).toString().padStart(9)} ${f(m.flopPerStep / 1e9, 3).padStart(10)} ${f(m.achievedGflops).padStart(8)} ${pct(m.mfu).padStart(7)} ${pct(m.peakGflops ? m.flopPerStep / (m.medianStepMs / 1e3) / 1e9 / m.peakGflops : null).padStart(10)} ${f(m.cpuMsPerStep).padStart(8)} ${pct(m.cpuMfu).padStart(8)}`;
  return [
    `ERNIE 3.0 pre-training step: ${w.preset} (${(r.params / 1e6).toFixed(3)}M params incl. heads; universal ${c.universal.num_layers} × ${c.universal.hidden_size}, NLU/NLG ${c.nlu.num_layers} × ${c.nlu.hidden_size}, vocab ${c.vocab_size}), batch ${w.batchSize} × ${w.seqLen}, AdamW, ${r.backend} backend, ${r.threadsUsed} thread(s)`,
    `  path    step ms  median ms  tokens/s  GFLOP/step  GFLOP/s     MFU  median MFU   cpu ms  cpu MFU`,
    row('nlu', r.nlu),
    row('nlg', r.nlg),
    `  mixed  ${f(r.mixed.stepMs).padStart(8)} ${''.padStart(10)} ${Math.round(r.mixed.tokensPerSecond).toString().padStart(9)} ${''.padStart(10)} ${f(r.mixed.achievedGflops).padStart(8)} ${pct(r.mixed.mfu).padStart(7)} ${pct(r.mixed.medianMfu).padStart(10)} ${''.padStart(8)} ${pct(r.mixed.cpuMfu).padStart(8)}`,
    `  nlu = knowledge-masked LM (bidirectional), nlg = document LM (2 segments through the memory); FLOPs = 3 × forward model FLOPs (see src/bench/ernie.ts); peak ${r.peakGflops === null ? 'n/a' : r.peakGflops.toFixed(0)} GFLOP/s (1 thread: ${r.peak1Gflops === null ? 'n/a' : r.peak1Gflops.toFixed(0)}); cpu MFU = FLOPs ÷ median CPU s per step ÷ 1-thread peak`,
    ...(['nlu', 'nlg'] as const).flatMap((p) => {
      const pr = r[p].profile;
      return pr ? [`  ${p}: per-kernel wall time over ${pr.steps} extra steps (${(pr.totalMs / pr.steps).toFixed(1)} ms/step)`, ...kernelProfileLines(pr.rows, pr.totalMs, pr.steps, 30)] : [];
    }),
  ];
}

/** `kiln bench ernie-step [--config <preset>] [--batch B] [--seq T] [--threads n] [--quick] [--json]` on the bench command. */
export function registerErnieBenchCommand(bench: Command): void {
  bench.command('ernie-step')
    .description('ERNIE 3.0 pre-training step (knowledge-masked LM and document LM paths): tokens/s and MFU')
    .option('--config <preset>', `ERNIE 3.0 preset (default ${ERNIE_BENCH_PRESET}; quick: ernie3-micro)`)
    .option('--batch <B>', 'sequences per step (default 16)', positiveInt)
    .option('--seq <T>', 'tokens per sequence / segment (default max_seq_len)', positiveInt)
    .option('--threads <t>', 'threads (default: all hardware threads)', positiveInt)
    .option('--quick', 'short measurement on ernie3-micro (tests)')
    .option('--profile [steps]', 'per-kernel time breakdown over extra steps per path (default 2)')
    .option('--json', 'print one JSON object')
    .action(async (o: { config?: string; batch?: number; seq?: number; threads?: number; quick?: boolean; profile?: boolean | string; json?: boolean }) => {
      const quick = o.quick ?? false;
      const threads = o.threads ?? (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
      const w = ernieStepWorkload({ preset: o.config, batch: o.batch, seq: o.seq, quick });
      const peak = await measurePeak(threads, quick);
      // a probe can only read low on a busy machine, and one thread's peak is at least the n-thread peak ÷ n
      const peak1 = threads === 1 ? peak : await measurePeak(1, quick);
      const perThread = peak1.gflops === null ? null : Math.max(peak1.gflops, (peak.gflops ?? 0) / threads);
      const profileSteps = o.profile === undefined || o.profile === false ? 0 : o.profile === true ? 2 : positiveInt(o.profile);
      const r = await benchErnieStep(w, threads, timingOptions(quick), peak.gflops, perThread, profileSteps);
      if (o.json) {
        const m = (x: PathMetrics) => ({
          tokens_per_s: x.tokensPerSecond, mfu: x.mfu, step_ms: x.stepMs, median_step_ms: x.medianStepMs, flop_per_step: x.flopPerStep, achieved_gflops: x.achievedGflops,
          measured_steps: x.measuredSteps, cpu_ms_per_step: x.cpuMsPerStep, cpu_mfu: x.cpuMfu, loss: [x.firstLoss, x.lastLoss],
          ...(x.profile ? { profile: { steps: x.profile.steps, total_ms: x.profile.totalMs, kernels: x.profile.rows } } : {}),
        });
        process.stdout.write(`${JSON.stringify({
          bench: 'ernie-step', value: r.mixed.tokensPerSecond, unit: 'tokens/s', mfu: r.mixed.mfu, median_mfu: r.mixed.medianMfu, cpu_mfu: r.mixed.cpuMfu, peak_gflops: r.peakGflops,
          peak1_gflops: r.peak1Gflops, model: w.preset, params: r.params, batch_size: w.batchSize, seq_len: w.seqLen, threads, threads_used: r.threadsUsed, backend: r.backend,
          nlu: m(r.nlu), nlg: m(r.nlg), target_mfu: 0.35, target_met: quick ? null : (r.mixed.mfu ?? 0) >= 0.35,
        })}\n`);
      } else process.stdout.write(`${ernieStepLines(r).join('\n')}\n`);
      if (!Number.isFinite(r.nlu.lastLoss) || !Number.isFinite(r.nlg.lastLoss)) process.exitCode = 1;
    });
}
