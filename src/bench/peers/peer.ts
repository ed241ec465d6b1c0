/**
 * A peer library the GEMM benchmark compares Kiln against. A peer is loaded lazily (peers are devDependencies, so
 * an install without them reports "not installed" instead of failing) and prepares one square sgemm
 * C[n, n] = A[n, n] · B[n, n] on given inputs and a thread count; `run()` computes it once (A and B stay
 * resident in the peer, as a real workload's weights would).
 */

export interface PreparedGemm {
  /** Computes C once. */
  run(): Promise<void> | void;
  /** C of the last run, row-major [n, n] (a copy the caller may keep). */
  result(): Promise<Float32Array> | Float32Array;
  /** Threads the peer actually computes on (may differ from the request, e.g. tfjs-wasm in Node is single-threaded). */
  threadsUsed: number;
  release(): Promise<void> | void;
}

export interface GemmPeer {
  /** Short key used in the JSON: "onnxruntime" or "tfjs_wasm". */
  key: string;
  /** Library and version, e.g. "onnxruntime-node 1.30.0 (CPU EP)". */
  label: string;
  /** Facts worth printing next to its numbers (SIMD/threads used, execution provider). */
  notes: string[];
  prepare(n: number, threads: number, A: Float32Array, B: Float32Array): Promise<PreparedGemm>;
}

/** A peer that could not be loaded, and why. */
export interface MissingPeer {
  key: string;
  reason: string;
}
