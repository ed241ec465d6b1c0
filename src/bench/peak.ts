/**
 * The machine's fp32 FMA peak, measured (never looked up): the native addon's `peakGflops(threads, seconds)` runs a
 * register-resident FMA loop (independent accumulators, no memory traffic) at the widest ISA the CPU supports, on
 * `threads` threads (the pool is sized to `threads` for the probe); each thread's best ~4 ms window counts, so other
 * processes' time slices do not lower it. It is called `runs` times and the best is kept. On a shared machine a probe can only read low
 * (other processes take cycles, nothing adds FMAs), so the suite probes at its start and again at its end and keeps
 * the higher (`mergePeaks`). Without the addon there is no number: the result says why, and every ratio to peak is
 * reported as unavailable.
 */
import { nativeStatus } from './native-probe.js';

export interface PeakResult {
  threads: number;
  /** GFLOP/s (1 FMA = 2 FLOP), or null when it could not be measured. */
  gflops: number | null;
  /** Probe seconds per call and number of calls (best kept). */
  seconds: number;
  runs: number;
  isa: string | null;
  note: string | null;
  /** Best GFLOP/s of each probe session (one entry per call of measurePeak merged in). */
  sessions: number[];
}

export async function measurePeak(threads: number, quick: boolean): Promise<PeakResult> {
  const seconds = quick ? 0.05 : 0.5;
  const runs = quick ? 2 : 5;
  const { addon, reason } = await nativeStatus();
  if (!addon) return { threads, gflops: null, seconds, runs: 0, isa: null, note: `not measured: ${reason}`, sessions: [] };
  // the probe runs on at most the pool's size: size the pool to `threads` for it, then put it back
  const poolBefore = addon.numThreads();
  addon.setNumThreads(threads);
  let best = 0;
  try {
    for (let r = 0; r < runs; r++) best = Math.max(best, addon.peakGflops(threads, seconds));
  } finally {
    addon.setNumThreads(poolBefore);
  }
  return { threads, gflops: best, seconds, runs, isa: addon.isa(), note: null, sessions: [best] };
}

/** The same thread count probed twice: the higher reading, with both sessions kept. */
export function mergePeaks(a: PeakResult, b: PeakResult): PeakResult {
  const sessions = [...a.sessions, ...b.sessions];
  return { ...a, gflops: sessions.length > 0 ? Math.max(...sessions) : null, runs: a.runs + b.runs, sessions };
}
