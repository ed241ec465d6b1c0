/**
 * Tests for the native GEMM (native/gemm*.cc through src/backend/native-addon.ts) against a float64 triple loop:
 * odd sizes, all four transpose combinations, alpha/beta (beta = 0 with NaN in C), offsets, padded leading
 * dimensions, batch strides including 0, SharedArrayBuffer-backed arrays, shapes crossing every cache block, GEMV
 * shapes, on every ISA path this CPU has, and 1 vs 2 threads. Skips when the addon is not built, unless
 * KILN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeAddon, nativeAddonStatus, type NativeIsa } from '../../src/backend/native-addon.js';
import { assertClose, makeCase, reference, rng, runCase } from './gemm-reference.js';

const addon = loadNativeAddon();
const skip = addon === null && process.env.KILN_REQUIRE_NATIVE !== '1' ? `native addon unavailable: ${nativeAddonStatus()}` : false;

function native() {
  if (addon === null) throw new Error(`KILN_REQUIRE_NATIVE=1 but the native addon is unavailable: ${nativeAddonStatus()}`);
  return addon;
}

const ORDER: NativeIsa[] = ['scalar', 'avx2', 'avx512'];
function isasHere(): NativeIsa[] {
  const best = ORDER.indexOf(native().bestIsa());
  return ORDER.slice(0, best + 1);
}

/** Runs fn once per ISA this CPU supports, restoring the best ISA afterwards. */
function forEachIsa(fn: (isa: NativeIsa) => void): void {
  const a = native();
  try {
    for (const isa of isasHere()) {
      assert.equal(a.setIsa(isa), isa);
      fn(isa);
    }
  } finally {
    a.setIsa(a.bestIsa());
  }
}

const SIZES = [1, 3, 17, 33, 65, 129, 257];
const TRANS: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];

test('gemm: random odd shapes, all transposes, alpha/beta, offsets, padded leading dims, every ISA', { skip }, () => {
  forEachIsa((isa) => {
    const r = rng(42);
    for (let t = 0; t < 24; t++) {
      const pick = () => SIZES[Math.floor(r() * SIZES.length)]!;
      let [M, N, K] = [pick(), pick(), pick()];
      if (M * N * K > 65 * 129 * 257) K = 17; // keep the JS reference fast
      const [transA, transB] = TRANS[t % 4]!;
      const beta = [0, 1, -0.5, 2][Math.floor(r() * 4)]!;
      const c = makeCase(r, { transA, transB, M, N, K, alpha: [1, -1.5, 0.25][t % 3]!, beta, pad: t % 3 === 0 ? 0 : 1 + (t % 5) });
      const ref = reference(c);
      runCase(native().gemm, c);
      assertClose(c.C, ref, K, `${isa} M=${M} N=${N} K=${K} tA=${transA} tB=${transB} beta=${beta}`);
    }
  });
});

test('gemm: every transpose combination on a shape with edges in M, N and K', { skip }, () => {
  forEachIsa((isa) => {
    const r = rng(7);
    for (const [transA, transB] of TRANS) {
      const c = makeCase(r, { transA, transB, M: 65, N: 33, K: 129, alpha: 0.5, beta: 0.75, pad: 3 });
      const ref = reference(c);
      runCase(native().gemm, c);
      assertClose(c.C, ref, 129, `${isa} tA=${transA} tB=${transB}`);
    }
  });
});

test('gemm: beta = 0 ignores NaN in C; alpha = 0 and K = 0 give beta * C', { skip }, () => {
  forEachIsa((isa) => {
    const r = rng(3);
    for (const [M, N, K] of [[17, 33, 65], [1, 65, 17], [33, 1, 17], [3, 3, 1]] as const) {
      const c = makeCase(r, { transA: false, transB: false, M, N, K, beta: 0, pad: 2, nanC: true });
      // only C's own entries are NaN-free afterwards; padding stays NaN (checked by assertClose)
      const ref = reference(c);
      runCase(native().gemm, c);
      assertClose(c.C, ref, K, `${isa} nan M=${M} N=${N} K=${K}`);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) assert.ok(Number.isFinite(c.C[c.cOff + i * c.ldc + j]));
    }
    const z = makeCase(r, { transA: false, transB: false, M: 9, N: 20, K: 0, beta: 0.5 });
    const refZ = reference(z);
    runCase(native().gemm, z);
    assertClose(z.C, refZ, 1, `${isa} K=0`);
    const a0 = makeCase(r, { transA: true, transB: false, M: 9, N: 20, K: 5, alpha: 0, beta: -2 });
    a0.A.fill(Number.NaN); // alpha = 0: A and B are not read (BLAS semantics)
    const refA0 = reference({ ...a0, A: new Float32Array(a0.A.length) });
    runCase(native().gemm, a0);
    assertClose(a0.C, refA0, 1, `${isa} alpha=0`);
  });
});

test('gemm: batches with strides, broadcast A or B (stride 0), SharedArrayBuffer storage', { skip }, () => {
  forEachIsa((isa) => {
    const r = rng(11);
    const shapes = [
      { batch: 5, M: 17, N: 33, K: 9, broadcastA: true },
      { batch: 3, M: 64, N: 64, K: 64, broadcastB: true, sab: true },
      { batch: 7, M: 3, N: 65, K: 33, sab: true },
      { batch: 2, M: 129, N: 129, K: 129, transA: true },
      { batch: 4, M: 1, N: 40, K: 17, transB: true },
    ];
    for (const s of shapes) {
      const c = makeCase(r, { transA: false, transB: false, alpha: 1.25, beta: 0.5, pad: 2, ...s });
      if (s.sab) assert.ok(c.A.buffer instanceof SharedArrayBuffer && c.C.buffer instanceof SharedArrayBuffer);
      const ref = reference(c);
      runCase(native().gemm, c);
      assertClose(c.C, ref, s.K, `${isa} ${JSON.stringify(s)}`);
    }
  });
});

test('gemm: GEMV and rank-1 shapes (M = 1, N = 1, K = 1) with transposes and strides', { skip }, () => {
  forEachIsa((isa) => {
    const r = rng(5);
    const shapes: [number, number, number][] = [[1, 1000, 300], [1, 70, 1], [700, 1, 90], [300, 1, 2000], [65, 129, 1], [1, 1, 1]];
    for (const [M, N, K] of shapes) {
      for (const [transA, transB] of TRANS) {
        const c = makeCase(r, { transA, transB, M, N, K, alpha: -0.5, beta: 0.25, pad: 1 });
        const ref = reference(c);
        runCase(native().gemm, c);
        assertClose(c.C, ref, K, `${isa} M=${M} N=${N} K=${K} tA=${transA} tB=${transB}`);
      }
    }
  });
});

test('gemm: shapes spanning several cache blocks (mc, kc, nc), 1 and 2 threads agree', { skip }, () => {
  const a = native();
  const before = a.numThreads();
  try {
    forEachIsa((isa) => {
      const r = rng(13);
      // K crosses kc (256) twice; M crosses mc; N crosses several nr panels with an edge.
      for (const [transA, transB] of [[false, false], [true, true]] as [boolean, boolean][]) {
        const c = makeCase(r, { transA, transB, M: 350, N: 97, K: 600, alpha: 1, beta: 1, pad: 1 });
        const ref = reference(c);
        const out1 = Float32Array.from(c.C), out2 = Float32Array.from(c.C);
        a.setNumThreads(1);
        runCase(a.gemm, c, out1);
        a.setNumThreads(2);
        runCase(a.gemm, c, out2);
        assertClose(out1, ref, 600, `${isa} 1 thread`);
        assertClose(out2, ref, 600, `${isa} 2 threads`);
        for (let i = 0; i < out1.length; i++) {
          if (Math.abs(out1[i]! - out2[i]!) > 1e-5 * Math.sqrt(600) * (Math.abs(ref.scale[i]!) + 1e-30))
            assert.fail(`${isa}: 1-thread and 2-thread results differ at ${i}: ${out1[i]} vs ${out2[i]}`);
        }
      }
    });
    // N beyond one nc panel (4096 columns): spot-check a sample of entries.
    const r = rng(17);
    a.setNumThreads(2);
    const c = makeCase(r, { transA: false, transB: true, M: 20, N: 4200, K: 100, beta: 0 });
    const ref = reference(c);
    runCase(a.gemm, c);
    assertClose(c.C, ref, 100, 'N > nc, 2 threads splitting columns');
  } finally {
    a.setNumThreads(before);
  }
});

test('gemm: bad arguments throw KilnError E_ARG and leave C untouched', { skip }, () => {
  const a = native();
  const A = new Float32Array(12), B = new Float32Array(12), C = new Float32Array(9).fill(7);
  const ok = () => a.gemm(1, false, false, 3, 3, 4, 1, A, 0, 4, 0, B, 0, 3, 0, 0, C, 0, 3, 0);
  ok();
  C.fill(7);
  const bad: [string, () => void, RegExp][] = [
    ['A too short', () => a.gemm(1, false, false, 3, 3, 5, 1, A, 0, 5, 0, B, 0, 3, 0, 0, C, 0, 3, 0), /A needs|B needs/],
    ['aOff past the end', () => a.gemm(1, false, false, 3, 3, 4, 1, A, 1, 4, 0, B, 0, 3, 0, 0, C, 0, 3, 0), /A needs elements \[1, 13\) but the Float32Array has length 12/],
    ['C too short', () => a.gemm(1, false, false, 3, 3, 4, 1, A, 0, 4, 0, B, 0, 3, 0, 0, C, 1, 3, 0), /C needs/],
    ['lda below width', () => a.gemm(1, false, false, 3, 3, 4, 1, A, 0, 3, 0, B, 0, 3, 0, 0, C, 0, 3, 0), /leading dimension of A/],
    ['ldc below width', () => a.gemm(1, false, false, 3, 3, 4, 1, A, 0, 4, 0, B, 0, 3, 0, 0, C, 0, 2, 0), /leading dimension of C/],
    ['batch overruns B', () => a.gemm(2, false, false, 3, 3, 4, 1, A, 0, 4, 0, B, 0, 3, 12, 0, C, 0, 3, 9), /needs/],
    ['overlapping C batches', () => a.gemm(2, false, false, 1, 3, 4, 1, A, 0, 4, 0, B, 0, 3, 0, 0, C, 0, 3, 2), /strideC/],
    ['negative M', () => a.gemm(1, false, false, -3, 3, 4, 1, A, 0, 4, 0, B, 0, 3, 0, 0, C, 0, 3, 0), /M = -3 is out of range/],
    ['fractional K', () => a.gemm(1, false, false, 3, 3, 3.5, 1, A, 0, 4, 0, B, 0, 3, 0, 0, C, 0, 3, 0), /K must be an integer/],
    ['NaN alpha', () => a.gemm(1, false, false, 3, 3, 4, Number.NaN, A, 0, 4, 0, B, 0, 3, 0, 0, C, 0, 3, 0), /alpha must be a finite/],
    ['huge ld', () => a.gemm(1, false, false, 3, 3, 4, 1, A, 0, 2 ** 52, 0, B, 0, 3, 0, 0, C, 0, 3, 0), /A needs/],
    ['Float64Array', () => a.gemm(1, false, false, 3, 3, 4, 1, new Float64Array(12) as unknown as Float32Array, 0, 4, 0, B, 0, 3, 0, 0, C, 0, 3, 0), /A must be a Float32Array/],
    ['number for transA', () => (a.gemm as (...x: unknown[]) => void)(1, 0, false, 3, 3, 4, 1, A, 0, 4, 0, B, 0, 3, 0, 0, C, 0, 3, 0), /transA must be a boolean/],
    ['too few arguments', () => (a.gemm as (...x: unknown[]) => void)(1, false, false, 3, 3, 4), /alpha must be a number, got undefined/],
  ];
  for (const [what, fn, msg] of bad) {
    assert.throws(fn, (e: unknown) => {
      const err = e as { name?: string; code?: string; message?: string };
      assert.equal(err.name, 'KilnError', what);
      assert.equal(err.code, 'E_ARG', what);
      assert.match(err.message ?? '', msg, what);
      return true;
    }, what);
  }
  assert.deepEqual(Array.from(C), new Array(9).fill(7));
});
