/**
 * The coordinator of a NATS run (`kiln datapipe submit`, or `run --executor nats`): creates the run's streams,
 * consumers and KV record, publishes the source items (throttled: it waits while the first stages' streams hold
 * more than `maxQueued` messages), runs barrier stages (batch/sink over all items, e.g. near-dup removal, shards)
 * once everything upstream has drained, waits for the rest to drain, and finalizes the manifest from the result
 * records -- the same finalize as `local`, hence the same manifest.
 *
 * Drain test: with work-queue retention a message leaves its stream only when acked, and workers publish outputs
 * before acking; so checking stage streams for 0 messages in topological order proves no more work can appear.
 * Resubmitting the same run id resumes it (sources are republished; done work is skipped by the result records).
 */
import { mkdirSync } from 'node:fs';
import { AckPolicy, DiscardPolicy, nanos, RetentionPolicy, StorageType, type JetStreamManager, type JsMsg } from 'nats';
import { KilnError } from '../../errors.js';
import { builtinRegistry } from '../builtin-operators.js';
import { finalizeRun, type RunSummary } from '../finalize.js';
import { compileGraph, type CompiledStage, type PipelineSpec } from '../graph.js';
import type { ProgressFn } from '../progress.js';
import { loadPlugins } from '../registry.js';
import { removeStaleTemps, RunStore } from '../store.js';
import { runBatchTask } from '../task.js';
import type { Item, StageContext } from '../types.js';
import { ffmpegPaths } from '../video/ffmpeg.js';
import { connectNats, json, msgId, openKv, readProgress, readRun, writeRun, type Envelope, type RunRecord } from './common.js';
import { checkRunId, CONSUMER, deadStream, deadSubject, defaultRunId, streamName, subjectOf } from './names.js';

export interface SubmitOptions {
  spec: PipelineSpec;
  input: string;
  outDir: string;
  servers: string;
  runId?: string;
  plugins?: string[];
  ackWaitMs?: number;
  maxDeliver?: number;
  /** Max messages waiting in a stage stream before the source pauses (default 1000). */
  maxQueued?: number;
  /** Max unacked messages per stage across all workers (default 256). */
  maxAckPending?: number;
  onProgress?: ProgressFn;
  /** Called once the run record exists (workers can start pulling). */
  onSubmitted?: (runId: string) => void;
  /** Abort the coordination (the run stays resumable: submit again). */
  signal?: AbortSignal;
}

export interface NatsRunResult {
  runId: string;
  summary: RunSummary;
  wallS: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function ensureStream(jsm: JetStreamManager, name: string, subject: string): Promise<void> {
  const cfg = { name, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File,
    discard: DiscardPolicy.Old, duplicate_window: nanos(120_000) };
  try {
    await jsm.streams.info(name);
  } catch {
    await jsm.streams.add(cfg);
  }
}

export async function submitNatsRun(o: SubmitOptions): Promise<NatsRunResult> {
  const t0 = performance.now();
  const registry = builtinRegistry();
  await loadPlugins(registry, o.plugins ?? []);
  const graph = compileGraph(o.spec, registry, { input: o.input, ...ffmpegPaths() });
  const runId = checkRunId(o.runId ?? defaultRunId(o.spec.name, JSON.stringify(o.spec), o.input, o.outDir));
  mkdirSync(o.outDir, { recursive: true });
  const nc = await connectNats(o.servers);
  try {
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    const kv = await openKv(nc);
    const ackWaitMs = o.ackWaitMs ?? 30_000;
    for (const st of graph.stages) {
      if (st.fn.kind === 'source') continue;
      await ensureStream(jsm, streamName(runId, st.name), subjectOf(runId, st.name));
      const ccfg = { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, ack_wait: nanos(ackWaitMs), max_deliver: -1,
        max_ack_pending: o.maxAckPending ?? 256 };
      try {
        await jsm.consumers.add(streamName(runId, st.name), ccfg);
      } catch {
        await jsm.consumers.update(streamName(runId, st.name), CONSUMER, ccfg);
      }
    }
    await ensureStream(jsm, deadStream(runId), deadSubject(runId));
    const prev = await readRun(kv, runId);
    const rec: RunRecord = { runId, spec: o.spec, input: o.input, outDir: o.outDir, state: 'running',
      createdAt: prev?.createdAt ?? Date.now(), updatedAt: Date.now(), attempt: `${Date.now().toString(36)}${process.pid.toString(36)}`, ackWaitMs, maxDeliver: o.maxDeliver ?? 4 };
    await writeRun(kv, rec);
    o.onSubmitted?.(runId);

    const store = new RunStore(o.outDir);
    const depth = async (st: string): Promise<number> =>
      (await jsm.streams.info(streamName(runId, st))).state.messages;
    const barrierIn = new Map<string, number>();
    const tick = async (): Promise<void> => {
      if (!o.onProgress) return;
      const p = await readProgress(kv, runId, graph.stages.map((s) => s.name));
      for (const st of graph.stages) {
        const sp = p.get(st.name)!;
        if (st.fn.kind !== 'source') sp.queue = await depth(st.name);
        if (st.fn.kind === 'source') (sp.in = sp.out = sources.get(st.name)?.length ?? 0);
        if (st.barrier && barrierIn.has(st.name)) sp.in = barrierIn.get(st.name)!;
      }
      o.onProgress({ elapsedS: (performance.now() - t0) / 1000, stages: [...p.values()] });
    };
    const sources = new Map<string, Item[]>();
    const ctxFor = (st: CompiledStage): StageContext => ({ outDir: o.outDir, stage: st.name, heartbeat: () => {},
      signal: new AbortController().signal });
    const publish = async (st: CompiledStage, items: Item[]): Promise<void> => {
      for (const it of items)
        for (const d of st.outputs) await js.publish(subjectOf(runId, d), json.encode({ a: rec.attempt, item: it } satisfies Envelope),
            { msgID: msgId(rec.attempt, d, it.id) });
    };
    let lastTick = 0;
    const maybeTick = async (): Promise<void> => {
      if (o.signal?.aborted)
        throw new KilnError('E_DATAPIPE', `run ${runId}: coordination aborted: ${String(o.signal.reason ?? 'aborted')}; ` +
          'submit again to resume');
      if (performance.now() - lastTick > 500) (lastTick = performance.now(), await tick());
    };

    // 1. Sources, throttled by the depth of the streams they feed.
    for (const st of graph.stages) {
      if (st.fn.kind !== 'source') continue;
      const list: Item[] = [];
      sources.set(st.name, list);
      for await (const it of st.fn.run(ctxFor(st))) {
        list.push(it);
        await publish(st, [it]);
        if (list.length % 50 === 0)
          for (const d of st.outputs) while ((await depth(d)) > (o.maxQueued ?? 1000)) (await maybeTick(), await sleep(200));
      }
    }
    // 2. Barriers in topological order, each once all its ancestors have drained.
    const ancestors = (st: CompiledStage): CompiledStage[] => {
      const seen = new Set<string>();
      const walk = (s: CompiledStage): void => s.inputs.forEach((i) => (seen.has(i) ? 0 : (seen.add(i), walk(graph.byName.get(i)!))));
      walk(st);
      return graph.stages.filter((s) => seen.has(s.name));
    };
    const drained = async (stages: CompiledStage[]): Promise<boolean> => {
      for (const s of stages) if (s.fn.kind !== 'source' && !s.barrier && (await depth(s.name)) > 0) return false;
      return true;
    };
    for (const b of graph.stages.filter((s) => s.barrier)) {
      while (!(await drained(ancestors(b)))) (await maybeTick(), await sleep(200));
      await runBarrier(b);
    }
    // 3. Everything downstream of the last barrier.
    while (!(await drained(graph.stages))) (await maybeTick(), await sleep(200));
    await tick();
    removeStaleTemps(o.outDir);
    const summary = finalizeRun(graph, sources, store);
    rec.state = 'done';
    rec.summary = summary;
    await writeRun(kv, rec);
    // The stage streams are empty now; remove them (the dead-letter stream and the KV record stay for inspection).
    for (const st of graph.stages)
      if (st.fn.kind !== 'source') await jsm.streams.delete(streamName(runId, st.name)).catch(() => false);
    return { runId, summary, wallS: (performance.now() - t0) / 1000 };

    async function runBarrier(b: CompiledStage): Promise<void> {
      const n = await depth(b.name);
      const consumer = await js.consumers.get(streamName(runId, b.name), CONSUMER);
      const msgs: JsMsg[] = [];
      const items = new Map<string, Item>();
      while (msgs.length < n) {
        const m = await consumer.next({ expires: 2000 });
        if (!m) continue;
        msgs.push(m);
        const it = (json.decode(m.data) as Envelope).item;
        items.set(it.id, it);
      }
      barrierIn.set(b.name, items.size);
      const beat = setInterval(() => msgs.forEach((m) => m.working()), Math.max(100, ackWaitMs / 3));
      try {
        const { rec: r } = await runBatchTask(b, [...items.values()], ctxFor(b), store);
        await publish(b, r.out);
      } finally {
        clearInterval(beat);
      }
      for (const m of msgs) await m.ackAck();
    }
  } finally {
    await nc.drain();
  }
}

