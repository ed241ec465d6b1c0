/**
 * Native fused NN kernels (native/kernels-nn.cc) against the TypeScript reference: softmax / log-softmax and their
 * backward, cross-entropy (ignore index, label smoothing, with and without dlogits), RMSNorm and LayerNorm with
 * their backward (with and without weight / bias, dw / db accumulating onto existing values), on odd shapes, with
 * fully masked, NaN and +inf rows, under every ISA the CPU has and at 1 and 2 threads.
 * Tolerances: softmax and cross-entropy use a vectorised f32 exp, so an element may differ by 1e-6 of itself plus
 * 1e-6 of its row's largest magnitude; norms compute in double and match to 1e-6 relative; dw / db are sums over
 * rows that the reference accumulates in f32, held to 1e-5 of the largest entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, eachConfig, nb, randn, ref, rng, skip } from './kernel-parity.js';

const SHAPES: [number, number][] = [[1, 1], [3, 17], [17, 63], [5, 1000], [2, 129], [64, 513], [4, 32000]];

/** For each element, the largest |value| in its row (the scale its f32-exp error is measured against). */
function rowScale(y: Float32Array, rows: number, cols: number): Float32Array {
  const s = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) {
      const v = Math.abs(y[r * cols + c]);
      if (Number.isFinite(v) && v > m) m = v;
    }
    s.fill(m, r * cols, (r + 1) * cols);
  }
  return s;
}

function logits(r: () => number, rows: number, cols: number, special: boolean): Float32Array {
  const x = randn(r, rows * cols, 8);
  if (special && rows >= 3 && cols >= 3) {
    x.fill(-Infinity, 0, cols); // a fully masked row
    x[cols + 1] = NaN;
    x[2 * cols + 2] = Infinity;
  }
  return x;
}

test('softmax and log-softmax forward and backward match the reference', { skip }, () => {
  const r = rng(11);
  const cases = SHAPES.map(([rows, cols]) => ({ rows, cols, x: logits(r, rows, cols, true), dy: randn(r, rows * cols) }));
  eachConfig((cfg) => {
    for (const { rows, cols, x, dy } of cases)
      for (const log of [false, true]) {
        const label = `${cfg} [${rows}, ${cols}] log=${log}`;
        const got = new Float32Array(rows * cols);
        const want = new Float32Array(rows * cols);
        nb().softmax(x, rows, cols, got, log);
        ref.softmax(x, rows, cols, want, log);
        assertClose(got, want, `${label} softmax`, { rtol: 1e-6, scale: rowScale(want, rows, cols) });
        const y = want.map((v) => (Number.isFinite(v) ? v : 0)); // finite y so the backward is comparable everywhere
        const gGot = new Float32Array(rows * cols);
        const gWant = new Float32Array(rows * cols);
        nb().softmaxBackward(y, dy, rows, cols, gGot, log);
        ref.softmaxBackward(y, dy, rows, cols, gWant, log);
        assertClose(gGot, gWant, `${label} backward`, { rtol: 1e-6, scale: rowScale(gWant, rows, cols) });
      }
  });
});

test('crossEntropy: ignore index, label smoothing, loss only and with dlogits', { skip }, () => {
  const r = rng(12);
  const cases = SHAPES.map(([rows, cols]) => {
    const t = new Int32Array(rows);
    for (let i = 0; i < rows; i++) t[i] = i % 5 === 2 ? -100 : Math.floor(r() * cols);
    return { rows, cols, x: logits(r, rows, cols, false), t };
  });
  eachConfig((cfg) => {
    for (const { rows, cols, x, t } of cases)
      for (const smoothing of [0, 0.1])
        for (const withGrad of [true, false]) {
          const label = `${cfg} [${rows}, ${cols}] eps=${smoothing} grad=${withGrad}`;
          const lGot = new Float32Array(rows).fill(7);
          const lWant = new Float32Array(rows).fill(7);
          const dGot = withGrad ? new Float32Array(rows * cols).fill(3) : null;
          const dWant = withGrad ? new Float32Array(rows * cols).fill(3) : null;
          nb().crossEntropy(x, rows, cols, t, -100, smoothing, lGot, dGot);
          ref.crossEntropy(x, rows, cols, t, -100, smoothing, lWant, dWant);
          assertClose(lGot, lWant, `${label} loss`, { rtol: 1e-6, atol: 1e-6 });
          if (dGot && dWant) assertClose(dGot, dWant, `${label} dlogits`, { rtol: 1e-6, scale: rowScale(dWant, rows, cols) });
        }
  });
  assert.throws(() => nb().crossEntropy(new Float32Array(6), 2, 3, new Int32Array([0, 3]), -100, 0, new Float32Array(2), null), {
    name: 'KilnError', code: 'E_ARG', message: /targets\[1\] = 3 is outside \[0, 3\)/,
  });
});

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

test('rmsNorm and layerNorm forward and backward, with and without affine parameters', { skip }, () => {
  const r = rng(13);
  const cases = SHAPES.map(([rows, cols]) => ({
    rows, cols, x: randn(r, rows * cols, 3), dy: randn(r, rows * cols), w: randn(r, cols, 2), b: randn(r, cols), dw0: randn(r, cols), db0: randn(r, cols),
  }));
  eachConfig((cfg) => {
    for (const { rows, cols, x, dy, w, b, dw0, db0 } of cases)
      for (const affine of [true, false]) {
        const label = `${cfg} [${rows}, ${cols}] affine=${affine}`;
        const wv = affine ? w : null;
        // RMSNorm
        const yG = new Float32Array(rows * cols), yW = new Float32Array(rows * cols);
        const rG = new Float32Array(rows), rW = new Float32Array(rows);
        nb().rmsNorm(x, wv, rows, cols, 1e-5, yG, rG);
        ref.rmsNorm(x, wv, rows, cols, 1e-5, yW, rW);
        assertClose(yG, yW, `${label} rms y`, { rtol: 1e-6 });
        assertClose(rG, rW, `${label} rms rstd`, { rtol: 1e-6 });
        const dxG = new Float32Array(rows * cols), dxW = new Float32Array(rows * cols);
        const dwG = affine ? dw0.slice() : null, dwW = affine ? dw0.slice() : null;
        nb().rmsNormBackward(x, wv, rW, dy, rows, cols, dxG, dwG);
        ref.rmsNormBackward(x, wv, rW, dy, rows, cols, dxW, dwW);
        assertClose(dxG, dxW, `${label} rms dx`, { rtol: 1e-6, scale: rowScale(dxW, rows, cols) });
        if (dwG && dwW) assertClose(dwG, dwW, `${label} rms dw`, { rtol: 1e-5, atol: 1e-5 * maxAbs(dwW) });
        // LayerNorm
        const bv = affine ? b : null;
        const mG = new Float32Array(rows), mW = new Float32Array(rows);
        nb().layerNorm(x, wv, bv, rows, cols, 1e-5, yG, mG, rG);
        ref.layerNorm(x, wv, bv, rows, cols, 1e-5, yW, mW, rW);
        assertClose(yG, yW, `${label} ln y`, { rtol: 1e-6, atol: 1e-7 });
        assertClose(mG, mW, `${label} ln mean`, { rtol: 1e-6, atol: 1e-7 });
        assertClose(rG, rW, `${label} ln rstd`, { rtol: 1e-6 });
        const dbG = affine ? db0.slice() : null, dbW = affine ? db0.slice() : null;
        if (dwG && dwW) {
          dwG.set(dw0);
          dwW.set(dw0);
        }
        nb().layerNormBackward(x, wv, mW, rW, dy, rows, cols, dxG, dwG, dbG);
        ref.layerNormBackward(x, wv, mW, rW, dy, rows, cols, dxW, dwW, dbW);
        assertClose(dxG, dxW, `${label} ln dx`, { rtol: 1e-6, scale: rowScale(dxW, rows, cols) });
        if (dwG && dwW) assertClose(dwG, dwW, `${label} ln dw`, { rtol: 1e-5, atol: 1e-5 * maxAbs(dwW) });
        if (dbG && dbW) assertClose(dbG, dbW, `${label} ln db`, { rtol: 1e-5, atol: 1e-5 * maxAbs(dbW) });
      }
    // dw without db and db without dw
    const { rows, cols, x, dy, w, dw0, db0 } = cases[3];
    const mean = new Float32Array(rows), rstd = new Float32Array(rows), y = new Float32Array(rows * cols);
    ref.layerNorm(x, w, null, rows, cols, 1e-5, y, mean, rstd);
    const dx1 = new Float32Array(rows * cols), dx2 = new Float32Array(rows * cols);
    const dbG = db0.slice(), dbW = db0.slice();
    nb().layerNormBackward(x, w, mean, rstd, dy, rows, cols, dx1, null, dbG);
    ref.layerNormBackward(x, w, mean, rstd, dy, rows, cols, dx2, null, dbW);
    assertClose(dbG, dbW, `${cfg} ln db only`, { rtol: 1e-5, atol: 1e-5 * maxAbs(dbW) });
    const dwG = dw0.slice(), dwW = dw0.slice();
    nb().layerNormBackward(x, w, mean, rstd, dy, rows, cols, dx1, dwG, null);
    ref.layerNormBackward(x, w, mean, rstd, dy, rows, cols, dx2, dwW, null);
    assertClose(dwG, dwW, `${cfg} ln dw only`, { rtol: 1e-5, atol: 1e-5 * maxAbs(dwW) });
  });
  assert.throws(() => nb().rmsNorm(new Float32Array(5), null, 2, 3, 1e-5, new Float32Array(6), new Float32Array(2)), { code: 'E_ARG' });
});
