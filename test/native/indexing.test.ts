/**
 * Native indexing kernels (native/kernels-index.cc) against the TypeScript reference: indexSelect / indexAdd with
 * repeated indices, gather / scatterAdd along the middle axis of [outer, n, inner] (inner = 1 and outer = 1
 * included), large enough to run on the pool. The accumulating kernels add in the reference's order, so every
 * result must match bit for bit, under every ISA and at 1 and 2 threads. Out-of-range indices throw E_ARG.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSame, eachConfig, nb, randn, ref, rng, skip } from './kernel-parity.js';

const SHAPES: [number, number, number][] = [[1, 7, 1], [3, 17, 5], [1, 300, 129], [40, 9, 1], [2, 1000, 64], [5, 3, 700]];

function indices(r: () => number, count: number, n: number): Int32Array {
  const idx = new Int32Array(count);
  for (let i = 0; i < count; i++) idx[i] = Math.floor(r() * n);
  if (count > 2) idx[1] = idx[0]; // a repeat
  return idx;
}

test('indexSelect and indexAdd (repeated indices accumulate in order)', { skip }, () => {
  const r = rng(21);
  const cases = SHAPES.map(([outer, n, inner]) => {
    const m = Math.max(1, Math.floor(n * 1.5));
    return { outer, n, inner, m, x: randn(r, outer * n * inner), idx: indices(r, m, n), src: randn(r, outer * m * inner), acc: randn(r, outer * n * inner) };
  });
  eachConfig((cfg) => {
    for (const { outer, n, inner, m, x, idx, src, acc } of cases) {
      const label = `${cfg} [${outer}, ${n}, ${inner}] m=${m}`;
      const got = new Float32Array(outer * m * inner);
      const want = new Float32Array(outer * m * inner);
      nb().indexSelect(x, outer, n, inner, idx, got);
      ref.indexSelect(x, outer, n, inner, idx, want);
      assertSame(got, want, `${label} indexSelect`);
      const aGot = acc.slice();
      const aWant = acc.slice();
      nb().indexAdd(aGot, outer, n, inner, idx, src);
      ref.indexAdd(aWant, outer, n, inner, idx, src);
      assertSame(aGot, aWant, `${label} indexAdd`);
    }
  });
  assert.throws(() => nb().indexSelect(new Float32Array(6), 1, 3, 2, new Int32Array([0, 3]), new Float32Array(4)), {
    name: 'KilnError', code: 'E_ARG', message: /index 3 at position 1 is outside \[0, 3\)/,
  });
  assert.throws(() => nb().indexAdd(new Float32Array(6), 1, 3, 2, new Int32Array([-1]), new Float32Array(2)), { code: 'E_ARG' });
});

test('gather and scatterAdd along the middle axis', { skip }, () => {
  const r = rng(22);
  const cases = SHAPES.map(([outer, n, inner]) => {
    const m = Math.max(1, Math.floor(n / 2) + 1);
    return { outer, n, inner, m, x: randn(r, outer * n * inner), idx: indices(r, outer * m * inner, n), src: randn(r, outer * m * inner), acc: randn(r, outer * n * inner) };
  });
  eachConfig((cfg) => {
    for (const { outer, n, inner, m, x, idx, src, acc } of cases) {
      const label = `${cfg} [${outer}, ${n}, ${inner}] m=${m}`;
      const got = new Float32Array(outer * m * inner);
      const want = new Float32Array(outer * m * inner);
      nb().gather(x, outer, n, inner, idx, m, got);
      ref.gather(x, outer, n, inner, idx, m, want);
      assertSame(got, want, `${label} gather`);
      const aGot = acc.slice();
      const aWant = acc.slice();
      nb().scatterAdd(aGot, outer, n, inner, idx, m, src);
      ref.scatterAdd(aWant, outer, n, inner, idx, m, src);
      assertSame(aGot, aWant, `${label} scatterAdd`);
    }
  });
  assert.throws(() => nb().gather(new Float32Array(6), 1, 3, 2, new Int32Array([0, 5]), 1, new Float32Array(2)), { code: 'E_ARG' });
  assert.throws(() => nb().scatterAdd(new Float32Array(6), 1, 3, 2, new Int32Array([0]), 1, new Float32Array(2)), { code: 'E_ARG' });
});
