/**
 * Parity of the native DeepSeek-V3 training kernels (native/kernels-deepseek-train.cc) with the reference
 * (src/backend/ts/deepseek-train.ts): `crossEntropyInPlace` (odd widths, ignored rows, large logits, a NaN row) and
 * `moeCombine` / `moeCombineBackward` (with and without gates, odd d and K, permuted rows), on every ISA this CPU has
 * and at 1 and 2 threads; bad arguments throw E_ARG. Skips when the addon is absent unless KILN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tsBackend } from '../../src/backend/index.js';
import { KilnError } from '../../src/errors.js';
import { assertClose, eachConfig, nativeSetup, randn, rng, skip } from './kernel-parity.js';

function permutation(g: () => number, n: number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(g() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

test('crossEntropyInPlace matches the reference: widths, ignored rows, large logits, NaN, ISAs, threads', { skip }, () => {
  const { be } = nativeSetup();
  for (const [rows, cols] of [[1, 1], [3, 17], [5, 63], [9, 129], [33, 1000], [7, 8192]] as const) {
    const g = rng(rows * 1000 + cols);
    const x = randn(g, rows * cols, 8);
    if (rows > 2) for (let c = 0; c < cols; c++) x[cols + c] += 60; // a row of large logits (max subtraction)
    const targets = Int32Array.from({ length: rows }, () => Math.floor(g() * cols));
    if (rows > 3) targets[3] = -100; // an ignored row
    const refX = x.slice();
    const refLoss = new Float32Array(rows);
    tsBackend.crossEntropyInPlace(refX, rows, cols, targets, -100, refLoss);
    eachConfig((label) => {
      const nx = x.slice();
      const nl = new Float32Array(rows).fill(7);
      be.crossEntropyInPlace(nx, rows, cols, targets, -100, nl);
      assertClose(nl, refLoss, `${label} ${rows}x${cols} loss`, { rtol: 1e-5, atol: 1e-5 });
      assertClose(nx, refX, `${label} ${rows}x${cols} grad`, { rtol: 1e-5, atol: 1e-7 });
    });
    // each gradient row sums to 0 (softmax − onehot); the loss is ≥ 0
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += refX[r * cols + c];
      assert.ok(Math.abs(s) < 1e-5, `row ${r} sums to ${s}`);
      assert.ok(refLoss[r] >= 0);
    }
  }
  // a NaN logit makes its row's loss and gradient NaN in both
  const x = Float32Array.of(1, NaN, 2, 0.5, 0.25, 3);
  const t = Int32Array.of(0, 2);
  const rl = new Float32Array(2);
  const rx = x.slice();
  tsBackend.crossEntropyInPlace(rx, 2, 3, t, -100, rl);
  eachConfig((label) => {
    const nx = x.slice();
    const nl = new Float32Array(2);
    be.crossEntropyInPlace(nx, 2, 3, t, -100, nl);
    assert.ok(Number.isNaN(nl[0]) && Number.isNaN(rl[0]), `${label}: NaN row loss`);
    assertClose(nl.subarray(1), rl.subarray(1), `${label} finite row loss`, { rtol: 1e-6, atol: 1e-6 });
    assertClose(nx.subarray(3), rx.subarray(3), `${label} finite row grad`, { rtol: 1e-6, atol: 1e-7 });
  });
  // a target outside [0, cols) that is not the ignore index is refused by both, naming it, before anything is written
  for (const backend of [be, tsBackend]) {
    const bx = x.slice();
    assert.throws(() => backend.crossEntropyInPlace(bx, 2, 3, Int32Array.of(-100, 3), -100, new Float32Array(2)),
      { name: 'KilnError', code: 'E_ARG', message: /targets\[1\] = 3 is outside \[0, 3\) and is not the ignore index/ });
    assert.deepEqual(Array.from(bx), Array.from(x));
  }
});

test('moeCombine / moeCombineBackward match the reference: gates or none, odd d and K, ISAs, threads', { skip }, () => {
  const { be } = nativeSetup();
  for (const [N, K, d] of [[1, 1, 1], [3, 2, 17], [17, 4, 33], [129, 3, 256], [64, 8, 15]] as const) {
    const g = rng(N * 97 + K * 13 + d);
    const R = N * K;
    const src = randn(g, R * d, 2);
    const pos = permutation(g, R);
    const gates = randn(g, N * K, 1.5);
    const dy = randn(g, N * d, 1);
    for (const gt of [gates, null]) {
      const refOut = new Float32Array(N * d);
      tsBackend.moeCombine(src, R, d, pos, gt, N, K, refOut);
      const refDs = new Float32Array(R * d);
      const refDg = new Float32Array(N * K);
      tsBackend.moeCombineBackward(dy, src, R, d, pos, gt, N, K, refDs, refDg);
      eachConfig((label) => {
        const out = new Float32Array(N * d).fill(NaN);
        be.moeCombine(src, R, d, pos, gt, N, K, out);
        assertClose(out, refOut, `${label} N${N} K${K} d${d} ${gt ? 'gates' : 'no gates'} out`, { rtol: 1e-5, atol: 1e-5 });
        const ds = new Float32Array(R * d).fill(NaN);
        const dg = new Float32Array(N * K).fill(NaN);
        be.moeCombineBackward(dy, src, R, d, pos, gt, N, K, ds, dg);
        assertClose(ds, refDs, `${label} dsrc`, { rtol: 1e-6, atol: 1e-7 });
        assertClose(dg, refDg, `${label} dgates`, { rtol: 1e-5, atol: 1e-5 });
      });
    }
  }
  // by hand (N = 1, K = 2, d = 2): out = 2·src[1] + 0.5·src[0] = 2·[100, 1000] + 0.5·[1, 10]
  const src = Float32Array.of(1, 10, 100, 1000);
  const out = new Float32Array(2);
  be.moeCombine(src, 2, 2, Int32Array.of(1, 0), Float32Array.of(2, 0.5), 1, 2, out);
  assert.deepEqual(Array.from(out), [200.5, 2005]);
});

test('the training kernels reject bad arguments with E_ARG (native and reference)', { skip }, () => {
  const { be } = nativeSetup();
  for (const b of [be, tsBackend]) {
    const isArg = (e: unknown) => e instanceof KilnError && e.code === 'E_ARG';
    assert.throws(() => b.crossEntropyInPlace(new Float32Array(6), 2, 3, Int32Array.of(0, 3), -100, new Float32Array(2)), isArg);
    assert.throws(() => b.moeCombine(new Float32Array(4), 2, 2, Int32Array.of(0, 2), null, 1, 2, new Float32Array(2)), isArg);
    assert.throws(() => b.moeCombine(new Float32Array(4), 2, 2, Int32Array.of(1, 1), null, 1, 2, new Float32Array(2)), isArg);
    assert.throws(() => b.moeCombineBackward(new Float32Array(2), new Float32Array(4), 2, 2, Int32Array.of(0, -1), null, 1, 2, new Float32Array(4), null), isArg);
  }
});

test('swiglu / swigluBackward match the reference (in place too), large |g|, ISAs, threads', { skip }, () => {
  const { be } = nativeSetup();
  for (const n of [1, 7, 16, 17, 129, 40000]) {
    const g = rng(n + 5);
    const G = randn(g, n, 6);
    if (n > 3) [G[0], G[1], G[2]] = [90, -90, 0];
    const U = randn(g, n, 2);
    const dA = randn(g, n, 1);
    const refA = new Float32Array(n);
    tsBackend.swiglu(G, U, n, refA);
    const refDG = new Float32Array(n);
    const refDU = new Float32Array(n);
    tsBackend.swigluBackward(G, U, dA, n, refDG, refDU);
    eachConfig((label) => {
      const A = new Float32Array(n).fill(NaN);
      be.swiglu(G, U, n, A);
      assertClose(A, refA, `${label} n${n} A`, { rtol: 1e-5, atol: 1e-6 });
      const gIn = G.slice();
      const uIn = U.slice();
      be.swigluBackward(gIn, uIn, dA, n, gIn, uIn); // in place, as expertsForward calls it
      assertClose(gIn, refDG, `${label} n${n} dG`, { rtol: 1e-5, atol: 1e-6 });
      assertClose(uIn, refDU, `${label} n${n} dU`, { rtol: 1e-5, atol: 1e-6 });
    });
  }
  const isArg = (e: unknown) => e instanceof KilnError && e.code === 'E_ARG';
  const x = new Float32Array(8);
  assert.throws(() => be.swigluBackward(x, x.subarray(4), x, 4, x.subarray(2, 6), x.subarray(4)), isArg);
  assert.throws(() => be.swiglu(x, x, 9, x), isArg);
});
