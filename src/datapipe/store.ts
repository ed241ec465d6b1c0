/**
 * The run store: everything a run writes under its output directory, always write-then-rename so a reader never
 * sees a half-written file and a repeated write (at-least-once delivery) leaves exactly one copy.
 *
 * Layout:  <out>/.state/<stage>/<key>.json   one result record per (stage, input item id) -- the skip-done marker
 *          <out>/clips/, <out>/shards/, ...    operator outputs (deterministic names chosen by the operators)
 *          <out>/manifest.jsonl, errors.jsonl, report.json   written at the end of a run
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { KilnError } from '../errors.js';
import type { Item } from './types.js';

/** A stage's durable result for one input (or one batch). */
export interface ResultRecord {
  /** Input item id (or batch key). */
  id: string;
  out: Item[];
  /** Items this task dropped (filters, dedup), each with its reason. */
  dropped?: Array<{ item: Item; reason: string }>;
  /** Set when the input was poison: the operator threw. */
  error?: string;
  /** For an item of a fixed-size batch: the key of the batch record holding its result. */
  via?: string;
  /** Wall time of the task, ms. */
  ms?: number;
}

/** A file-name-safe, collision-free key for an id. */
export function safeKey(id: string): string {
  const clean = id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  if (clean === id && !clean.startsWith('.')) return clean;
  return `${clean}~${createHash('sha1').update(id).digest('hex').slice(0, 10)}`;
}

/** A temp path beside `finalPath` that keeps its extension (ffmpeg picks the muxer from it). */
export function tempPathFor(finalPath: string): string {
  const ext = extname(finalPath);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  return join(dirname(finalPath), `.${basename(finalPath, ext)}.tmp-${tag}${ext}`);
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = tempPathFor(path);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      /* the directory itself is unusable; nothing to clean */
    }
    throw new KilnError('E_IO', `datapipe: cannot write ${path}: ${(e as Error).message}; check the output directory`);
  }
}

export class RunStore {
  constructor(readonly outDir: string) {}

  resultPath(stage: string, id: string): string {
    return join(this.outDir, '.state', stage, `${safeKey(id)}.json`);
  }

  readResult(stage: string, id: string): ResultRecord | undefined {
    let text: string;
    try {
      text = readFileSync(this.resultPath(stage, id), 'utf8');
    } catch {
      return undefined;
    }
    const rec = JSON.parse(text) as ResultRecord;
    return rec.id === id ? rec : undefined;
  }

  writeResult(stage: string, rec: ResultRecord): void {
    writeFileAtomic(this.resultPath(stage, rec.id), JSON.stringify(rec));
  }
}

/** Key of a batch: stable for the same set of input ids, whatever order they arrived in. */
export function batchKey(items: Item[]): string {
  const h = createHash('sha1');
  for (const id of items.map((i) => i.id).sort()) h.update(id).update('\0');
  return `batch-${items.length}-${h.digest('hex').slice(0, 16)}`;
}

/** Remove temp files left by killed tasks (`.<name>.tmp-<pid>-<hex>.<ext>`); they are never outputs. */
export function removeStaleTemps(dir: string): void {
  let ents;
  try {
    ents = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of ents) {
    const p = join(dir, e.name);
    if (e.isDirectory()) removeStaleTemps(p);
    else if (/^\..*\.tmp-\d+-[0-9a-f]{8}/.test(e.name)) rmSync(p, { force: true });
  }
}
