/**
 * Live per-stage progress counters (items in/out, throughput, queue depth) shared by both executors, and the
 * human renderings of progress and of the final summary table.
 */
import type { RunSummary } from './finalize.js';

export interface StageProgress {
  stage: string;
  in: number;
  out: number;
  dropped: number;
  errors: number;
  skipped: number;
  /** Items waiting in the stage's queue (local) or stream (nats). */
  queue: number;
  running: number;
}

export interface ProgressSnapshot {
  elapsedS: number;
  stages: StageProgress[];
}

export type ProgressFn = (p: ProgressSnapshot) => void;

export function newStageProgress(stage: string): StageProgress {
  return { stage, in: 0, out: 0, dropped: 0, errors: 0, skipped: 0, queue: 0, running: 0 };
}

/** One line per stage: "probe      in 12 out 12 (3.1/s) q 2 run 1 drop 0 err 1 skip 0". */
export function formatProgress(p: ProgressSnapshot): string {
  const w = Math.max(...p.stages.map((s) => s.stage.length), 5);
  return p.stages.map((s) => {
    const rate = p.elapsedS > 0 ? (s.out / p.elapsedS).toFixed(1) : '0.0';
    return `${s.stage.padEnd(w)}  in ${String(s.in).padStart(5)}  out ${String(s.out).padStart(5)} (${rate}/s)` +
      `  q ${String(s.queue).padStart(3)}  run ${s.running}  drop ${s.dropped}  err ${s.errors}  skip ${s.skipped}`;
  }).join('\n');
}

export function formatSummaryTable(s: RunSummary, wallS: number): string {
  const head = ['stage', 'op', 'in', 'out', 'dropped', 'errors', 'task s'];
  const rows = s.stages.map((x) => [x.stage, x.op, x.in, x.out, x.dropped, x.errors, x.taskS.toFixed(2)].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(head), ...rows.map(line),
    `${s.kept} kept, ${s.dropped} dropped, ${s.errors} errors in ${wallS.toFixed(2)} s` +
    `${s.complete ? '' : ' (INCOMPLETE: some inputs have no result)'}; manifest ${s.manifest}`].join('\n');
}
