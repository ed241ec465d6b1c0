/**
 * Test helpers for the native GEMM: a seeded RNG, a float64 triple-loop reference of the addon's gemm contract,
 * and a checker whose tolerance scales with each entry's magnitude (1e-5 * sqrt(K) relative to
 * |alpha| * sum_p |a_ip * b_pj| + |beta * c_ij|).
 */
import assert from 'node:assert/strict';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, r: () => number, sab = false): Float32Array {
  const a = sab ? new Float32Array(new SharedArrayBuffer(4 * n)) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * 2 - 1;
  return a;
}

export interface GemmCase {
  batch: number; transA: boolean; transB: boolean; M: number; N: number; K: number; alpha: number;
  A: Float32Array; aOff: number; lda: number; strideA: number;
  B: Float32Array; bOff: number; ldb: number; strideB: number;
  beta: number; C: Float32Array; cOff: number; ldc: number; strideC: number;
}

/** Builds a case with random data, padded leading dimensions and offsets (`pad`), batch strides as given. */
export function makeCase(
  r: () => number,
  o: { batch?: number; transA: boolean; transB: boolean; M: number; N: number; K: number; alpha?: number; beta?: number;
    pad?: number; broadcastA?: boolean; broadcastB?: boolean; sab?: boolean; nanC?: boolean },
): GemmCase {
  const batch = o.batch ?? 1;
  const pad = o.pad ?? 0;
  const { M, N, K, transA, transB } = o;
  const aRows = transA ? K : M, aCols = transA ? M : K;
  const bRows = transB ? N : K, bCols = transB ? K : N;
  const lda = Math.max(1, aCols + pad), ldb = Math.max(1, bCols + pad), ldc = Math.max(1, N + pad);
  const aSpan = aRows * lda, bSpan = bRows * ldb, cSpan = M * ldc;
  const strideA = o.broadcastA ? 0 : aSpan + pad, strideB = o.broadcastB ? 0 : bSpan + 2 * pad, strideC = cSpan + pad;
  const aOff = pad * 3, bOff = pad * 5, cOff = pad * 7;
  const A = randomArray(aOff + (batch - 1) * strideA + aSpan + pad, r, o.sab);
  const B = randomArray(bOff + (batch - 1) * strideB + bSpan + pad, r, o.sab);
  const C = randomArray(cOff + (batch - 1) * strideC + cSpan + pad, r, o.sab);
  if (o.nanC) C.fill(Number.NaN);
  return { batch, transA, transB, M, N, K, alpha: o.alpha ?? 1, A, aOff, lda, strideA, B, bOff, ldb, strideB,
    beta: o.beta ?? 0, C, cOff, ldc, strideC };
}

/** Expected C (a copy of c.C with every product applied) plus each entry's error scale. */
export function reference(c: GemmCase): { C: Float64Array; scale: Float64Array } {
  const out = Float64Array.from(c.C);
  const scale = new Float64Array(c.C.length);
  for (let b = 0; b < c.batch; b++) {
    const a0 = c.aOff + b * c.strideA, b0 = c.bOff + b * c.strideB, c0 = c.cOff + b * c.strideC;
    for (let i = 0; i < c.M; i++) {
      for (let j = 0; j < c.N; j++) {
        let s = 0, abs = 0;
        for (let p = 0; p < c.K; p++) {
          const av = c.A[a0 + (c.transA ? p * c.lda + i : i * c.lda + p)]!;
          const bv = c.B[b0 + (c.transB ? j * c.ldb + p : p * c.ldb + j)]!;
          s += av * bv;
          abs += Math.abs(av * bv);
        }
        const idx = c0 + i * c.ldc + j;
        const old = c.C[idx]!;
        out[idx] = c.beta === 0 ? c.alpha * s : c.alpha * s + c.beta * old;
        scale[idx] = Math.abs(c.alpha) * abs + (c.beta === 0 ? 0 : Math.abs(c.beta * old));
      }
    }
  }
  return { C: out, scale };
}

/** Asserts got matches the reference everywhere (entries outside every C_b must be untouched, bit for bit). */
export function assertClose(got: Float32Array, ref: { C: Float64Array; scale: Float64Array }, K: number, what: string): void {
  const tol = 1e-5 * Math.sqrt(Math.max(K, 1));
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!, e = ref.C[i]!;
    if (Number.isNaN(e) && Number.isNaN(g)) continue;
    const err = Math.abs(g - e);
    const bound = tol * ref.scale[i]! + 1e-30;
    if (!(err <= bound) && !(ref.scale[i] === 0 && g === Math.fround(e))) {
      assert.fail(`${what}: C[${i}] = ${g}, expected ${e} (error ${err.toExponential(2)} > ${bound.toExponential(2)})`);
    }
  }
}

export type GemmFn = (
  batch: number, transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, aOff: number, lda: number, strideA: number,
  B: Float32Array, bOff: number, ldb: number, strideB: number,
  beta: number, C: Float32Array, cOff: number, ldc: number, strideC: number,
) => void;

export function runCase(gemm: GemmFn, c: GemmCase, C: Float32Array = c.C): void {
  gemm(c.batch, c.transA, c.transB, c.M, c.N, c.K, c.alpha, c.A, c.aOff, c.lda, c.strideA, c.B, c.bOff, c.ldb, c.strideB,
    c.beta, C, c.cOff, c.ldc, c.strideC);
}
