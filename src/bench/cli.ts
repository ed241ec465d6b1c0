/**
 * `kiln bench <peak|gemm|attention|overhead|train-step|decode|prefill|all>`: each benchmark of the suite on its own
 * (train-step takes a GPT config file or a DeepSeek-V3 preset/config.json; decode and prefill are DeepSeek-V3's,
 * src/bench/deepseek.ts; their JSON also carries `tokens_per_s`, and `mfu` where FLOPs apply). With --json
 * one JSON object is printed on stdout with at least `value` and `unit` (and `peak_gflops` where a peak applies,
 * the peers' numbers for gemm); without it, the same lines the suite table prints. --quick shortens every
 * measurement (used by the tests). The command exits 1 when a correctness check fails or the value could not be
 * measured (then `value` is null and `unavailable` says why).
 * The attention, train-step and DeepSeek-V3 modules are imported when their command runs, so the other commands never depend
 * on the model/attention layers.
 * Wired into the `kiln` program by src/cli/main.ts through `registerBenchCommand(program)`.
 */
import os from 'node:os';
import { Command } from 'commander';
import { benchGemm, loadGemmPeers } from './gemm.js';
import { toJson } from './json.js';
import { machineInfo, type MachineInfo } from './machine.js';
import { benchOverhead } from './overhead.js';
import { measurePeak } from './peak.js';
import { FULL_SIZES, QUICK_SIZES, runSuite } from './suite.js';
import { attentionLines, gemmLines, machineLines, overheadLines, peakLines, suiteTable, trainStepLines } from './table.js';
import { timingOptions } from './timing.js';
import { deepseekSuiteLines } from './deepseek-table.js';
import { modelSuiteLines } from './models.js';
import { KilnError } from '../errors.js';
import { positiveInt } from '../cli/options.js';


interface Common {
  json?: boolean;
  quick?: boolean;
  threads?: number;
}

function hardwareThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Prints a result: JSON (snake_case) with --json, else the text lines. Sets the exit code on failure. */
function emit(o: Common, json: Record<string, unknown>, lines: string[], ok: boolean): void {
  if (o.json) process.stdout.write(`${JSON.stringify(toJson(json))}\n`);
  else process.stdout.write(`${lines.join('\n')}\n`);
  if (!ok) process.exitCode = 1;
}

/**
 * Runs a benchmark action; if it throws (a layer missing from this build, a bad --config), prints the reason —
 * as `{ bench, value: null, unit, unavailable }` with --json — and exits 1 instead of a stack trace.
 */
function guarded<O extends Common>(bench: string, unit: string, fn: (o: O) => Promise<void>): (o: O) => Promise<void> {
  return async (o: O) => {
    try {
      await fn(o);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      if (o.json) process.stdout.write(`${JSON.stringify({ bench, value: null, unit, unavailable: reason })}\n`);
      else process.stderr.write(`kiln bench ${bench}: not available: ${reason}\n`);
      process.exitCode = 1;
    }
  };
}

function withCommon(c: Command, threadsHelp: string): Command {
  return c
    .option('--threads <t>', threadsHelp, positiveInt)
    .option('--quick', 'short measurements on tiny sizes (tests, smoke runs)')
    .option('--json', 'print one JSON object instead of text');
}

function machineJson(m: MachineInfo): Record<string, unknown> {
  return { cpu: m.cpu, isa: m.cpuIsa, threads: m.threads, backend: m.kilnBackend, nativeIsa: m.nativeIsa, loadAvg1m: m.loadAvg1m };
}

export function registerBenchCommand(program: Command): Command {
  const bench = program
    .command('bench')
    .description('benchmarks: fp32 peak, sgemm vs onnxruntime and tfjs-wasm, fused attention, dispatch overhead, training step (see docs/benchmarks.md)');

  withCommon(bench.command('peak').description('measured fp32 FMA peak of this machine (native addon probe)'), 'threads to probe on (default 1)')
    .action(guarded('peak', 'GFLOP/s', async (o: Common) => {
      const threads = o.threads ?? 1;
      const [m, p] = await Promise.all([machineInfo(), measurePeak(threads, o.quick ?? false)]);
      emit(o, { bench: 'peak', value: p.gflops, unit: 'GFLOP/s', peakGflops: p.gflops, threads, isa: p.isa, runs: p.runs, seconds: p.seconds, unavailable: p.note ?? undefined, machine: machineJson(m) },
        [...machineLines(m), ...peakLines([p])], p.gflops !== null);
    }));

  withCommon(bench.command('gemm').description('square f32 sgemm GFLOP/s: Kiln vs onnxruntime-node and tfjs-wasm, with a result check'), 'threads (default 1)')
    .option('--n <n>', 'matrix size (default 512; quick: 64)', positiveInt)
    .action(guarded('gemm', 'GFLOP/s', async (o: Common & { n?: number }) => {
      const quick = o.quick ?? false;
      const threads = o.threads ?? 1;
      const n = o.n ?? (quick ? 64 : 512);
      const m = await machineInfo();
      const peak = await measurePeak(threads, quick);
      const { peers, missing } = await loadGemmPeers();
      const g = await benchGemm({ n, threads, timing: timingOptions(quick), peers, missingPeers: missing, peakGflops: peak.gflops });
      const peerJson = Object.fromEntries(Object.entries(g.peers).map(([k, p]) => [k, {
        value: p.gflops ?? null, unit: 'GFLOP/s', ms: p.ms, threadsUsed: p.threadsUsed, kilnOverPeer: p.kilnOverPeer, label: p.label, notes: p.notes, error: p.error,
      }]));
      emit(o, {
        bench: 'gemm', value: g.kiln.gflops, unit: 'GFLOP/s', n, threads, threadsUsed: g.kiln.threadsUsed, ms: g.kiln.ms, backend: g.kiln.backend,
        peakGflops: g.peakGflops, kilnOverPeak: g.kilnOverPeak, peers: peerJson, missingPeers: g.missingPeers, check: g.check, timing: g.kiln.timing,
        note: g.kiln.note ?? undefined, machine: machineJson(m),
      }, [...machineLines(m), ...gemmLines([g], Object.fromEntries(peers.map((p) => [p.key, p.label])), Object.fromEntries(peers.map((p) => [p.key, p.notes])))], g.check.passed);
    }));

  withCommon(bench.command('attention').description('fused causal attention forward + backward (GFLOP/s and ms)'), 'threads (default: all hardware threads)')
    .option('--n <T>', 'sequence length (default 512; quick: 32)', positiveInt)
    .option('--batch <B>', 'batch size', positiveInt)
    .option('--heads <H>', 'heads', positiveInt)
    .option('--head-dim <D>', 'head dimension', positiveInt)
    .option('--no-causal', 'no causal mask')
    .action(guarded('attention', 'GFLOP/s', async (o: Common & { n?: number; batch?: number; heads?: number; headDim?: number; causal: boolean }) => {
      const { ATTENTION_FULL, ATTENTION_QUICK, benchAttention } = await import('./attention.js');
      const quick = o.quick ?? false;
      const threads = o.threads ?? hardwareThreads();
      const base = quick ? ATTENTION_QUICK : ATTENTION_FULL;
      const shape = { B: o.batch ?? base.B, H: o.heads ?? base.H, T: o.n ?? base.T, D: o.headDim ?? base.D, causal: o.causal };
      const m = await machineInfo();
      const peak = await measurePeak(threads, quick);
      const a = await benchAttention(shape, threads, timingOptions(quick), peak.gflops);
      emit(o, {
        bench: 'attention', value: a.fwdBwdGflops, unit: 'GFLOP/s', ms: a.fwdBwdMs, forwardMs: a.forwardMs, backwardMs: a.backwardMs,
        forwardGflops: a.forwardGflops, shape, flopForward: a.forwardFlop, flopFwdBwd: a.fwdBwdFlop, threads, threadsUsed: a.threadsUsed,
        backend: a.backend, peakGflops: a.peakGflops, fwdBwdOverPeak: a.fwdBwdOverPeak, check: a.check, machine: machineJson(m),
      }, [...machineLines(m), ...attentionLines(a)], a.check.passed);
    }));

  withCommon(bench.command('overhead').description('µs per a.add(b) on 4-element tensors inside a tidy (steady state; target ≤ 2 µs)'), 'unused (the op layer is single-threaded)')
    .option('--ops <n>', 'adds per tidy (default 1000)', positiveInt)
    .action(guarded('overhead', 'us/op', async (o: Common & { ops?: number }) => {
      const m = await machineInfo();
      const r = benchOverhead(timingOptions(o.quick ?? false), o.ops ?? 1000);
      emit(o, {
        bench: 'overhead', value: r.usPerOp, unit: 'us/op', cpuUsPerOp: r.cpuUsPerOp, targetUs: r.targetUs, meetsTarget: r.meetsTarget, opsPerCall: r.opsPerCall,
        timing: r.timing, checkSum: r.checkSum, machine: machineJson(m),
      }, [...machineLines(m), ...overheadLines(r)], Math.abs(r.checkSum - 10.9375) < 1e-6);
    }));

  withCommon(bench.command('train-step').description('one training step (GPT, or a DeepSeek-V3 preset/config.json): tokens/s and MFU'), 'threads (default: all hardware threads)')
    .option('--config <preset|file>', 'a DeepSeek-V3 preset (deepseek-v3-bench, ...) or config.json (model_type deepseek_v3), or a JSON of GPT config keys (HF names; optional "preset", "batch_size", "seq_len")')
    .option('--batch <B>', 'sequences per step', positiveInt)
    .option('--seq <T>', 'tokens per sequence', positiveInt)
    .action(guarded('train-step', 'tokens/s', async (o: Common & { config?: string; batch?: number; seq?: number }) => {
      const quick = o.quick ?? false;
      const threads = o.threads ?? hardwareThreads();
      const ds = o.config ? (await import('./deepseek.js')).deepseekSource(o.config) : null;
      if (ds) {
        const { benchDeepseekTrainStep, deepseekThreads } = await import('./deepseek.js');
        const { deepseekTrainLines } = await import('./deepseek-table.js');
        const m = await machineInfo();
        const peak = await measurePeak(threads, quick);
        const used = await deepseekThreads(threads);
        const t = benchDeepseekTrainStep(ds, { batch: o.batch, seq: o.seq, quick }, used, threads, timingOptions(quick), peak.gflops);
        emit(o, {
          bench: 'train-step', family: 'deepseek_v3', value: t.tokensPerSecond, unit: 'tokens/s', tokensPerS: t.tokensPerSecond, mfu: t.mfu,
          peakGflops: t.peakGflops, achievedGflops: t.achievedGflops, stepMs: t.stepMs, medianStepMs: t.medianStepMs, tokensPerStep: t.tokensPerStep,
          flopPerToken: t.flopPerToken, flopPerStep: t.flopPerStep, paramsTotal: t.paramsTotal, paramsActivated: t.paramsActivated, model: t.model,
          batchSize: t.batchSize, seqLen: t.seqLen, threads, threadsUsed: t.threadsUsed, backend: t.backend, measuredSteps: t.measuredSteps,
          loss: [t.firstLoss, t.lastLoss], machine: machineJson(m),
        }, [...machineLines(m), ...deepseekTrainLines(t)], Number.isFinite(t.lastLoss));
        return;
      }
      const { benchTrainStep, trainStepWorkload } = await import('./train-step.js');
      const w = trainStepWorkload({ configPath: o.config, batch: o.batch, seq: o.seq, quick });
      const m = await machineInfo();
      const peak = await measurePeak(threads, quick);
      const t = await benchTrainStep(w, threads, timingOptions(quick), peak.gflops);
      emit(o, {
        bench: 'train-step', family: 'gpt', value: t.tokensPerSecond, unit: 'tokens/s', tokensPerS: t.tokensPerSecond, mfu: t.mfu, peakGflops: t.peakGflops, achievedGflops: t.achievedGflops,
        stepMs: t.stepMs, medianStepMs: t.medianStepMs, tokensPerStep: t.tokensPerStep, flopPerToken: t.flopPerToken, flopPerStep: t.flopPerStep,
        params: t.params, model: w.source, config: w.config, batchSize: w.batchSize, seqLen: w.seqLen, threads, threadsUsed: t.threadsUsed,
        backend: t.backend, measuredSteps: t.measuredSteps, loss: [t.firstLoss, t.lastLoss], note: w.note ?? undefined, machine: machineJson(m),
      }, [...machineLines(m), ...trainStepLines(t)], Number.isFinite(t.lastLoss));
    }));

  /** The DeepSeek-V3 config a decode/prefill command runs (default: the bench preset). */
  const deepseekOf = async (config: string | undefined) => {
    const { deepseekSource, DEEPSEEK_BENCH_PRESET } = await import('./deepseek.js');
    const src = deepseekSource(config ?? DEEPSEEK_BENCH_PRESET);
    if (!src) throw new KilnError('E_CONFIG', `bench: --config ${config} is not a DeepSeek-V3 config; pass a preset (deepseek-v3-bench, deepseek-v3-tiny, ...) or a config.json with "model_type": "deepseek_v3"`);
    return src;
  };

  withCommon(bench.command('decode').description('DeepSeek-V3 greedy decode tokens/s at batch 1 with the latent cache (random seeded weights)'), 'threads (default: all hardware threads)')
    .option('--config <preset|file>', 'DeepSeek-V3 preset or config.json (default deepseek-v3-bench)')
    .option('--prompt-len <n>', 'prompt tokens (default 16; quick: 4)', positiveInt)
    .option('--new-tokens <n>', 'tokens to generate (default 128; quick: 8)', positiveInt)
    .action(guarded('decode', 'tokens/s', async (o: Common & { config?: string; promptLen?: number; newTokens?: number }) => {
      const { benchDeepseekDecode, deepseekThreads } = await import('./deepseek.js');
      const { deepseekDecodeLines } = await import('./deepseek-table.js');
      const quick = o.quick ?? false;
      const threads = o.threads ?? hardwareThreads();
      const src = await deepseekOf(o.config);
      const m = await machineInfo();
      const used = await deepseekThreads(threads);
      const d = benchDeepseekDecode(src, { promptLen: o.promptLen, newTokens: o.newTokens, quick }, used, threads, timingOptions(quick));
      emit(o, {
        bench: 'decode', family: 'deepseek_v3', value: d.tokensPerSecond, unit: 'tokens/s', tokensPerS: d.tokensPerSecond, medianTokensPerS: d.medianTokensPerSecond,
        tokensPerSWithPrefill: d.tokensPerSecondWithPrefill, msPerToken: d.msPerToken, model: d.model, batchSize: 1, promptLen: d.promptLen, newTokens: d.newTokens,
        runs: d.runs, deterministic: d.deterministic, threads, threadsUsed: d.threadsUsed, backend: d.backend, machine: machineJson(m),
      }, [...machineLines(m), ...deepseekDecodeLines(d)], d.deterministic && Number.isFinite(d.tokensPerSecond));
    }));

  withCommon(bench.command('prefill').description('DeepSeek-V3 prefill tokens/s and MFU into an empty latent cache (random seeded weights)'), 'threads (default: all hardware threads)')
    .option('--config <preset|file>', 'DeepSeek-V3 preset or config.json (default deepseek-v3-bench)')
    .option('--seq <T>', 'prompt tokens (default 256; quick: 16)', positiveInt)
    .option('--batch <B>', 'sequences (default 1)', positiveInt)
    .action(guarded('prefill', 'tokens/s', async (o: Common & { config?: string; seq?: number; batch?: number }) => {
      const { benchDeepseekPrefill, deepseekThreads } = await import('./deepseek.js');
      const { deepseekPrefillLines } = await import('./deepseek-table.js');
      const quick = o.quick ?? false;
      const threads = o.threads ?? hardwareThreads();
      const src = await deepseekOf(o.config);
      const m = await machineInfo();
      const peak = await measurePeak(threads, quick);
      const used = await deepseekThreads(threads);
      const p = benchDeepseekPrefill(src, { seq: o.seq, batch: o.batch, quick }, used, threads, timingOptions(quick), peak.gflops);
      emit(o, {
        bench: 'prefill', family: 'deepseek_v3', value: p.tokensPerSecond, unit: 'tokens/s', tokensPerS: p.tokensPerSecond, mfu: p.mfu, peakGflops: p.peakGflops,
        achievedGflops: p.achievedGflops, ms: p.ms, medianMs: p.medianMs, flopPerToken: p.flopPerToken, model: p.model, batchSize: p.batchSize, seqLen: p.seqLen,
        runs: p.runs, threads, threadsUsed: p.threadsUsed, backend: p.backend, machine: machineJson(m),
      }, [...machineLines(m), ...deepseekPrefillLines(p)], Number.isFinite(p.logitCheck));
    }));

  bench.command('all').description('the whole suite (what `npm run bench` runs), printed as the table; --json prints the results object')
    .option('--quick', 'tiny sizes, short runs')
    .option('--json', 'print the results as JSON')
    .action(async (o: Common) => {
      const quick = o.quick ?? false;
      const r = await runSuite({ quick, sizes: quick ? QUICK_SIZES : FULL_SIZES, threads: [1, 2] });
      if (o.json) process.stdout.write(`${JSON.stringify(toJson(r))}\n`);
      else {
        const models = 'unavailable' in r.models ? [r.models.unavailable] : await modelSuiteLines(r.models);
        process.stdout.write(`${suiteTable(r)}\n\n${deepseekSuiteLines(r.deepseek).join('\n')}\n\n${models.join('\n')}\n`);
      }
      if (!r.checksPassed) process.exitCode = 1;
    });
  return bench;
}
