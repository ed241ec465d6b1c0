/**
 * The whole benchmark suite in one process, so every ratio compares numbers measured in the same run on the same
 * machine state: machine → fp32 FMA peak (1 and 2 threads) → sgemm for Kiln and peers (each n, each thread count)
 * → fused attention → per-op dispatch overhead → training step → DeepSeek-V3 training step, decode and prefill
 * (src/bench/deepseek.ts) → Aquarius DiT step, diffusion cache, VAE and ERNIE 3.0 step (src/bench/models.ts). A part that cannot run (missing addon, missing
 * peer, a module not yet in the build) is reported with the reason instead of a number. The attention,
 * training-step and DeepSeek-V3 benchmarks are imported lazily, so a problem in those layers (or their absence) costs only their
 * own rows, never the peak/GEMM/overhead numbers.
 */
import os from 'node:os';
import type { AttentionResult } from './attention.js';
import { benchGemm, loadGemmPeers, type GemmResult } from './gemm.js';
import { machineInfo, type MachineInfo } from './machine.js';
import { benchOverhead, type OverheadResult } from './overhead.js';
import { measurePeak, mergePeaks, type PeakResult } from './peak.js';
import { describeTiming, timingOptions } from './timing.js';
import type { TrainStepResult } from './train-step.js';
import type { DeepseekSuiteResult } from './deepseek.js';
import type { ModelSuiteResult } from './models.js';
import type { MissingPeer } from './peers/peer.js';

export interface Unavailable {
  unavailable: string;
}

export interface SuiteOptions {
  quick: boolean;
  sizes: number[];
  threads: number[];
  /** Thread count for attention and the training step (default: the largest of `threads`). */
  mainThreads?: number;
  /** Progress lines go here (stderr by default), so stdout stays the table. */
  log?: (line: string) => void;
}

export interface SuiteResults {
  schema: 'kiln-bench/1';
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  method: string;
  machine: MachineInfo;
  peak: PeakResult[];
  gemm: GemmResult[];
  peers: { label: Record<string, string>; notes: Record<string, string[]>; missing: MissingPeer[] };
  attention: AttentionResult | Unavailable;
  overhead: OverheadResult;
  trainStep: TrainStepResult | Unavailable;
  /** DeepSeek-V3 rows of issue 3 (training step, decode, prefill on `deepseek-v3-bench`; quick: deepseek-v3-micro). */
  deepseek: DeepseekSuiteResult | Unavailable;
  /** Aquarius and ERNIE 3.0 rows of issues 5 and 6 (src/bench/models.ts). */
  models: ModelSuiteResult | Unavailable;
  /** 1-minute load average when the suite finished (the start's is in `machine`). */
  loadAvgEnd: number;
  /** Whether every correctness check passed (GEMM vs peer and f64, attention vs reference). */
  checksPassed: boolean;
}

export const FULL_SIZES = [256, 512, 1024, 2048];
export const QUICK_SIZES = [32, 64];

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function runSuite(o: SuiteOptions): Promise<SuiteResults> {
  const log = o.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const timing = timingOptions(o.quick);
  const startedAt = new Date().toISOString();
  const machine = await machineInfo();
  const main = o.mainThreads ?? Math.max(...o.threads);

  log('peak: probing fp32 FMA throughput');
  const threadCounts = [...new Set([...o.threads, main])];
  let peak: PeakResult[] = [];
  for (const t of threadCounts) peak.push(await measurePeak(t, o.quick));
  const peakAt = (t: number) => peak.find((p) => p.threads === t)?.gflops ?? null;

  const { peers, missing } = await loadGemmPeers();
  const gemm: GemmResult[] = [];
  for (const t of o.threads)
    for (const n of o.sizes) {
      log(`gemm: n=${n} threads=${t}`);
      gemm.push(await benchGemm({ n, threads: t, timing, peers, missingPeers: missing, peakGflops: peakAt(t) }));
    }

  let attention: AttentionResult | Unavailable;
  try {
    const { ATTENTION_FULL, ATTENTION_QUICK, benchAttention } = await import('./attention.js');
    const shape = o.quick ? ATTENTION_QUICK : ATTENTION_FULL;
    log(`attention: B=${shape.B} H=${shape.H} T=${shape.T} D=${shape.D}${shape.causal ? ' causal' : ''}`);
    attention = await benchAttention(shape, main, timing, peakAt(main));
  } catch (e) {
    attention = { unavailable: `attention benchmark did not run: ${errorText(e)}` };
  }

  log('overhead: a.add(b) on 4-element tensors');
  const overhead = benchOverhead(timing);

  let trainStep: TrainStepResult | Unavailable;
  try {
    const { benchTrainStep, trainStepWorkload } = await import('./train-step.js');
    const w = trainStepWorkload({ quick: o.quick });
    log(`train-step: ${w.source} batch ${w.batchSize} × ${w.seqLen}`);
    trainStep = await benchTrainStep(w, main, timing, peakAt(main));
  } catch (e) {
    trainStep = { unavailable: `train-step benchmark did not run: ${errorText(e)}` };
  }

  let deepseek: DeepseekSuiteResult | Unavailable;
  try {
    const { benchDeepseekSuite } = await import('./deepseek.js');
    deepseek = await benchDeepseekSuite(o.quick, main, timing, peakAt(main), log);
  } catch (e) {
    deepseek = { unavailable: `DeepSeek-V3 benchmarks did not run: ${errorText(e)}` };
  }

  let models: ModelSuiteResult | Unavailable;
  try {
    const { benchModelSuite } = await import('./models.js');
    models = await benchModelSuite(o.quick, main, timing, peakAt(main), log);
  } catch (e) {
    models = { unavailable: `Aquarius and ERNIE 3.0 benchmarks did not run: ${errorText(e)}` };
  }

  // probe the peak again now and keep the higher reading, then recompute every ratio to peak with it
  log('peak: probing again');
  const again: PeakResult[] = [];
  for (const t of threadCounts) again.push(await measurePeak(t, o.quick));
  peak = peak.map((p, i) => mergePeaks(p, again[i]));
  for (const g of gemm) {
    g.peakGflops = peakAt(g.threads);
    g.kilnOverPeak = g.peakGflops ? g.kiln.gflops / g.peakGflops : null;
  }
  if (!('unavailable' in attention)) {
    attention.peakGflops = peakAt(attention.threads);
    attention.fwdBwdOverPeak = attention.peakGflops ? attention.fwdBwdGflops / attention.peakGflops : null;
  }
  if (!('unavailable' in trainStep)) {
    trainStep.peakGflops = peakAt(trainStep.threads);
    trainStep.mfu = trainStep.peakGflops ? trainStep.achievedGflops / trainStep.peakGflops : null;
  }

  if (!('unavailable' in deepseek)) {
    const { applyDeepseekPeak } = await import('./deepseek.js');
    applyDeepseekPeak(deepseek, peakAt(main));
  }

  const checksPassed = gemm.every((g) => g.check.passed) && ('unavailable' in attention || attention.check.passed);
  return {
    schema: 'kiln-bench/1',
    startedAt,
    finishedAt: new Date().toISOString(),
    quick: o.quick,
    method: describeTiming(timing),
    machine,
    peak,
    gemm,
    peers: {
      label: Object.fromEntries(peers.map((p) => [p.key, p.label])),
      notes: Object.fromEntries(peers.map((p) => [p.key, p.notes])),
      missing,
    },
    attention,
    overhead,
    trainStep,
    deepseek,
    models,
    checksPassed,
    loadAvgEnd: os.loadavg()[0],
  };
}
