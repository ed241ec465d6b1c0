/**
 * Worker-thread side of the local executor's thread pool: rebuilds the graph from the spec (built-in operators plus
 * plugin modules), then runs per-item tasks (task.ts semantics, records written here) as the main thread sends them.
 * Messages in: `{ seq, stage, item }`; out: `{ seq, rec, skipped }` or `{ seq, error }` for executor failures.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { builtinRegistry } from './builtin-operators.js';
import { compileGraph, type PipelineSpec } from './graph.js';
import { loadPlugins } from './registry.js';
import { RunStore } from './store.js';
import { runItemTask } from './task.js';
import type { Item, OperatorEnv } from './types.js';

export interface ThreadInit {
  spec: PipelineSpec;
  env: OperatorEnv;
  plugins: string[];
  outDir: string;
}

const init = workerData as ThreadInit;
const registry = builtinRegistry();
await loadPlugins(registry, init.plugins);
const graph = compileGraph(init.spec, registry, init.env);
const store = new RunStore(init.outDir);
const never = new AbortController().signal;

parentPort!.on('message', (m: { seq: number; stage: string; item: Item }) => {
  const st = graph.byName.get(m.stage)!;
  runItemTask(st, m.item, { outDir: init.outDir, stage: st.name, heartbeat: () => {}, signal: never }, store)
    .then(({ rec, skipped }) => parentPort!.postMessage({ seq: m.seq, rec, skipped }))
    .catch((e: unknown) => parentPort!.postMessage({ seq: m.seq, error: e instanceof Error ? e.message : String(e) }));
});
parentPort!.postMessage({ ready: true });
