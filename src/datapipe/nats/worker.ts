/**
 * A NATS JetStream worker: discovers running runs in the KV bucket and, for every per-item stage whose declared
 * resources it offers (an accelerator stage needs `--accelerators` >= its slots; a CPU-only worker never takes one),
 * pulls tasks from the stage's work-queue stream. Per task: acquire resources, pull one message, run the shared task
 * semantics (task.ts: skip-done, poison), publish outputs downstream with a Nats-Msg-Id (duplicates dropped by the
 * server), then ack. `working()` heartbeats every third of ack_wait keep long tasks from being redelivered; a killed
 * worker's unacked messages are redelivered after ack_wait. After `maxDeliver` deliveries an item is recorded as
 * poison, published to the dead-letter subject and acked. Barrier stages run in the coordinator (coordinator.ts).
 * A NATS request that fails for a moment (a JetStream API timeout while the server or this host is stalled, a
 * reconnect) is retried: it never ends the worker or leaves a run it serves without pull loops. Only a connection the
 * client has given up on (connectNats: ~2 min of failed reconnects) ends the worker.
 */
import { cpus, hostname } from 'node:os';
import type { Consumer, JsMsg } from 'nats';
import { builtinRegistry } from '../builtin-operators.js';
import { ResourcePool } from '../channel.js';
import { compileGraph, type CompiledGraph, type CompiledStage } from '../graph.js';
import { stageConcurrency } from '../local-executor.js';
import { loadPlugins } from '../registry.js';
import { RunStore, type ResultRecord } from '../store.js';
import { lookupBatchOf, runBatchTask, runItemTask } from '../task.js';
import type { Item, StageContext } from '../types.js';
import { ffmpegPaths } from '../video/ffmpeg.js';
import { connectNats, json, msgId, openKv, readRun, writeProgress, type Envelope, type RunRecord, type WorkerProgress } from './common.js';
import { CONSUMER, deadSubject, streamName, subjectOf, workerId } from './names.js';

export interface WorkerOptions {
  servers: string;
  cpus?: number;
  accelerators: number;
  /** Serve only this run. */
  runId?: string;
  /** Exit once every served run is finished (and, with runId, once that run is). */
  exitWhenIdle: boolean;
  plugins: string[];
  log: (msg: string) => void;
  signal?: AbortSignal;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Can a worker offering these resources run this stage? */
export function workerFits(st: CompiledStage, offer: { cpus: number; accelerators: number }): boolean {
  return st.resources.accelerator <= offer.accelerators && (st.resources.cpu <= offer.cpus || offer.cpus >= 1);
}

export async function startNatsWorker(o: WorkerOptions): Promise<void> {
  const nc = await connectNats(o.servers);
  const js = nc.jetstream();
  const kv = await openKv(nc);
  const registry = builtinRegistry();
  await loadPlugins(registry, o.plugins);
  const offer = { cpus: o.cpus ?? cpus().length, accelerators: o.accelerators };
  const cpuPool = new ResourcePool(offer.cpus);
  const accPool = new ResourcePool(Math.max(offer.accelerators, 0));
  const me = workerId(hostname(), process.pid);
  const served = new Map<string, { stop: AbortController; done: Promise<void> }>();
  o.log(`datapipe worker ${me}: ${offer.cpus} cpus, ${offer.accelerators} accelerators, nats ${o.servers}`);
  try {
    for (;;) {
      if (o.signal?.aborted) break;
      let runs: RunRecord[];
      try {
        runs = await readRuns();
      } catch (e) {
        // A timeout here (the server or this host stalled for a few seconds) must not end the worker: the runs it
        // serves would be left without workers and never finish.
        if (nc.isClosed()) throw e;
        o.log(`cannot read the run records (${errText(e)}); retrying`);
        await sleep(1000);
        continue;
      }
      for (const r of runs) {
        const key = `${r.runId}/${r.attempt}`;
        const s = served.get(key);
        for (const [k, old] of served) if (k.startsWith(`${r.runId}/`) && k !== key) old.stop.abort();
        if (r.state === 'running' && !s) {
          const stop = new AbortController();
          served.set(key, { stop, done: serveRun(r, stop.signal).catch((e: unknown) => {
            // Serve it again at the next poll rather than keep the run listed as served with no pull loops.
            o.log(`run ${r.runId}: stopped serving (${errText(e)}); serving it again`);
            stop.abort();
            served.delete(key);
          }) });
        } else if (r.state !== 'running' && s && !s.stop.signal.aborted) s.stop.abort();
      }
      if (o.exitWhenIdle && served.size > 0 && [...served.values()].every((s) => s.stop.signal.aborted)) break;
      await sleep(300);
    }
  } finally {
    for (const s of served.values()) s.stop.abort();
    await Promise.allSettled([...served.values()].map((s) => s.done));
    await nc.drain();
  }

  async function readRuns(): Promise<RunRecord[]> {
    const runs: RunRecord[] = [];
    if (o.runId) {
      const r = await readRun(kv, o.runId);
      if (r) runs.push(r);
    } else {
      const keys: string[] = [];
      for await (const k of await kv.keys('run.*')) keys.push(k);
      for (const k of keys) {
        const r = await readRun(kv, k.slice(4));
        if (r) runs.push(r);
      }
    }
    return runs;
  }

  async function serveRun(rec: RunRecord, stop: AbortSignal): Promise<void> {
    let graph: CompiledGraph;
    try {
      graph = compileGraph(rec.spec, registry, { input: rec.input, ...ffmpegPaths() });
    } catch (e) {
      o.log(`run ${rec.runId}: cannot build the graph here: ${(e as Error).message}`);
      return;
    }
    const store = new RunStore(rec.outDir);
    const stages = graph.stages.filter((st) => st.fn.kind !== 'source' && !st.barrier && workerFits(st, offer));
    o.log(`run ${rec.runId}: serving ${stages.map((s) => s.name).join(', ') || '(no stage fits this worker)'}`);
    const prog = new Map<string, WorkerProgress>(stages.map((s) => [s.name, { in: 0, out: 0, dropped: 0, errors: 0,
      skipped: 0, running: 0, redelivered: 0 }]));
    let dirty = true;
    const flush = async (): Promise<void> => {
      if (!dirty) return;
      dirty = false;
      for (const [st, p] of prog) await writeProgress(kv, rec.runId, st, me, p).catch(() => (dirty = true));
    };
    const timer = setInterval(() => void flush(), 500);
    const loops: Promise<void>[] = [];
    for (const st of stages) {
      const n = stageConcurrency(st, offer);
      for (let i = 0; i < n; i++) loops.push(pullLoop(rec, st, store, stop, prog.get(st.name)!, () => (dirty = true)));
    }
    await Promise.all(loops);
    clearInterval(timer);
    dirty = true;
    await flush();
  }

  async function publishOut(rec: RunRecord, st: CompiledStage, out: Item[], attempt: string): Promise<void> {
    for (const it of out)
      for (const d of st.outputs)
        await js.publish(subjectOf(rec.runId, d), json.encode({ a: attempt, item: it } satisfies Envelope),
          { msgID: msgId(attempt, d, it.id) });
  }

  async function pullLoop(rec: RunRecord, st: CompiledStage, store: RunStore, stop: AbortSignal, p: WorkerProgress,
      touch: () => void): Promise<void> {
    let consumer: Consumer | undefined;
    while (!consumer) {
      if (stop.aborted) return;
      try {
        consumer = await js.consumers.get(streamName(rec.runId, st.name), CONSUMER);
      } catch (e) {
        if (nc.isClosed()) throw e;
        // A timeout under load, or the stream already deleted because the run finished (then `stop` follows).
        o.log(`run ${rec.runId} stage ${st.name}: cannot get the consumer (${errText(e)}); retrying`);
        await sleep(500);
      }
    }
    const fn = st.fn;
    const batchSize = fn.kind === 'batch' || fn.kind === 'sink' ? (fn.size as number) : 1;
    while (!stop.aborted) {
      const msgs: JsMsg[] = [];
      try {
        if (batchSize === 1) {
          const m = await consumer.next({ expires: 1000 });
          if (m) msgs.push(m);
        } else {
          for await (const m of await consumer.fetch({ max_messages: batchSize, expires: 1000 })) msgs.push(m);
        }
      } catch {
        // The stream may be gone (run finished) or the server unreachable for a moment: back off, re-check `stop`.
        await sleep(500);
        continue;
      }
      if (msgs.length === 0) continue;
      // Heartbeat from the moment we hold the messages (also while waiting for resources below).
      const beat = setInterval(() => msgs.forEach((m) => m.working()), Math.max(100, rec.ackWaitMs / 3));
      await cpuPool.acquire(st.resources.cpu);
      await accPool.acquire(st.resources.accelerator);
      p.running++;
      touch();
      try {
        await handle(rec, st, store, msgs, p);
      } catch (e) {
        o.log(`run ${rec.runId} stage ${st.name}: ${(e as Error).message}; the message will be redelivered`);
        for (const m of msgs) m.nak(1000);
      } finally {
        clearInterval(beat);
        p.running--;
        touch();
        accPool.release(st.resources.accelerator);
        cpuPool.release(st.resources.cpu);
      }
    }
  }

  async function handle(rec: RunRecord, st: CompiledStage, store: RunStore, msgs: JsMsg[], p: WorkerProgress):
      Promise<void> {
    const ctl = new AbortController();
    let lastBeat = 0;
    const ctx: StageContext = { outDir: rec.outDir, stage: st.name, signal: ctl.signal, heartbeat: () => {
      const now = Date.now();
      if (now - lastBeat > 200) (lastBeat = now, msgs.forEach((m) => m.working()));
    } };
    const envs = msgs.map((m) => json.decode(m.data) as Envelope);
    const items = envs.map((e) => e.item);
    const attempt = envs[0].a;
    p.in += items.length;
    for (const m of msgs) if (m.info.deliveryCount > 1) p.redelivered++;
    const account = (r: ResultRecord, skipped: boolean): void => {
      p.out += r.out.length;
      p.dropped += r.dropped?.length ?? 0;
      if (r.error !== undefined) p.errors++;
      if (skipped) p.skipped++;
    };
    if (msgs.length === 1 && (st.fn.kind !== 'batch' && st.fn.kind !== 'sink')) {
      const m = msgs[0];
      const item = items[0];
      let r: ResultRecord;
      let skipped = false;
      if (m.info.deliveryCount > rec.maxDeliver && !store.readResult(st.name, item.id)) {
        r = { id: item.id, out: [], error: `gave up after ${m.info.deliveryCount - 1} deliveries (each attempt ` +
          'crashed its worker or timed out)' };
        store.writeResult(st.name, r);
      } else ({ rec: r, skipped } = await runItemTask(st, item, ctx, store));
      await publishOut(rec, st, r.out, attempt);
      if (r.error !== undefined && !skipped)
        await js.publish(deadSubject(rec.runId), json.encode({ stage: st.name, item, error: r.error }),
          { msgID: msgId(attempt, '_dead', `${st.name}:${item.id}`) });
      account(r, skipped);
      await m.ackAck();
      return;
    }
    // Fixed-size batch: items already in a finished batch are answered from it; the rest form a new batch.
    const fresh: Item[] = [];
    const emitted = new Set<string>();
    for (const it of items) {
      const done = lookupBatchOf(st, it, store);
      if (!done) fresh.push(it);
      else if (!emitted.has(done.id)) (emitted.add(done.id), await publishOut(rec, st, done.out, attempt), account(done, true));
    }
    if (fresh.length > 0) {
      const { rec: r, skipped } = await runBatchTask(st, fresh, ctx, store);
      await publishOut(rec, st, r.out, attempt);
      account(r, skipped);
    }
    for (const m of msgs) await m.ackAck();
  }
}
