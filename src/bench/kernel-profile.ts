/**
 * A per-kernel timing breakdown of whatever runs while it is on: `startKernelProfile()` wraps every method of the
 * active backend object in place with a timer (wall time per call, summed per kernel name; GEMMs also per shape
 * class "M×N×K batch" with their FLOPs), `stop()` restores the methods and returns the table. The time not spent
 * inside kernels (JS op dispatch, autograd bookkeeping, allocation, mask building in JS) is the step time minus the
 * kernels' sum, reported by the caller. Used by `kiln bench ernie-step --profile`; costs ~0.2 µs per kernel call.
 */
import { backend, type Backend } from '../backend/index.js';

export interface KernelRow {
  name: string;
  calls: number;
  ms: number;
  /** GEMM rows only: FLOPs and the achieved GFLOP/s. */
  flop?: number;
}

export interface KernelProfile {
  stop(): KernelRow[];
}

export function startKernelProfile(opts: { gemmShapes?: boolean } = {}): KernelProfile {
  const be = backend() as unknown as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  const rows = new Map<string, KernelRow>();
  const add = (name: string, ms: number, flop = 0) => {
    let r = rows.get(name);
    if (!r) rows.set(name, (r = { name, calls: 0, ms: 0, ...(flop ? { flop: 0 } : {}) }));
    r.calls++;
    r.ms += ms;
    if (flop) r.flop = (r.flop ?? 0) + flop;
  };
  for (const key of Object.keys(be)) {
    const fn = be[key];
    if (typeof fn !== 'function') continue;
    saved.set(key, fn);
    be[key] = function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      const r = (fn as (...a: unknown[]) => unknown).apply(this, args);
      const ms = performance.now() - t0;
      if (key === 'gemm') {
        const [batch, transA, transB, M, N, K] = args as [number, boolean, boolean, number, number, number];
        const flop = 2 * batch * M * N * K;
        add('gemm', ms, flop);
        if (opts.gemmShapes) add(`gemm ${M}×${N}×${K}${batch > 1 ? ` ×${batch}` : ''}${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''}`, ms, flop);
      } else if (key === 'unary' || key === 'binary' || key === 'binaryScalar' || key === 'reduce') add(`${key}:${String(args[0])}`, ms);
      else add(key, ms);
      return r;
    };
  }
  return {
    stop(): KernelRow[] {
      for (const [k, fn] of saved) be[k] = fn;
      return [...rows.values()].sort((a, b) => b.ms - a.ms);
    },
  };
}

/** Text lines of a profile: share of `totalMs`, calls, ms per step. */
export function kernelProfileLines(rows: KernelRow[], totalMs: number, steps: number, top = 40): string[] {
  const kernels = rows.filter((r) => !r.name.startsWith('gemm ')).reduce((a, r) => a + r.ms, 0);
  const out = [`  ${'kernel'.padEnd(40)} ${'ms/step'.padStart(9)} ${'share'.padStart(7)} ${'calls/step'.padStart(10)} ${'GFLOP/s'.padStart(8)}`];
  for (const r of rows.slice(0, top))
    out.push(`  ${r.name.slice(0, 40).padEnd(40)} ${(r.ms / steps).toFixed(2).padStart(9)} ${((100 * r.ms) / totalMs).toFixed(1).padStart(6)}% ${(r.calls / steps).toFixed(0).padStart(10)} ${r.flop ? (r.flop / r.ms / 1e6).toFixed(1).padStart(8) : ''.padStart(8)}`);
  out.push(`  ${'(outside kernels: JS ops, autograd, alloc)'.padEnd(40)} ${((totalMs - kernels) / steps).toFixed(2).padStart(9)} ${((100 * (totalMs - kernels)) / totalMs).toFixed(1).padStart(6)}%`);
  return out;
}

export type { Backend };
