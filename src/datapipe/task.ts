/**
 * One task = one stage applied to one item (or one batch). This is the single definition of task semantics that
 * both executors call, so they agree exactly:
 *   - skip-done: if the stage's result record for this input exists, return it without running anything;
 *   - run the operator; filters turn `false` into a dropped record with its reason;
 *   - poison: an operator that throws yields a record with `error` (the run goes on; the item is reported);
 *   - the record is written atomically after the operator's own outputs, so a crash in between only repeats
 *     idempotent work.
 */
import { KilnError } from '../errors.js';
import type { CompiledStage } from './graph.js';
import { batchKey, type ResultRecord, type RunStore } from './store.js';
import type { Item, StageContext } from './types.js';

export interface TaskOutcome {
  rec: ResultRecord;
  skipped: boolean;
}

function errorText(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0].slice(0, 500);
}

export async function runItemTask(stage: CompiledStage, item: Item, ctx: StageContext, store: RunStore):
    Promise<TaskOutcome> {
  const prev = store.readResult(stage.name, item.id);
  if (prev) return { rec: prev, skipped: true };
  const t0 = performance.now();
  let rec: ResultRecord;
  try {
    const fn = stage.fn;
    switch (fn.kind) {
      case 'map':
        rec = { id: item.id, out: [await fn.run(item, ctx)] };
        break;
      case 'flatMap':
        rec = { id: item.id, out: await fn.run(item, ctx) };
        break;
      case 'filter': {
        const r = await fn.run(item, ctx);
        rec = r === true ? { id: item.id, out: [item] } : { id: item.id, out: [], dropped: [{ item, reason: r.reason }] };
        break;
      }
      default:
        throw new KilnError('E_DATAPIPE', `stage "${stage.name}" (${fn.kind}) is not a per-item stage`);
    }
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    rec = { id: item.id, out: [], error: errorText(e) };
  }
  rec.ms = Math.round(performance.now() - t0);
  store.writeResult(stage.name, rec);
  return { rec, skipped: false };
}

/** Run a batch/sink stage on a group of items (sorted by id first, so results do not depend on arrival order). */
export async function runBatchTask(stage: CompiledStage, items: Item[], ctx: StageContext, store: RunStore):
    Promise<TaskOutcome> {
  const key = batchKey(items);
  const prev = store.readResult(stage.name, key);
  if (prev) return { rec: prev, skipped: true };
  const fn = stage.fn;
  if (fn.kind !== 'batch' && fn.kind !== 'sink') throw new KilnError('E_DATAPIPE', `stage "${stage.name}" is not a batch stage`);
  const sorted = [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const t0 = performance.now();
  let rec: ResultRecord;
  try {
    const r = await fn.run(sorted, ctx);
    rec = { id: key, out: r.out, ...(r.dropped && r.dropped.length > 0 ? { dropped: r.dropped } : {}) };
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    rec = { id: key, out: [], error: errorText(e) };
  }
  rec.ms = Math.round(performance.now() - t0);
  store.writeResult(stage.name, rec);
  // Fixed-size batches group items in arrival order, so each item also gets a pointer to its batch's record.
  if (fn.size !== 'all') for (const it of items) store.writeResult(stage.name, { id: it.id, out: [], via: key });
  return { rec, skipped: false };
}

/** For a fixed-size batch stage: the batch record an item already belongs to, if any. */
export function lookupBatchOf(stage: CompiledStage, item: Item, store: RunStore): ResultRecord | undefined {
  const ptr = store.readResult(stage.name, item.id);
  return ptr?.via ? store.readResult(stage.name, ptr.via) : undefined;
}
