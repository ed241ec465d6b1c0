/**
 * The FP8 GEMM of DeepSeek-V3's recipe, simulated (arXiv 2412.19437 §3.3.2, "Increasing Accumulation Precision"):
 * C[M, N] = Σ over K-chunks of `interval` (N_C = 128) products of  (Aq_chunk · Bq_chunk) × sA × sB,
 * where Aq, Bq are the unscaled E4M3 values (their products are exact), sA the scale of A's tile holding the chunk's
 * row, sB that of B's tile holding the chunk's column. Each chunk's partial sum is the tensor-core accumulation; at
 * the end of the chunk it is multiplied by its scales and added into an FP32 accumulator ("promotion").
 *
 * Two simulations of the in-chunk accumulator:
 * - default: the chunk's partial dot product in (at least) f32 — one engine GEMM per chunk (the fast path);
 * - `accumulatorBits: p`: each partial sum rounded to p significant bits after every addition (the report measures
 *   ~14 retained bits on H800); plain loops, for small shapes and studies. `interval: Infinity` (one chunk, only
 *   with per-tensor scales along K) models a GEMM without promotion.
 * The scaled promotion itself is exact f32 arithmetic: acc ← fround(acc + fround(P · fround(sA·sB))).
 *
 * Operands are QuantizedMatrix (row-major as stored); `transA` means A is stored [K, M], `transB` that B is stored
 * [N, K]. Along K, every tile must cover whole chunks (its K-extent a multiple of `interval`, or all of K).
 */
import { backend } from '../../backend/index.js';
import { KilnError } from '../../errors.js';
import type { QuantizedMatrix } from './quantize.js';

export interface ScaledGemmOptions {
  /** Products per chunk before promotion to the f32 accumulator (N_C). Default 128. */
  interval?: number;
  /** Simulate a p-bit in-chunk accumulator instead of an f32 one (slow loops). Default null (f32). */
  accumulatorBits?: number | null;
}

/** x rounded to `p` significant bits, to nearest (Veltkamp split in f64; 1 ≤ p ≤ 52). */
export function roundToBits(x: number, p: number): number {
  const c = (2 ** (53 - p) + 1) * x;
  return c - (c - x);
}

/**
 * Σ_k a[k]·b[k] with an accumulator of `bits` significant bits (null: f32) that is promoted into an f32 total every
 * `interval` products. The scalar model behind the GEMM's limited-precision path; tests use it directly.
 */
export function chunkedDot(a: ArrayLike<number>, b: ArrayLike<number>, bits: number | null, interval: number): number {
  let total = 0;
  for (let k0 = 0; k0 < a.length; k0 += interval) {
    const k1 = Math.min(a.length, k0 + interval);
    let s = 0;
    for (let k = k0; k < k1; k++) {
      const prod = Math.fround(a[k] * b[k]);
      s = bits === null ? Math.fround(s + prod) : roundToBits(s + prod, bits);
    }
    total = Math.fround(total + s);
  }
  return total;
}

/** acc[m, n] ← fround(acc + fround(P[m, n] · fround(sA[m]·sB[n]))): the scaled promotion of one chunk. */
function promote(acc: Float32Array, P: Float32Array, sA: Float32Array, sB: Float32Array, sRow: Float32Array, M: number, N: number): void {
  for (let m = 0; m < M; m++) {
    const sa = sA[m];
    const row = m * N;
    for (let n = 0; n < N; n++) sRow[n] = sa * sB[n]; // the f32 store rounds sA·sB
    for (let n = 0; n < N; n++) acc[row + n] += Math.fround(P[row + n] * sRow[n]);
  }
}

export function scaledGemm(a: QuantizedMatrix, transA: boolean, b: QuantizedMatrix, transB: boolean, opts: ScaledGemmOptions = {}): Float32Array {
  const interval = opts.interval ?? 128;
  const bits = opts.accumulatorBits ?? null;
  const M = transA ? a.cols : a.rows;
  const K = transA ? a.rows : a.cols;
  const N = transB ? b.rows : b.cols;
  const Kb = transB ? b.cols : b.rows;
  if (K !== Kb) throw new KilnError('E_SHAPE', `scaledGemm: inner dims ${K} and ${Kb} differ`);
  if (!(interval >= 1)) throw new KilnError('E_ARG', `scaledGemm: interval ${interval} must be ≥ 1 (128 in the recipe)`);
  const tileKA = transA ? a.tr : a.tc;
  const tileKB = transB ? b.tc : b.tr;
  for (const [t, name] of [[tileKA, 'A'], [tileKB, 'B']] as const)
    if (!(t >= K || (Number.isFinite(interval) && t % interval === 0)))
      throw new KilnError('E_ARG', `scaledGemm: ${name}'s tiles span ${t} along K, which does not cover whole ${interval}-wide chunks; use tiles that are multiples of the interval`);
  const acc = new Float32Array(M * N);
  const step = Number.isFinite(interval) ? interval : Math.max(K, 1);
  const sA = new Float32Array(M);
  const sB = new Float32Array(N);
  const sRow = new Float32Array(N);
  const P = bits === null ? new Float32Array(M * N) : null;
  const be = backend();
  for (let k0 = 0; k0 < K; k0 += step) {
    const kc = Math.min(K, k0 + step) - k0;
    for (let m = 0; m < M; m++)
      sA[m] = transA ? a.scales[Math.floor(k0 / a.tr) * a.gridCols + Math.floor(m / a.tc)] : a.scales[Math.floor(m / a.tr) * a.gridCols + Math.floor(k0 / a.tc)];
    for (let n = 0; n < N; n++)
      sB[n] = transB ? b.scales[Math.floor(n / b.tr) * b.gridCols + Math.floor(k0 / b.tc)] : b.scales[Math.floor(k0 / b.tr) * b.gridCols + Math.floor(n / b.tc)];
    if (P) {
      // A chunk: stored [M, K] → offset k0, ld K; stored [K, M] → offset k0·M, ld M. B likewise.
      be.gemm(1, transA, transB, M, N, kc, 1,
        a.values, transA ? k0 * M : k0, transA ? M : K, 0,
        b.values, transB ? k0 : k0 * N, transB ? K : N, 0,
        0, P, 0, N, 0);
      promote(acc, P, sA, sB, sRow, M, N);
    } else {
      for (let m = 0; m < M; m++)
        for (let n = 0; n < N; n++) {
          let s = 0;
          for (let k = k0; k < k0 + kc; k++) {
            const av = transA ? a.values[k * M + m] : a.values[m * K + k];
            const bv = transB ? b.values[n * K + k] : b.values[k * N + n];
            s = roundToBits(s + av * bv, bits!); // E4M3 products are exact
          }
          acc[m * N + n] += Math.fround(s * Math.fround(sA[m] * sB[n]));
        }
    }
  }
  return acc;
}
