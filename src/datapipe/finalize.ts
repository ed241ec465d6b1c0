/**
 * End of a run: rebuild what happened from the durable result records (not from executor memory), so `local`,
 * `nats`, a resumed run and a re-run all produce byte-identical manifests for the same inputs.
 *
 * Walks the graph in topological order starting from the source items; each stage's inputs are its upstream
 * stages' recorded outputs. Writes <out>/manifest.jsonl (final items plus dropped items with `dropped`, sorted by
 * id), <out>/errors.jsonl (poison inputs with their error) and <out>/report.json.
 */
import { join } from 'node:path';
import type { CompiledGraph } from './graph.js';
import { batchKey, writeFileAtomic, type RunStore } from './store.js';
import type { Item, Json } from './types.js';

export interface StageSummary {
  stage: string;
  op: string;
  kind: string;
  in: number;
  out: number;
  dropped: number;
  errors: number;
  /** Inputs with no result record (the run did not finish them). */
  missing: number;
  /** Summed task time, seconds. */
  taskS: number;
}

export interface RunSummary {
  pipeline: string;
  outDir: string;
  complete: boolean;
  stages: StageSummary[];
  kept: number;
  dropped: number;
  errors: number;
  manifest: string;
}

const byId = (a: Item, b: Item): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function collectResults(graph: CompiledGraph, sources: Map<string, Item[]>, store: RunStore):
    { summary: RunSummary; manifest: Item[]; errors: Item[] } {
  const outputs = new Map<string, Item[]>();
  const stages: StageSummary[] = [];
  const final: Item[] = [];
  const droppedItems: Item[] = [];
  const errors: Item[] = [];
  for (const st of graph.stages) {
    const s: StageSummary = { stage: st.name, op: st.def.name, kind: st.fn.kind, in: 0, out: 0, dropped: 0, errors: 0,
      missing: 0, taskS: 0 };
    let out: Item[] = [];
    if (st.fn.kind === 'source') {
      out = sources.get(st.name) ?? [];
      s.in = out.length;
    } else {
      const seen = new Set<string>();
      const ins: Item[] = [];
      for (const up of st.inputs)
        for (const it of outputs.get(up)!) if (!seen.has(it.id)) (seen.add(it.id), ins.push(it));
      s.in = ins.length;
      const recs = [];
      if (st.barrier) {
        if (ins.length > 0 || st.inputs.every((u) => outputs.has(u))) {
          const r = store.readResult(st.name, batchKey(ins));
          if (r) recs.push(r);
          else s.missing = ins.length;
        }
      } else if (st.fn.kind === 'batch' || st.fn.kind === 'sink') {
        const keys = new Set<string>();
        for (const it of ins) {
          const p = store.readResult(st.name, it.id);
          if (!p?.via) s.missing++;
          else if (!keys.has(p.via)) {
            keys.add(p.via);
            const r = store.readResult(st.name, p.via);
            if (r) recs.push(r);
            else s.missing++;
          }
        }
      } else {
        for (const it of ins) {
          const r = store.readResult(st.name, it.id);
          if (r) recs.push(r);
          else s.missing++;
        }
      }
      for (const r of recs) {
        out.push(...r.out);
        s.taskS += (r.ms ?? 0) / 1000;
        for (const d of r.dropped ?? []) droppedItems.push({ ...d.item, dropped: `${st.name}: ${d.reason}` });
        s.dropped += r.dropped?.length ?? 0;
        if (r.error !== undefined) {
          s.errors++;
          const src = ins.find((i) => i.id === r.id);
          errors.push({ id: r.id, stage: st.name, source: (src?.source ?? src?.path ?? null) as Json, error: r.error });
        }
      }
    }
    s.out = out.length;
    s.taskS = Math.round(s.taskS * 1000) / 1000;
    outputs.set(st.name, out);
    if (st.outputs.length === 0 && st.fn.kind !== 'source') final.push(...out);
    stages.push(s);
  }
  const manifest = [...final, ...droppedItems].sort(byId);
  errors.sort(byId);
  const complete = stages.every((s) => s.missing === 0);
  return {
    summary: { pipeline: graph.name, outDir: store.outDir, complete, stages, kept: final.length,
      dropped: droppedItems.length, errors: errors.length, manifest: join(store.outDir, 'manifest.jsonl') },
    manifest, errors,
  };
}

/** Collect results and write manifest.jsonl + errors.jsonl. */
export function finalizeRun(graph: CompiledGraph, sources: Map<string, Item[]>, store: RunStore): RunSummary {
  const { summary, manifest, errors } = collectResults(graph, sources, store);
  const jsonl = (xs: Item[]): string => xs.map((x) => JSON.stringify(x)).join('\n') + (xs.length ? '\n' : '');
  writeFileAtomic(join(store.outDir, 'manifest.jsonl'), jsonl(manifest));
  writeFileAtomic(join(store.outDir, 'errors.jsonl'), jsonl(errors));
  return summary;
}
