/**
 * The machine's fp32 FMA peak, measured (never looked up): the native addon's `peakGflops(threads, seconds)` runs a
 * register-resident FMA loop (independent accumulators, no memory traffic) at the widest ISA the CPU supports, on
 * `threads` threads. It is called `runs` times and the best is kept. Without the addon there is no number: the
 * result says why, and every ratio to peak is reported as unavailable.
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
}

export async function measurePeak(threads: number, quick: boolean): Promise<PeakResult> {
  const seconds = quick ? 0.05 : 0.5;
  const runs = 3;
  const { addon, reason } = await nativeStatus();
  if (!addon) return { threads, gflops: null, seconds, runs: 0, isa: null, note: `not measured: ${reason}` };
  let best = 0;
  for (let r = 0; r < runs; r++) best = Math.max(best, addon.peakGflops(threads, seconds));
  return { threads, gflops: best, seconds, runs, isa: addon.isa(), note: null };
}
