/**
 * `kiln datapipe ...` subcommands. Thin: parse, call the library, print. The lead wires
 * `registerDatapipeCommands(program)` into src/cli/main.ts; `node dist/src/datapipe/bin.js datapipe ...` works alone.
 *   run <spec> --input --out [--executor local|nats]   run a pipeline to completion (live progress + summary)
 *   scenes <video> [--json]                             shot boundaries of one video
 *   worker --nats <url>                                 serve stages of submitted runs (nats executor)
 *   submit <spec> --input --out --nats <url>            start a nats run and coordinate it to completion
 *   status <run> --nats <url>                           show a nats run's state and per-stage progress
 *   ops                                                 list operators
 * Failures print one line `kiln datapipe: <message>` to stderr and exit non-zero.
 */
import { KilnError } from '../errors.js';
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { builtinRegistry } from './builtin-operators.js';
import { compileGraph, type CompiledGraph } from './graph.js';
import { formatProgress, formatSummaryTable, type ProgressSnapshot } from './progress.js';
import { loadPlugins } from './registry.js';
import { loadSpec } from './spec.js';
import { runLocal } from './local-executor.js';
import { ffmpegPaths } from './video/ffmpeg.js';
import { probeVideo } from './video/probe.js';
import { detectShots } from './video/shots.js';
import { writeFileAtomic } from './store.js';
import type { OperatorEnv } from './types.js';
import { runNatsPipeline, natsStatus, startNatsWorker, submitNatsRun } from './nats/nats-executor.js';
import { defaultRunId } from './nats/names.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];
const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new KilnError('E_ARG', `expected a non-negative number, got "${v}"`);
  return n;
};

async function action(f: () => Promise<void>): Promise<void> {
  try {
    await f();
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    process.stderr.write(`kiln datapipe: ${msg}\n`);
    process.exitCode = 1;
  }
}

async function buildGraph(specPath: string, input: string | undefined, plugins: string[]):
    Promise<{ graph: CompiledGraph; env: OperatorEnv }> {
  const registry = builtinRegistry();
  await loadPlugins(registry, plugins);
  const env: OperatorEnv = { input, ...ffmpegPaths() };
  return { graph: compileGraph(loadSpec(specPath), registry, env), env };
}

/** Live progress on stderr: redrawn in place on a TTY, a block every 5 s otherwise. */
export function progressPrinter(enabled: boolean): { update: (p: ProgressSnapshot) => void; done: () => void } {
  let lines = 0;
  let last = 0;
  const tty = process.stderr.isTTY;
  return {
    update: (p) => {
      if (!enabled) return;
      const text = formatProgress(p);
      if (tty) {
        process.stderr.write((lines > 0 ? `\x1b[${lines}A\x1b[J` : '') + text + '\n');
        lines = text.split('\n').length;
      } else if (p.elapsedS - last >= 5) {
        last = p.elapsedS;
        process.stderr.write(`[${p.elapsedS.toFixed(0)} s]\n${text}\n`);
      }
    },
    done: () => {},
  };
}

export function registerDatapipeCommands(program: Command): void {
  const dp = program.command('datapipe').description('distributed graph data pipeline for video and text data');

  dp.command('run <spec>')
    .description('run a pipeline spec (YAML/JSON) to completion')
    .requiredOption('--input <path>', 'input directory, glob or file')
    .requiredOption('--out <dir>', 'output directory (re-running skips finished work)')
    .option('--executor <name>', 'local | nats', 'local')
    .option('--nats <url>', 'NATS server for --executor nats', 'nats://127.0.0.1:4222')
    .option('--workers <n>', 'nats: worker processes to start here (0 = use external workers)', int, 2)
    .option('--cpus <n>', 'CPU cores to use (local) / per worker (nats)', int)
    .option('--accelerators <n>', 'accelerator slots (local) / per worker (nats)', int)
    .option('--threads <n>', 'local: worker threads for per-item tasks (default: CPUs when >= 4, else 0 = main thread)', int)
    .option('--plugin <module>', 'load operators from a module exporting register(registry)', collect, [])
    .option('--json', 'print the summary as JSON on stdout')
    .option('--no-progress', 'no live progress on stderr')
    .action((spec: string, o: { input: string; out: string; executor: string; nats: string; workers: number;
      cpus?: number; accelerators?: number; threads?: number; plugin: string[]; json?: boolean; progress: boolean }) =>
      action(async () => {
      const out = resolve(o.out);
      const { graph, env } = await buildGraph(spec, o.input, o.plugin);
      const pp = progressPrinter(o.progress);
      let report: Record<string, unknown>;
      let table: string;
      if (o.executor === 'local') {
        const nCpu = o.cpus ?? cpus().length;
        const threads = o.threads ?? (nCpu >= 4 ? Math.min(nCpu, 16) : 0);
        const r = await runLocal(graph, { outDir: out, cpus: o.cpus, accelerators: o.accelerators, onProgress: pp.update,
          threads: { count: threads, plugins: o.plugin.map((p) => resolve(p)), env } });
        report = { executor: 'local', threads, wall_s: r.wallS, ...r.summary, max_queue: r.maxQueue };
        table = formatSummaryTable(r.summary, r.wallS);
      } else if (o.executor === 'nats') {
        const r = await runNatsPipeline({ specPath: resolve(spec), spec: graph.spec, input: resolve(o.input), outDir: out,
          servers: o.nats, workers: o.workers, cpus: o.cpus, accelerators: o.accelerators, plugins: o.plugin,
          onProgress: pp.update });
        report = { executor: 'nats', run: r.runId, wall_s: r.wallS, ...r.summary };
        table = formatSummaryTable(r.summary, r.wallS);
      } else throw new KilnError('E_ARG', `--executor must be local or nats, got "${o.executor}"`);
      report.peak_rss_mb = Math.round(process.resourceUsage().maxRSS / 1024);
      writeFileAtomic(join(out, 'report.json'), JSON.stringify(report, null, 1) + '\n');
      if (o.json) process.stdout.write(JSON.stringify(report) + '\n');
      else process.stdout.write(table + '\n');
    }));

  dp.command('scenes <video>')
    .description('detect shot boundaries in one video')
    .option('--json', 'print {"fps","frames","shots":[...]} as JSON')
    .option('--threshold <x>', 'adaptive threshold (ratio to neighbouring frames)', Number, 3)
    .option('--min-content <x>', 'minimum content score for a cut', Number, 15)
    .option('--min-shot-frames <n>', 'minimum shot length in frames', Number, 15)
    .option('--analysis-width <n>', 'decode width for analysis', Number, 128)
    .action((video: string, o: { json?: boolean; threshold: number; minContent: number; minShotFrames: number;
      analysisWidth: number }) => action(async () => {
      const { ffmpeg, ffprobe } = ffmpegPaths();
      const info = await probeVideo(ffprobe, video);
      const r = await detectShots(ffmpeg, video, info, { adaptiveThreshold: o.threshold, minContent: o.minContent,
        minShotFrames: o.minShotFrames, analysisWidth: o.analysisWidth });
      const res = { fps: r.fps, frames: r.frames, shots: r.shots };
      if (o.json) process.stdout.write(JSON.stringify(res) + '\n');
      else for (const s of r.shots)
        process.stdout.write(`frames ${s.start_frame}-${s.end_frame}  ${s.start_s.toFixed(3)}s-${s.end_s.toFixed(3)}s\n`);
    }));

  dp.command('worker')
    .description('serve stages of submitted runs from NATS JetStream (start any number, on any machines)')
    .requiredOption('--nats <url>', 'NATS server URL(s), comma-separated')
    .option('--cpus <n>', 'CPU cores this worker offers', int)
    .option('--accelerators <n>', 'accelerator slots this worker offers', int, 0)
    .option('--run <id>', 'serve only this run')
    .option('--exit-when-idle', 'exit once the served runs are finished')
    .option('--plugin <module>', 'load operators from a module exporting register(registry)', collect, [])
    .action((o: { nats: string; cpus?: number; accelerators: number; run?: string; exitWhenIdle?: boolean;
      plugin: string[] }) => action(async () => {
      await startNatsWorker({ servers: o.nats, cpus: o.cpus, accelerators: o.accelerators, runId: o.run,
        exitWhenIdle: o.exitWhenIdle ?? false, plugins: o.plugin, log: (m) => process.stderr.write(m + '\n') });
    }));

  dp.command('submit <spec>')
    .description('start a run on NATS JetStream and coordinate it to completion (workers do the stages)')
    .requiredOption('--input <path>', 'input directory, glob or file (visible to every worker)')
    .requiredOption('--out <dir>', 'output directory (shared by every worker)')
    .requiredOption('--nats <url>', 'NATS server URL(s)')
    .option('--run <id>', 'run id (default: derived from spec, input and out; resubmitting resumes)')
    .option('--detach', 'print the run id and coordinate from a background process (see `status`)')
    .option('--plugin <module>', 'load operators from a module exporting register(registry)', collect, [])
    .option('--json', 'print the summary as JSON on stdout')
    .option('--no-progress', 'no live progress on stderr')
    .action((spec: string, o: { input: string; out: string; nats: string; run?: string; detach?: boolean; json?: boolean;
      progress: boolean; plugin: string[] }) => action(async () => {
      const out = resolve(o.out);
      const { graph } = await buildGraph(spec, o.input, o.plugin);
      if (o.detach) {
        const runId = o.run ?? defaultRunId(graph.spec.name, JSON.stringify(graph.spec), resolve(o.input), out);
        const child = spawn(process.execPath, [fileURLToPath(new URL('./bin.js', import.meta.url)), 'datapipe', 'submit',
          resolve(spec), '--input', resolve(o.input), '--out', out, '--nats', o.nats, '--run', runId, '--no-progress',
          ...o.plugin.flatMap((p) => ['--plugin', resolve(p)])],
          { detached: true, stdio: 'ignore' });
        child.unref();
        process.stdout.write(o.json ? JSON.stringify({ run: runId }) + '\n' : `${runId}\n`);
        return;
      }
      const pp = progressPrinter(o.progress);
      const r = await submitNatsRun({ spec: graph.spec, input: resolve(o.input), outDir: out, servers: o.nats,
        runId: o.run, plugins: o.plugin, onProgress: pp.update });
      const report = { executor: 'nats', run: r.runId, wall_s: r.wallS, ...r.summary };
      writeFileAtomic(join(out, 'report.json'), JSON.stringify(report, null, 1) + '\n');
      process.stdout.write(o.json ? JSON.stringify(report) + '\n' : `run ${r.runId}\n${formatSummaryTable(r.summary, r.wallS)}\n`);
    }));

  dp.command('status <run>')
    .description('show a NATS run: state and per-stage progress')
    .requiredOption('--nats <url>', 'NATS server URL(s)')
    .option('--json', 'JSON output')
    .action((run: string, o: { nats: string; json?: boolean }) => action(async () => {
      const s = await natsStatus(o.nats, run);
      if (o.json) process.stdout.write(JSON.stringify(s) + '\n');
      else process.stdout.write(`run ${run}: ${s.state}\n${formatProgress({ elapsedS: s.elapsedS, stages: s.stages })}\n`);
    }));

  dp.command('ops')
    .description('list the built-in operators')
    .action(() => action(async () => {
      for (const d of builtinRegistry().list())
        process.stdout.write(`${d.name.padEnd(16)} ${d.kind.padEnd(8)} ${d.inType} -> ${d.outType}  ${d.description}\n`);
    }));
}
