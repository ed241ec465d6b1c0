/**
 * The `local` executor (embedded default): one process, a bounded queue in front of every stage, a pool of
 * `concurrency` task loops per stage, and shared resource pools (CPU cores, accelerator slots, memory) that every
 * task acquires its declared resources from. A full queue blocks its producers (backpressure), so memory stays
 * bounded whatever the input size. Heavy work runs in child processes (ffmpeg), so task loops are async, not threads.
 * Task semantics (skip-done, poison, atomic records) come from task.ts; results from finalize.ts.
 */
import { mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { BoundedChannel, ResourcePool } from './channel.js';
import type { CompiledGraph, CompiledStage } from './graph.js';
import { finalizeRun, type RunSummary } from './finalize.js';
import { newStageProgress, type ProgressFn, type StageProgress } from './progress.js';
import { removeStaleTemps, RunStore } from './store.js';
import { lookupBatchOf, runBatchTask, runItemTask } from './task.js';
import { TaskThreadPool } from './thread-pool.js';
import type { Item, OperatorEnv, StageContext } from './types.js';

export interface LocalRunOptions {
  outDir: string;
  /** CPU cores to use (default: all). */
  cpus?: number;
  /** Accelerator slots (default 1). */
  accelerators?: number;
  /** Memory budget for concurrently running tasks, MiB (default: half of RAM). */
  memoryMb?: number;
  /** Capacity of each stage's input queue (default 2 x concurrency, at least 4). */
  queueCapacity?: number;
  onProgress?: ProgressFn;
  progressIntervalMs?: number;
  signal?: AbortSignal;
  /**
   * Run per-item tasks in this many worker threads (0 = on the main thread). Threads rebuild the graph from its spec,
   * so every operator must come from the built-ins or from these plugin modules.
   */
  threads?: { count: number; plugins: string[]; env: OperatorEnv };
}

export interface LocalRunResult {
  summary: RunSummary;
  wallS: number;
  progress: StageProgress[];
  /** Largest queue depth seen per stage. */
  maxQueue: Record<string, number>;
}

/** Tasks of a stage that may run at once, from its declared resources and the pools. */
export function stageConcurrency(st: CompiledStage, pools: { cpus: number; accelerators: number }): number {
  if (st.concurrency !== undefined) return st.concurrency;
  const byCpu = st.resources.cpu > 0 ? Math.floor(pools.cpus / st.resources.cpu) : 64;
  const byAcc = st.resources.accelerator > 0 ? Math.floor(pools.accelerators / st.resources.accelerator) : 64;
  return Math.max(1, Math.min(byCpu, byAcc, 64));
}

export async function runLocal(graph: CompiledGraph, opts: LocalRunOptions): Promise<LocalRunResult> {
  const t0 = performance.now();
  mkdirSync(opts.outDir, { recursive: true });
  const store = new RunStore(opts.outDir);
  const nCpu = opts.cpus ?? cpus().length;
  const nAcc = opts.accelerators ?? 1;
  const cpuPool = new ResourcePool(nCpu);
  const accPool = new ResourcePool(nAcc);
  const memPool = new ResourcePool(opts.memoryMb ?? Math.floor(totalmem() / 2 / 2 ** 20));
  const abort = new AbortController();
  opts.signal?.addEventListener('abort', () => abort.abort(opts.signal!.reason));
  const prog = new Map(graph.stages.map((s) => [s.name, newStageProgress(s.name)]));
  const chans = new Map<string, BoundedChannel<Item>>();
  const openInputs = new Map<string, number>();
  const conc = new Map<string, number>();
  for (const st of graph.stages) {
    const c = stageConcurrency(st, { cpus: nCpu, accelerators: nAcc });
    conc.set(st.name, c);
    if (st.fn.kind !== 'source') {
      chans.set(st.name, new BoundedChannel<Item>(opts.queueCapacity ?? Math.max(4, 2 * c)));
      openInputs.set(st.name, st.inputs.length);
    }
  }
  const sources = new Map<string, Item[]>();
  const pool = opts.threads && opts.threads.count > 0 ? new TaskThreadPool(opts.threads.count,
    { spec: graph.spec, env: opts.threads.env, plugins: opts.threads.plugins, outDir: opts.outDir }) : undefined;
  const ctxFor = (st: CompiledStage): StageContext => ({
    outDir: opts.outDir, stage: st.name, heartbeat: () => {}, signal: abort.signal,
  });

  const emit = async (st: CompiledStage, items: Item[]): Promise<void> => {
    prog.get(st.name)!.out += items.length;
    for (const it of items) for (const d of st.outputs) await chans.get(d)!.push(it);
  };
  const finishStage = (st: CompiledStage): void => {
    for (const d of st.outputs) {
      const left = openInputs.get(d)! - 1;
      openInputs.set(d, left);
      if (left === 0) chans.get(d)!.close();
    }
  };
  const withResources = async <T>(st: CompiledStage, f: () => Promise<T>): Promise<T> => {
    const r = st.resources;
    await cpuPool.acquire(r.cpu);
    await accPool.acquire(r.accelerator);
    await memPool.acquire(r.memoryMb);
    const p = prog.get(st.name)!;
    p.running++;
    try {
      return await f();
    } finally {
      p.running--;
      memPool.release(r.memoryMb);
      accPool.release(r.accelerator);
      cpuPool.release(r.cpu);
    }
  };
  const account = (st: CompiledStage, rec: { dropped?: unknown[]; error?: string }, skipped: boolean): void => {
    const p = prog.get(st.name)!;
    p.dropped += rec.dropped?.length ?? 0;
    if (rec.error !== undefined) p.errors++;
    if (skipped) p.skipped++;
  };

  const runStage = async (st: CompiledStage): Promise<void> => {
    const fn = st.fn;
    const p = prog.get(st.name)!;
    const ctx = ctxFor(st);
    if (fn.kind === 'source') {
      const list: Item[] = [];
      for await (const it of fn.run(ctx)) {
        list.push(it);
        p.in++;
        await emit(st, [it]);
      }
      sources.set(st.name, list);
      return;
    }
    const ch = chans.get(st.name)!;
    if (st.barrier) {
      const all: Item[] = [];
      for (let it = await ch.pull(); it !== undefined; it = await ch.pull()) (p.in++, all.push(it));
      const { rec, skipped } = await withResources(st, () => runBatchTask(st, all, ctx, store));
      account(st, rec, skipped);
      await emit(st, rec.out);
      return;
    }
    const loops: Promise<void>[] = [];
    if (fn.kind === 'batch' || fn.kind === 'sink') {
      const size = fn.size as number;
      const emitted = new Set<string>();
      let group: Item[] = [];
      const flush = async (g: Item[]): Promise<void> => {
        const { rec, skipped } = await withResources(st, () => runBatchTask(st, g, ctx, store));
        account(st, rec, skipped);
        await emit(st, rec.out);
      };
      for (let it = await ch.pull(); it !== undefined; it = await ch.pull()) {
        p.in++;
        const done = lookupBatchOf(st, it, store);
        if (done) {
          p.skipped++;
          if (!emitted.has(done.id)) (emitted.add(done.id), await emit(st, done.out));
          continue;
        }
        group.push(it);
        if (group.length >= size) (loops.push(flush(group)), (group = []));
      }
      if (group.length > 0) loops.push(flush(group));
      await Promise.all(loops);
      return;
    }
    for (let i = 0; i < conc.get(st.name)!; i++)
      loops.push((async () => {
        for (let it = await ch.pull(); it !== undefined; it = await ch.pull()) {
          p.in++;
          const { rec, skipped } = await withResources(st, () =>
            pool && !store.readResult(st.name, it.id) ? pool.run(st.name, it) : runItemTask(st, it, ctx, store));
          account(st, rec, skipped);
          await emit(st, rec.out);
        }
      })());
    await Promise.all(loops);
  };

  const snapshot = (): void => {
    for (const [n, c] of chans) prog.get(n)!.queue = c.depth;
    opts.onProgress?.({ elapsedS: (performance.now() - t0) / 1000, stages: [...prog.values()].map((x) => ({ ...x })) });
  };
  const timer = opts.onProgress ? setInterval(snapshot, opts.progressIntervalMs ?? 500) : undefined;
  try {
    await Promise.all(graph.stages.map(async (st) => {
      try {
        await runStage(st);
      } catch (e) {
        abort.abort(e);
        for (const c of chans.values()) c.close();
        throw e;
      } finally {
        finishStage(st);
      }
    }));
  } finally {
    if (timer) clearInterval(timer);
    await pool?.close();
  }
  snapshot();
  removeStaleTemps(opts.outDir);
  const summary = finalizeRun(graph, sources, store);
  const maxQueue = Object.fromEntries([...chans].map(([n, c]) => [n, c.maxDepth]));
  return { summary, wallS: (performance.now() - t0) / 1000, progress: [...prog.values()], maxQueue };
}
