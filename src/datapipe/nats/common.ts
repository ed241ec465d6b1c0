/**
 * Shared NATS plumbing for the coordinator, the workers and `status`: connecting, the KV bucket, the run record,
 * and summing per-worker progress entries.
 */
import { connect, JSONCodec, type KV, type NatsConnection } from 'nats';
import { KilnError } from '../../errors.js';
import type { PipelineSpec } from '../graph.js';
import type { Item } from '../types.js';
import { newStageProgress, type StageProgress } from '../progress.js';
import { KV_BUCKET, progKey, runKey } from './names.js';

export interface RunRecord {
  runId: string;
  spec: PipelineSpec;
  input: string;
  outDir: string;
  state: 'running' | 'done' | 'failed';
  createdAt: number;
  /** Changes on every submit; part of each Nats-Msg-Id so a resubmission is not dropped as a duplicate. */
  attempt: string;
  updatedAt: number;
  /** Redelivery timeout; workers heartbeat (`working()`) every third of it. */
  ackWaitMs: number;
  /** Deliveries after which an item is declared poison and sent to the dead-letter subject. */
  maxDeliver: number;
  error?: string;
  summary?: unknown;
}

export interface WorkerProgress {
  in: number;
  out: number;
  dropped: number;
  errors: number;
  skipped: number;
  running: number;
  redelivered: number;
}

export const json = JSONCodec<unknown>();

/** What a stage stream message carries: the submit attempt and the item (never media bytes). */
export interface Envelope {
  a: string;
  item: Item;
}

export const msgId = (attempt: string, stage: string, id: string): string => `${attempt}:${stage}:${id}`;

export async function connectNats(servers: string): Promise<NatsConnection> {
  try {
    // Ride out a server restart for about two minutes, then give up (a detached coordinator must not linger forever).
    return await connect({ servers: servers.split(','), name: 'kiln-datapipe', maxReconnectAttempts: 60,
      reconnectTimeWait: 2000 });
  } catch (e) {
    throw new KilnError('E_DATAPIPE', `cannot connect to NATS at ${servers} (${(e as Error).message}); start ` +
      '`nats-server -js` or pass --nats <url>');
  }
}

export async function openKv(nc: NatsConnection): Promise<KV> {
  return nc.jetstream().views.kv(KV_BUCKET, { history: 1 });
}

export async function readRun(kv: KV, runId: string): Promise<RunRecord | undefined> {
  const e = await kv.get(runKey(runId));
  if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
  return json.decode(e.value) as RunRecord;
}

export async function writeRun(kv: KV, rec: RunRecord): Promise<void> {
  rec.updatedAt = Date.now();
  await kv.put(runKey(rec.runId), json.encode(rec));
}

/** Sum every worker's progress for each stage of a run. */
export async function readProgress(kv: KV, runId: string, stages: string[]): Promise<Map<string, StageProgress>> {
  const out = new Map(stages.map((s) => [s, newStageProgress(s)]));
  const keys: string[] = [];
  for await (const k of await kv.keys(`prog.${runId}.>`)) keys.push(k);
  for (const k of keys) {
    const stage = k.split('.')[2];
    const p = out.get(stage);
    const e = await kv.get(k);
    if (!p || !e || e.operation !== 'PUT') continue;
    const w = json.decode(e.value) as WorkerProgress;
    p.in += w.in;
    p.out += w.out;
    p.dropped += w.dropped;
    p.errors += w.errors;
    p.skipped += w.skipped;
    p.running += w.running;
  }
  return out;
}

export async function writeProgress(kv: KV, runId: string, stage: string, worker: string, p: WorkerProgress):
    Promise<void> {
  await kv.put(progKey(runId, stage, worker), json.encode(p));
}
