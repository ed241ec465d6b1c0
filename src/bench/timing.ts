/**
 * The benchmark timing method, shared by every measurement so they are comparable:
 *   1. warm-up: `warmupCalls` untimed calls (JIT, allocator pools, thread-pool start, page faults);
 *   2. a run = call `fn` repeatedly until at least `minSeconds` of wall time has passed; its time per call is
 *      elapsed / calls;
 *   3. `runs` such runs; the reported time is the BEST (lowest) time per call, because on a shared machine noise
 *      only ever adds time. The median is kept in the result too.
 * `timeInterleaved` applies the same method to several competitors at once, alternating their runs.
 * A call so slow that one warm-up call already exceeds `singleCallSeconds` is not repeated for runs: it is called
 * once more and the better of those two timed calls is the sample (reported as runs = 2, repsPerRun = 1), so a slow
 * reference kernel cannot stall the suite.
 */

export interface TimingOptions {
  /** Minimum wall time of one run, seconds (0.5 in full mode, shorter with --quick). */
  minSeconds: number;
  /** Number of runs; the best is reported. */
  runs: number;
  /** Untimed calls before the runs. */
  warmupCalls: number;
  /** When one warm-up call takes longer than this, it becomes the only sample. */
  singleCallSeconds: number;
}

export interface Timing {
  /** Best seconds per call over the runs. */
  seconds: number;
  /** Median seconds per call over the runs. */
  medianSeconds: number;
  runs: number;
  /** Calls in each run (the last run's count). */
  repsPerRun: number;
  /**
   * Best process CPU seconds (user + system, all threads) per call over the runs; set by `timeSync` only. For
   * single-threaded code on a machine busy with other work it shows the cost without the waiting for a core.
   */
  cpuSeconds?: number;
}

export const FULL_TIMING: TimingOptions = { minSeconds: 0.5, runs: 5, warmupCalls: 2, singleCallSeconds: 2 };
export const QUICK_TIMING: TimingOptions = { minSeconds: 0.02, runs: 2, warmupCalls: 1, singleCallSeconds: 0.5 };

export function timingOptions(quick: boolean): TimingOptions {
  return quick ? QUICK_TIMING : FULL_TIMING;
}

const now = (): number => performance.now() / 1000;

function summarize(perCall: number[], reps: number): Timing {
  const sorted = [...perCall].sort((a, b) => a - b);
  return { seconds: sorted[0], medianSeconds: sorted[Math.floor((sorted.length - 1) / 2)], runs: sorted.length, repsPerRun: reps };
}

/** Times a synchronous call (see the file header for the method). */
export function timeSync(fn: () => void, opts: TimingOptions): Timing {
  for (let i = 0; i < opts.warmupCalls; i++) {
    const t0 = now();
    fn();
    const dt = now() - t0;
    if (dt > opts.singleCallSeconds) {
      const t1 = now();
      fn();
      return summarize([dt, now() - t1], 1);
    }
  }
  const perCall: number[] = [];
  let cpu = Infinity;
  let reps = 0;
  for (let r = 0; r < opts.runs; r++) {
    reps = 0;
    const c0 = process.cpuUsage();
    const t0 = now();
    let elapsed = 0;
    do {
      fn();
      reps++;
      elapsed = now() - t0;
    } while (elapsed < opts.minSeconds);
    perCall.push(elapsed / reps);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6 / reps);
  }
  return { ...summarize(perCall, reps), cpuSeconds: cpu };
}

/** A call to time: synchronous, or returning a promise that is awaited before the next call starts. */
export type BenchCall = () => unknown;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/** One run of `fn`: repeat for at least `minSeconds`; seconds per call. Sync calls never touch the microtask queue. */
async function oneRun(fn: BenchCall, isAsync: boolean, minSeconds: number): Promise<{ perCall: number; reps: number }> {
  let reps = 0;
  const t0 = now();
  let elapsed = 0;
  if (isAsync) {
    do {
      await fn();
      reps++;
      elapsed = now() - t0;
    } while (elapsed < minSeconds);
  } else {
    do {
      fn();
      reps++;
      elapsed = now() - t0;
    } while (elapsed < minSeconds);
  }
  return { perCall: elapsed / reps, reps };
}

/**
 * Times several calls with their runs interleaved round-robin (run 1 of each, then run 2 of each, ...), so that
 * competitors compared with each other see the same stretches of a shared machine's background load. Each call
 * gets the warm-up and the best-of-runs of the file header; a call slower than `singleCallSeconds` is timed twice
 * as single calls and sits out the runs.
 */
export async function timeInterleaved(fns: readonly BenchCall[], opts: TimingOptions): Promise<Timing[]> {
  const state = fns.map(() => ({ isAsync: false, slow: null as number[] | null, perCall: [] as number[], reps: 0 }));
  for (let i = 0; i < fns.length; i++) {
    const st = state[i];
    for (let w = 0; w < opts.warmupCalls; w++) {
      const t0 = now();
      const r = fns[i]();
      if (isThenable(r)) {
        st.isAsync = true;
        await r;
      }
      const dt = now() - t0;
      if (dt > opts.singleCallSeconds) {
        const t1 = now();
        await fns[i]();
        st.slow = [dt, now() - t1];
        break;
      }
    }
  }
  for (let r = 0; r < opts.runs; r++)
    for (let i = 0; i < fns.length; i++) {
      const st = state[i];
      if (st.slow) continue;
      const run = await oneRun(fns[i], st.isAsync, opts.minSeconds);
      st.perCall.push(run.perCall);
      st.reps = run.reps;
    }
  return state.map((st) => (st.slow ? summarize(st.slow, 1) : summarize(st.perCall, st.reps)));
}

/** A human description of the method, printed under the table and stored in the JSON. */
export function describeTiming(opts: TimingOptions): string {
  return `${opts.warmupCalls} warm-up call(s); then best of ${opts.runs} runs, each repeating the call for >= ${opts.minSeconds} s ` +
    `(a call slower than ${opts.singleCallSeconds} s: best of 2 single calls)`;
}
