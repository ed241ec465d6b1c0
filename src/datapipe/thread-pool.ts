/**
 * A pool of worker threads for the local executor, so per-item tasks whose JavaScript is CPU-heavy (shot detection's
 * HSV analysis, clip metrics) use several cores instead of the main thread's one. Each thread rebuilds the graph from
 * the spec (operators must therefore come from the built-ins or plugin modules) and writes its own result records;
 * tasks go to the least-loaded thread.
 */
import { Worker } from 'node:worker_threads';
import { KilnError } from '../errors.js';
import type { ResultRecord } from './store.js';
import type { TaskOutcome } from './task.js';
import type { ThreadInit } from './task-thread.js';
import type { Item } from './types.js';

interface Slot {
  worker: Worker;
  load: number;
  ready: Promise<void>;
}

export class TaskThreadPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { resolve: (o: TaskOutcome) => void; reject: (e: Error) => void }>();
  private seq = 0;

  constructor(n: number, init: ThreadInit) {
    for (let i = 0; i < n; i++) {
      const worker = new Worker(new URL('./task-thread.js', import.meta.url), { workerData: init });
      let ok!: () => void;
      let bad!: (e: Error) => void;
      const ready = new Promise<void>((res, rej) => ((ok = res), (bad = rej)));
      worker.on('message', (m: { ready?: true; seq: number; rec?: ResultRecord; skipped?: boolean; error?: string }) => {
        if (m.ready) return ok();
        const p = this.pending.get(m.seq);
        if (!p) return;
        this.pending.delete(m.seq);
        if (m.error !== undefined) p.reject(new KilnError('E_DATAPIPE', `task thread: ${m.error}`));
        else p.resolve({ rec: m.rec!, skipped: m.skipped! });
      });
      worker.on('error', (e) => {
        bad(e);
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      this.slots.push({ worker, load: 0, ready });
    }
  }

  async run(stage: string, item: Item): Promise<TaskOutcome> {
    const slot = this.slots.reduce((a, b) => (b.load < a.load ? b : a));
    await slot.ready;
    slot.load++;
    const seq = this.seq++;
    try {
      return await new Promise<TaskOutcome>((resolve, reject) => {
        this.pending.set(seq, { resolve, reject });
        slot.worker.postMessage({ seq, stage, item });
      });
    } finally {
      slot.load--;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
