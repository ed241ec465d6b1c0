/**
 * Native elementwise and reduction kernels (native/kernels-elementwise.cc, kernels-reduce.cc) against the
 * TypeScript reference: every unary and binary op on odd sizes, strided / transposed / broadcast / rank-0 views,
 * special values (±inf, NaN, ±0, subnormals), binaryScalar with scalars that are and are not f32, where, copy for
 * every element size, fill, and sum / max / min / argmax / argmin over [outer, r, inner] (row and column cases),
 * each under every ISA the CPU has and at 1 and 2 threads. Unary exp / tanh / sigmoid / silu run in f32 natively
 * (≤ 4 ulp; results below 1e-36 in magnitude may flush to zero where the f32 exp overflows), the other
 * transcendental ops in double: all are held to 3e-7 relative (+1e-36 absolute); arithmetic, comparisons,
 * selection, copies and max/min must match exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contiguousStrides, numel } from '../../src/tensor/tensor.js';
import type { BinaryOp, UnaryOp, View } from '../../src/backend/backend.js';
import type { StorageArray } from '../../src/tensor/dtype.js';
import { addon, assertClose, assertSame, eachConfig, nb, randn, ref, rng, skip, SPECIALS } from './kernel-parity.js';

const UNARY: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sin', 'cos', 'tanh', 'sigmoid', 'silu', 'gelu', 'geluTanh', 'relu', 'sign', 'square', 'reciprocal', 'erf', 'siluGrad', 'geluGrad', 'geluTanhGrad'];
const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];



/** Mixed magnitudes with the special values up front. */
function values(r: () => number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * (i % 3 === 0 ? 30 : i % 3 === 1 ? 1e-3 : 3);
  a.set(SPECIALS.slice(0, Math.min(n, SPECIALS.length)));
  return a;
}

function view(data: Float32Array, shape: number[], strides?: number[], offset = 0): View {
  return { data, shape, strides: strides ?? contiguousStrides(shape), offset };
}

test('unary: every op on contiguous data of odd sizes (incl. the parallel path) matches the reference', { skip }, () => {
  const r = rng(1);
  const inputs = [1, 3, 17, 63, 129, 40003].map((n) => values(r, n));
  const expected = new Map<string, Float32Array>();
  for (const op of UNARY)
    for (const x of inputs) {
      const o = new Float32Array(x.length);
      ref.unary(op, view(x, [x.length]), o);
      expected.set(`${op}/${x.length}`, o);
    }
  eachConfig((cfg) => {
    for (const op of UNARY)
      for (const x of inputs) {
        const o = new Float32Array(x.length);
        nb().unary(op, view(x, [x.length]), o);
        assertClose(o, expected.get(`${op}/${x.length}`)!, `${cfg} ${op} n=${x.length}`, { rtol: 3e-7, atol: 1e-36 });
      }
  });
});

test('unary: strided, transposed, broadcast, rank-0 and empty views', { skip }, () => {
  const r = rng(2);
  const base = values(r, 80000);
  const views: View[] = [
    view(base, [5, 7], [1, 5], 3),
    view(base, [4, 3, 6], [50, 2, 7], 11),
    view(base, [6, 17], [0, 1], 100),
    view(base, [3, 9], [1, 0], 7),
    view(base, [300, 200], [1, 300], 0), // transposed: tiled copy, then mapped in place
    view(base, [3, 40, 37], [1480, 1, 40], 6), // batched transpose, sizes not multiples of the tile
    view(base, [2, 9, 33], [1, 66, 2], 1), // unit stride on the first dim only: gathered rows
    view(base, [39000], [2], 1), // one long row with stride 2
    view(base, [2, 1, 3, 1, 4], [24, 5, 8, 9, 1], 2), // size-1 dims and mergeable dims
    view(base, [], [], 5),
    view(base, [0, 5], [5, 1], 0),
  ];
  eachConfig((cfg) => {
    for (const op of ['silu', 'exp', 'abs', 'gelu', 'sign'] as UnaryOp[])
      for (const v of views) {
        const n = numel(v.shape);
        const got = new Float32Array(n);
        const want = new Float32Array(n);
        nb().unary(op, v, got);
        ref.unary(op, v, want);
        assertClose(got, want, `${cfg} ${op} shape=[${v.shape}] strides=[${v.strides}]`, { rtol: 3e-7, atol: 1e-36 });
      }
  });
});

interface BinCase { shape: number[]; a: View; b: View }

function binaryCases(r: () => number): BinCase[] {
  const A = values(r, 100000);
  const B = values(r, 100000);
  B.set([0, 0, -0, Infinity, NaN, -Infinity, 1e-30, 2, -3], 0);
  return [
    { shape: [129], a: view(A, [129]), b: view(B, [129]) },
    { shape: [17, 33], a: view(A, [17, 33]), b: view(B, [17, 33], [0, 1]) },
    { shape: [17, 33], a: view(A, [17, 33]), b: view(B, [17, 33], [1, 0], 4) },
    { shape: [3, 4, 5], a: view(A, [3, 4, 5], [0, 5, 1]), b: view(B, [3, 4, 5], [1, 3, 12]) },
    { shape: [300, 257], a: view(A, [300, 257]), b: view(B, [300, 257], [0, 1]) },
    { shape: [300, 257], a: view(A, [300, 257], [1, 300]), b: view(B, [300, 257], [1, 0]) },
    { shape: [50000], a: view(A, [50000], [1], 9), b: view(B, [50000], [2], 0) },
    { shape: [], a: view(A, [], [], 4), b: view(B, [], [], 3) },
    { shape: [4, 0], a: view(A, [4, 0], [0, 1]), b: view(B, [4, 0], [0, 1]) },
  ];
}

test('binary: every op with broadcast and strided operands matches the reference exactly (pow to 3e-7)', { skip }, () => {
  const cases = binaryCases(rng(3));
  eachConfig((cfg) => {
    for (const op of BINARY)
      for (const c of cases) {
        const n = numel(c.shape);
        const got = new Float32Array(n);
        const want = new Float32Array(n);
        nb().binary(op, c.a, c.b, c.shape, got);
        ref.binary(op, c.a, c.b, c.shape, want);
        const label = `${cfg} ${op} shape=[${c.shape}] a=[${c.a.strides}] b=[${c.b.strides}]`;
        if (op === 'pow') assertClose(got, want, label, { rtol: 3e-7, atol: 1e-38 });
        else assertSame(got, want, label);
      }
  });
});

test('binaryScalar: f32 and non-f32 scalars, both orders, contiguous and strided', { skip }, () => {
  const r = rng(4);
  const x = values(r, 41000);
  const views = [view(x, [129]), view(x, [40, 20], [1, 40], 5), view(x, [40000], [1], 1)];
  const scalars = [0.1, 2, -3.5, 1 / 3, 1e-40, Infinity, -Infinity, NaN, 0, -0, 1e30];
  eachConfig((cfg) => {
    for (const op of BINARY)
      for (const s of scalars)
        for (const scalarFirst of [false, true])
          for (const v of views) {
            const n = numel(v.shape);
            const got = new Float32Array(n);
            const want = new Float32Array(n);
            nb().binaryScalar(op, v, s, got, scalarFirst);
            ref.binaryScalar(op, v, s, want, scalarFirst);
            const label = `${cfg} ${op} s=${s} first=${scalarFirst} shape=[${v.shape}]`;
            if (op === 'pow') assertClose(got, want, label, { rtol: 3e-7, atol: 1e-38 });
            else assertSame(got, want, label);
          }
  });
});

test('where: NaN / -0 conditions, broadcast operands', { skip }, () => {
  const r = rng(5);
  const cond = new Float32Array(5000);
  for (let i = 0; i < cond.length; i++) cond[i] = [0, -0, NaN, 1, -2, 0.5][i % 6];
  const a = values(r, 5000);
  const b = values(r, 5000);
  const cases: [number[], View, View, View][] = [
    [[63], view(cond, [63]), view(a, [63]), view(b, [63])],
    [[17, 40], view(cond, [17, 40], [0, 1]), view(a, [17, 40], [40, 1]), view(b, [17, 40], [1, 0])],
    [[7, 9], view(cond, [7, 9], [1, 7]), view(a, [7, 9], [0, 0], 3), view(b, [7, 9], [9, 1])],
    [[70, 70], view(cond, [70, 70], [70, 1]), view(a, [70, 70], [1, 70]), view(b, [70, 70], [0, 1])],
  ];
  eachConfig((cfg) => {
    for (const [shape, c, x, y] of cases) {
      const got = new Float32Array(numel(shape));
      const want = new Float32Array(numel(shape));
      nb().where(c, x, y, shape, got);
      ref.where(c, x, y, shape, want);
      assertSame(got, want, `${cfg} where shape=[${shape}]`);
    }
  });
});

test('copy: strided to strided for 1, 2, 4 and 8-byte elements, and large contiguous', { skip }, () => {
  const r = rng(6);
  const n = 3 * 5 * 7;
  const make = (): StorageArray[] => {
    const u8 = new Uint8Array(n + 9);
    const u16 = new Uint16Array(n + 9);
    const i32 = new Int32Array(n + 9);
    const f32 = new Float32Array(n + 9);
    const i64 = new BigInt64Array(n + 9);
    for (let i = 0; i < n + 9; i++) {
      u8[i] = Math.floor(r() * 256);
      u16[i] = Math.floor(r() * 65536);
      i32[i] = Math.floor((r() - 0.5) * 2 ** 32);
      f32[i] = (r() - 0.5) * 100;
      i64[i] = BigInt(Math.floor((r() - 0.5) * 2 ** 52)) * 1024n;
    }
    f32[0] = -0;
    f32[1] = NaN;
    return [u8, u16, i32, f32, i64];
  };
  const srcs = make();
  eachConfig((cfg) => {
    for (const src of srcs) {
      const ctor = src.constructor as new (n: number) => StorageArray;
      const shape = [3, 5, 7];
      const sv: View<StorageArray> = { data: src, shape, strides: [1, 3, 15], offset: 4 }; // transposed
      const dstN = new ctor(n + 20);
      const dstR = new ctor(n + 20);
      const dv = (d: StorageArray): View<StorageArray> => ({ data: d, shape, strides: [35, 1, 5], offset: 7 });
      nb().copy(sv, dv(dstN));
      ref.copy(sv, dv(dstR));
      assertSame(dstN as ArrayLike<number>, dstR as ArrayLike<number>, `${cfg} copy ${ctor.name}`);
      const bcast: View<StorageArray> = { data: src, shape: [4, 6], strides: [0, 1], offset: 2 };
      const outN = new ctor(24);
      const outR = new ctor(24);
      nb().copy(bcast, { data: outN, shape: [4, 6], strides: [6, 1], offset: 0 });
      ref.copy(bcast, { data: outR, shape: [4, 6], strides: [6, 1], offset: 0 });
      assertSame(outN as ArrayLike<number>, outR as ArrayLike<number>, `${cfg} copy broadcast ${ctor.name}`);
    }
    for (const src of srcs) {
      // batched transposes ([2, 3, 40, 37] over a [2, 3, 37, 40] source) take the tiled path
      const ctor = src.constructor as new (n: number) => StorageArray;
      const len = 2 * 3 * 40 * 37;
      const s2 = new ctor(len + 5);
      for (let i = 0; i < len + 5; i++) (s2 as Float32Array)[i] = (src as Float32Array)[i % src.length];
      const sv: View<StorageArray> = { data: s2, shape: [2, 3, 40, 37], strides: [4440, 1480, 1, 40], offset: 5 };
      const dN = new ctor(len);
      const dR = new ctor(len);
      nb().copy(sv, { data: dN, shape: [2, 3, 40, 37], strides: [4440, 1480, 37, 1], offset: 0 });
      ref.copy(sv, { data: dR, shape: [2, 3, 40, 37], strides: [4440, 1480, 37, 1], offset: 0 });
      assertSame(dN as ArrayLike<number>, dR as ArrayLike<number>, `${cfg} copy batched transpose ${ctor.name}`);
    }
    const big = randn(r, 300000);
    const gotBig = new Float32Array(300010);
    nb().copy(view(big, [299990], [1], 10), view(gotBig, [299990], [1], 20));
    assertSame(gotBig.subarray(20), big.subarray(10), `${cfg} copy contiguous`);
    const t = new Float32Array(300000);
    const tr = new Float32Array(300000);
    nb().copy(view(big, [600, 500], [1, 600]), view(t, [600, 500]));
    ref.copy(view(big, [600, 500], [1, 600]), view(tr, [600, 500]));
    assertSame(t, tr, `${cfg} copy transpose`);
  });
});

test('fill: small and large ranges, values rounded to f32', { skip }, () => {
  eachConfig((cfg) => {
    for (const [len, start, end, v] of [[10, 2, 7, 0.1], [100000, 5, 99990, -3.25], [70000, 0, 70000, NaN], [5, 5, 5, 1]] as const) {
      const got = new Float32Array(len).fill(9);
      const want = new Float32Array(len).fill(9);
      nb().fill(got, v, start, end);
      ref.fill(want, v, start, end);
      assertSame(got, want, `${cfg} fill ${len} [${start}, ${end})`);
    }
  });
});

test('reduce and argReduce over [outer, r, inner]: rows, columns, NaN, ±0 ties, empty axis', { skip }, () => {
  const r = rng(7);
  const shapes: [number, number, number][] = [
    [1, 1000, 1], [37, 129, 1], [1, 129, 63], [5, 17, 70], [3, 1, 4], [2, 3, 1], [1, 200, 300], [400, 300, 1], [7, 1, 1],
  ];
  const cases = shapes.map(([o, n, i]) => {
    const x = randn(r, o * n * i, 10);
    return { o, n, i, x };
  });
  // special rows: NaN in the middle, all ±0 in both orders, ±inf
  const sp = new Float32Array([1, NaN, 3, 2, -0, 0, 0, -0, 0, -0, -0, 0, -Infinity, -Infinity, Infinity, -1, -5, -5, -5, -4]);
  cases.push({ o: 5, n: 4, i: 1, x: sp }, { o: 1, n: 5, i: 4, x: sp }, { o: 4, n: 5, i: 1, x: sp });
  eachConfig((cfg) => {
    for (const { o, n, i, x } of cases) {
      const label = `${cfg} [${o}, ${n}, ${i}]`;
      for (const op of ['sum', 'max', 'min'] as const) {
        const got = new Float32Array(o * i);
        const want = new Float32Array(o * i);
        nb().reduce(op, x, o, n, i, got);
        ref.reduce(op, x, o, n, i, want);
        if (op === 'sum') {
          const absX = x.map(Math.abs);
          const scale = new Float32Array(o * i);
          ref.reduce('sum', absX, o, n, i, scale);
          assertClose(got, want, `${label} sum`, { rtol: 1e-6, scale });
        } else assertSame(got, want, `${label} ${op}`);
      }
      for (const op of ['max', 'min'] as const) {
        const got = new Int32Array(o * i);
        const want = new Int32Array(o * i);
        nb().argReduce(op, x, o, n, i, got);
        ref.argReduce(op, x, o, n, i, want);
        assertSame(got, want, `${label} arg${op}`);
      }
    }
    const empty = new Float32Array(6);
    for (const op of ['sum', 'max', 'min'] as const) {
      const got = new Float32Array(6).fill(7);
      const want = new Float32Array(6).fill(7);
      nb().reduce(op, empty, 2, 0, 3, got);
      ref.reduce(op, empty, 2, 0, 3, want);
      assertSame(got, want, `${cfg} empty ${op}`);
    }
  });
});

test('bad arguments throw E_ARG instead of reading out of bounds', { skip }, () => {
  const a = addon!;
  const x = new Float32Array(10);
  const out = new Float32Array(10);
  assert.throws(() => nb().unary('exp', view(x, [11]), new Float32Array(11)), { name: 'KilnError', code: 'E_ARG' });
  assert.throws(() => nb().unary('exp', view(x, [5], [3], 0), out), /reaches elements/);
  assert.throws(() => nb().unary('exp', view(x, [10]), new Float32Array(9)), { code: 'E_ARG' });
  assert.throws(() => nb().binary('add', view(x, [2, 5]), view(x, [2, 5], [5, 1], 1), [2, 5], out), { code: 'E_ARG' });
  assert.throws(() => a.unary(99, x, 0, new Float64Array([1, 10, 1]), out), { code: 'E_ARG' });
  assert.throws(() => nb().reduce('sum', x, 2, 3, 2, new Float32Array(3)), { code: 'E_ARG' });
  assert.throws(() => a.copy(x, 0, new Int32Array(10), 0, new Float64Array([1, 10, 1, 1])), /same kind/);
  assert.throws(() => a.fill(x, 1, 3, 11), { code: 'E_ARG' });
});
