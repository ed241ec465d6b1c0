/**
 * The `nats` executor's entry points: `runNatsPipeline` (what `kiln datapipe run --executor nats` calls: start N
 * local worker processes for the run, then coordinate it), `submitNatsRun` and `startNatsWorker` (the distributed
 * commands), and `natsStatus` (a run's state and per-stage progress from the KV bucket and the streams).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunSummary } from '../finalize.js';
import type { PipelineSpec } from '../graph.js';
import type { ProgressFn, StageProgress } from '../progress.js';
import { connectNats, openKv, readProgress, readRun } from './common.js';
import { submitNatsRun, type NatsRunResult } from './coordinator.js';
import { checkRunId, defaultRunId, streamName } from './names.js';
import { KilnError } from '../../errors.js';

export { submitNatsRun } from './coordinator.js';
export { startNatsWorker } from './worker.js';

export interface NatsPipelineOptions {
  specPath: string;
  spec: PipelineSpec;
  input: string;
  outDir: string;
  servers: string;
  workers: number;
  cpus?: number;
  accelerators?: number;
  plugins: string[];
  runId?: string;
  ackWaitMs?: number;
  onProgress?: ProgressFn;
}

const BIN = fileURLToPath(new URL('../bin.js', import.meta.url));

/** Start `n` worker processes serving one run; they exit when it is done. */
export function spawnWorkers(n: number, servers: string, runId: string, cpus: number | undefined, accelerators: number,
    plugins: string[]): ChildProcess[] {
  const procs: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const args = [BIN, 'datapipe', 'worker', '--nats', servers, '--run', runId, '--exit-when-idle',
      '--accelerators', String(accelerators), ...(cpus !== undefined ? ['--cpus', String(cpus)] : []),
      ...plugins.flatMap((p) => ['--plugin', p])];
    procs.push(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
  }
  return procs;
}

export async function runNatsPipeline(o: NatsPipelineOptions): Promise<NatsRunResult> {
  const runId = checkRunId(o.runId ?? defaultRunId(o.spec.name, JSON.stringify(o.spec), o.input, o.outDir));
  const procs = spawnWorkers(o.workers, o.servers, runId, o.cpus, o.accelerators ?? 1, o.plugins);
  // If every worker we started dies, stop waiting for them.
  const ctl = new AbortController();
  let failed = 0;
  for (const p of procs)
    p.on('exit', (code, sig) => {
      if (code !== 0 && ++failed === procs.length)
        ctl.abort(`all ${procs.length} worker processes exited (last: ${sig ?? `exit code ${code}`})`);
    });
  try {
    return await submitNatsRun({ spec: o.spec, input: o.input, outDir: o.outDir, servers: o.servers, runId,
      plugins: o.plugins, ackWaitMs: o.ackWaitMs, onProgress: o.onProgress, signal: o.workers > 0 ? ctl.signal : undefined });
  } finally {
    await Promise.all(procs.map((p) => new Promise<void>((res) => {
      if (p.exitCode !== null || p.signalCode !== null) return res();
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      p.on('exit', () => (clearTimeout(t), res()));
    })));
  }
}

export interface NatsStatus {
  runId: string;
  state: string;
  elapsedS: number;
  stages: StageProgress[];
  summary?: unknown;
}

export async function natsStatus(servers: string, runId: string): Promise<NatsStatus> {
  const nc = await connectNats(servers);
  try {
    const kv = await openKv(nc);
    const rec = await readRun(kv, runId);
    if (!rec) throw new KilnError('E_DATAPIPE', `no run "${runId}" on ${servers}; check the id printed by submit`);
    const names = rec.spec.stages.map((s) => s.name);
    const p = await readProgress(kv, runId, names);
    const jsm = await nc.jetstreamManager();
    for (const s of rec.spec.stages) {
      if (s.input === undefined) continue;
      try {
        p.get(s.name)!.queue = (await jsm.streams.info(streamName(runId, s.name))).state.messages;
      } catch {
        /* stream not created yet */
      }
    }
    // A finished run's summary comes from the result records: exact, unlike the workers' periodic counters.
    const done = rec.summary as RunSummary | undefined;
    for (const x of done?.stages ?? []) {
      const sp = p.get(x.stage);
      if (sp) Object.assign(sp, { in: x.in, out: x.out, dropped: x.dropped, errors: x.errors, running: 0 });
    }
    return { runId, state: rec.state, elapsedS: (rec.updatedAt - rec.createdAt) / 1000, stages: [...p.values()],
      summary: rec.summary };
  } finally {
    await nc.close();
  }
}
