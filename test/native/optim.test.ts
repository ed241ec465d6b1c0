/**
 * Native optimizer kernels (native/kernels-optim.cc) against the TypeScript reference: AdamW with f32 moments and
 * the sum of squares are equal bit for bit (both compute in double in the same order, the native one without FMA
 * contraction), on odd sizes across the thread pool's blocks, under each ISA setting and at 1 and 2 threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addon, assertSame, eachConfig, nb, randn, ref, rng, skip } from './kernel-parity.js';

const SIZES = [1, 33, 4097, 70001];

test('adamwStep equals the reference bit for bit (weights and both moments), several steps', { skip }, () => {
  const r = rng(7);
  for (const n of SIZES) {
    const w0 = randn(r, n);
    const grads = [randn(r, n), randn(r, n), randn(r, n)];
    const run = (be: typeof ref) => {
      const w = w0.slice();
      const m = new Float32Array(n);
      const v = new Float32Array(n);
      grads.forEach((g, s) => {
        const t = s + 1;
        be.adamwStep(w, g, m, v, 0.9, 0.95, 1 / (1 - 0.9 ** t), 1 / (1 - 0.95 ** t), 3e-3, 1 - 3e-3 * 0.1, 1e-8);
      });
      return [w, m, v];
    };
    const want = run(ref);
    eachConfig((cfg) => {
      const got = run(nb());
      for (let i = 0; i < 3; i++) assertSame(got[i], want[i], `${cfg} n=${n} ${['w', 'm', 'v'][i]}`);
    });
  }
});

test('sumSquares equals the reference exactly across blocks', { skip }, () => {
  const r = rng(8);
  for (const n of [...SIZES, 3 * (1 << 15) + 5]) {
    const x = randn(r, n);
    const want = ref.sumSquares(x);
    eachConfig((cfg) => assert.equal(nb().sumSquares(x), want, `${cfg} n=${n}`));
  }
});

test('bad arguments throw E_ARG', { skip }, () => {
  assert.throws(() => addon!.adamwStep(new Float32Array(4), new Float32Array(3), new Float32Array(4), new Float32Array(4), 0.9, 0.95, 1, 1, 1e-3, 1, 1e-8), /g/);
});
