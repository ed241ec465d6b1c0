/**
 * sgemm benchmark: C[n, n] = A[n, n] · B[n, n] in f32, 2·n³ FLOP, for Kiln (the active backend's `gemm` kernel,
 * the same call `kiln.matmul` makes, on contiguous Float32Arrays) and each peer, on the same inputs, in the same
 * process, their timed runs interleaved (see timing.ts). Reports GFLOP/s, ratios Kiln/peer and Kiln/peak, and a
 * correctness check so a fast wrong kernel cannot pass:
 *   - against a peer: max |C_kiln − C_peer| / max |C_peer| over the whole matrix (first peer available);
 *   - against f64: 64 sampled entries recomputed as f64 dot products, same normalisation.
 * Both must be below CHECK_TOLERANCE (f32 round-off at n = 2048 is ~1e-6 of max |C|).
 */
import { backend } from '../backend/index.js';
import { setKilnThreads } from './kiln-threads.js';
import type { GemmPeer, MissingPeer, PreparedGemm } from './peers/peer.js';
import { loadOnnxRuntime } from './peers/onnxruntime.js';
import { loadTfjsWasm } from './peers/tfjs-wasm.js';
import { timeInterleaved, type Timing, type TimingOptions } from './timing.js';

export const CHECK_TOLERANCE = 1e-4;

export interface GemmSide {
  gflops: number;
  ms: number;
  threadsUsed: number;
  timing: Timing;
}

export interface GemmPeerResult extends Partial<GemmSide> {
  label: string;
  notes: string[];
  /** Kiln GFLOP/s ÷ this peer's GFLOP/s. */
  kilnOverPeer: number | null;
  error?: string;
}

export interface GemmCheck {
  against: string | null;
  maxRelErr: number | null;
  f64SampleMaxRelErr: number;
  tolerance: number;
  passed: boolean;
}

export interface GemmResult {
  n: number;
  threads: number;
  flop: number;
  kiln: GemmSide & { backend: string; note: string | null };
  peers: Record<string, GemmPeerResult>;
  missingPeers: MissingPeer[];
  peakGflops: number | null;
  kilnOverPeak: number | null;
  check: GemmCheck;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Deterministic uniform [-1, 1) values (xorshift32), so every run and every library sees the same inputs. */
export function benchMatrix(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

function maxAbs(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/** max |x − ref| / max |ref| (normwise, so entries near zero do not blow up the ratio). */
export function maxRelErr(x: Float32Array, ref: Float32Array): number {
  let d = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(x[i] - ref[i]);
    if (Number.isNaN(e)) return Infinity; // a NaN anywhere fails the check
    if (e > d) d = e;
  }
  return d / (maxAbs(ref) || 1);
}

/** Recomputes `samples` entries of A·B in f64 and returns the normwise relative error of C at those entries. */
function f64SampleErr(n: number, A: Float32Array, B: Float32Array, C: Float32Array, samples = 64): number {
  let worst = 0;
  let scale = 0;
  let s = 12345;
  for (let t = 0; t < samples; t++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const i = s % n;
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % n;
    let ref = 0;
    for (let k = 0; k < n; k++) ref += A[i * n + k] * B[k * n + j];
    const e = Math.abs(C[i * n + j] - ref);
    worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
    scale = Math.max(scale, Math.abs(ref));
  }
  return worst / (scale || 1);
}

/** The peers that load in this install, and the ones that do not (with the reason). */
export async function loadGemmPeers(): Promise<{ peers: GemmPeer[]; missing: MissingPeer[] }> {
  const peers: GemmPeer[] = [];
  const missing: MissingPeer[] = [];
  for (const p of await Promise.all([loadOnnxRuntime(), loadTfjsWasm()])) {
    if ('prepare' in p) peers.push(p);
    else missing.push(p);
  }
  return { peers, missing };
}

export interface GemmBenchOptions {
  n: number;
  threads: number;
  timing: TimingOptions;
  peers: GemmPeer[];
  missingPeers: MissingPeer[];
  peakGflops: number | null;
}

export async function benchGemm(o: GemmBenchOptions): Promise<GemmResult> {
  const { n } = o;
  const flop = 2 * n * n * n;
  const A = benchMatrix(n * n, 0x9e3779b9 ^ n);
  const B = benchMatrix(n * n, 0x85ebca6b ^ n);
  const C = new Float32Array(n * n);

  // Kiln: the backend kernel matmul calls, on contiguous row-major arrays
  const be = backend();
  const th = await setKilnThreads(o.threads);
  const kilnCall = () => be.gemm(1, false, false, n, n, n, 1, A, 0, n, 0, B, 0, n, 0, 0, C, 0, n, 0);

  // every peer prepared first, then Kiln and the peers timed with their runs interleaved
  const peers: Record<string, GemmPeerResult> = {};
  const ready: { peer: GemmPeer; prepared: PreparedGemm }[] = [];
  let reference: { key: string; C: Float32Array } | null = null;
  let kt: Timing;
  try {
    for (const peer of o.peers) {
      try {
        ready.push({ peer, prepared: await peer.prepare(n, o.threads, A, B) });
      } catch (e) {
        peers[peer.key] = { label: peer.label, notes: peer.notes, kilnOverPeer: null, error: errorText(e) };
      }
    }
    const timings = await timeInterleaved([kilnCall, ...ready.map((r) => () => r.prepared.run())], o.timing);
    kt = timings[0];
    const kilnGflops = flop / kt.seconds / 1e9;
    for (let i = 0; i < ready.length; i++) {
      const { peer, prepared } = ready[i];
      const pt = timings[i + 1];
      const gflops = flop / pt.seconds / 1e9;
      peers[peer.key] = {
        label: peer.label, notes: peer.notes, gflops, ms: pt.seconds * 1e3, threadsUsed: prepared.threadsUsed, timing: pt,
        kilnOverPeer: kilnGflops / gflops,
      };
      if (!reference) reference = { key: peer.key, C: await prepared.result() };
    }
  } finally {
    for (const r of ready) await r.prepared.release();
  }
  const kilnGflops = flop / kt.seconds / 1e9;

  const rel = reference ? maxRelErr(C, reference.C) : null;
  const f64 = f64SampleErr(n, A, B, C);
  const passed = f64 < CHECK_TOLERANCE && (rel === null || rel < CHECK_TOLERANCE);
  return {
    n,
    threads: o.threads,
    flop,
    kiln: { gflops: kilnGflops, ms: kt.seconds * 1e3, threadsUsed: th.used, timing: kt, backend: be.name, note: th.note },
    peers,
    missingPeers: o.missingPeers,
    peakGflops: o.peakGflops,
    kilnOverPeak: o.peakGflops ? kilnGflops / o.peakGflops : null,
    check: { against: reference?.key ?? null, maxRelErr: rel, f64SampleMaxRelErr: f64, tolerance: CHECK_TOLERANCE, passed },
  };
}
