/**
 * Per-op dispatch overhead: microseconds per `a.add(b)` on two 4-element f32 tensors, i.e. the cost of the op
 * layer (shape/broadcast checks, output allocation from the caching allocator, the backend call, autograd's
 * record, scope tracking) with almost no arithmetic. Measured in steady state: each timed call runs `opsPerCall`
 * adds inside one `tidy` (which disposes their outputs, returning the buffers to the pool), after warm-up, with
 * the same best-of-runs method as every other benchmark. Target: ≤ 2 µs per op (wall clock). The process CPU time
 * per op is reported beside it: on a machine whose other jobs keep the cores busy, wall time includes waiting for
 * a core, CPU time does not.
 */
import { tensor } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { timeSync, type Timing, type TimingOptions } from './timing.js';

export const OVERHEAD_TARGET_US = 2;

export interface OverheadResult {
  /** Wall-clock µs per op (best run): the value, judged against the target. */
  usPerOp: number;
  /** Process CPU µs per op (best run): the same cost without waiting for a core on a busy machine. */
  cpuUsPerOp: number | null;
  opsPerCall: number;
  targetUs: number;
  meetsTarget: boolean;
  timing: Timing;
  /** Sum of the last call's outputs, checked so the op cannot be optimised away or wrong. */
  checkSum: number;
}

export function benchOverhead(timing: TimingOptions, opsPerCall = 1000): OverheadResult {
  const a = tensor([1, 2, 3, 4]);
  const b = tensor([0.5, 0.25, 0.125, 0.0625]);
  let checkSum = 0;
  try {
    // the op path must be JIT-optimised before timing, whatever the mode: at least 20 warm-up calls
    const t = timeSync(() => {
      tidy(() => {
        let last = a;
        for (let i = 0; i < opsPerCall; i++) last = a.add(b);
        const d = last.data() as Float32Array;
        checkSum = d[0] + d[1] + d[2] + d[3];
      });
    }, { ...timing, warmupCalls: Math.max(timing.warmupCalls, 20) });
    const usPerOp = (t.seconds / opsPerCall) * 1e6;
    const cpuUsPerOp = t.cpuSeconds === undefined ? null : (t.cpuSeconds / opsPerCall) * 1e6;
    return { usPerOp, cpuUsPerOp, opsPerCall, targetUs: OVERHEAD_TARGET_US, meetsTarget: usPerOp <= OVERHEAD_TARGET_US, timing: t, checkSum };
  } finally {
    a.dispose();
    b.dispose();
  }
}
