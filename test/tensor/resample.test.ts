/**
 * Tests for src/tensor/ops/resample.ts: avgPool1d/2d/3d, interpolateNearest / upsampleNearest, downsampleAvg and
 * padMode against direct loops written here, finite-difference gradients, and parity with PyTorch
 * (test/fixtures/conv/torch-resample.json, made by scripts/fixtures/conv-gen-torch.py).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as k from '../../src/index.js';
import {
  avgPool1d, avgPool2d, avgPool3d, downsampleAvg, interpolateNearest, padMode, upsampleNearest, type PadMode,
} from '../../src/tensor/ops/resample.js';
import { KilnError } from '../../src/errors.js';
import { gradcheck } from '../helpers/gradcheck.js';

const gen = new k.Generator(77);
const r = (shape: number[]) => k.randn(shape, { generator: gen });
const POOL = [avgPool1d, avgPool2d, avgPool3d];
type Arr = ArrayLike<number>;

const per = (v: number | readonly number[] | undefined, rank: number, d: readonly number[]): number[] =>
  v === undefined ? [...d] : typeof v === 'number' ? new Array(rank).fill(v) : [...v];
const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

function strides(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}
function unravel(i: number, shape: readonly number[]): number[] {
  const p = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    p[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return p;
}

/** out[n, c, o] = f(o, read) where read(n, c, pos) reads x (0 outside). Generic N-d map for the references. */
function mapOut(xs: number[], x: Arr, outSpatial: number[], f: (o: number[], read: (p: number[]) => number | null) => number): { y: Float64Array; shape: number[] } {
  const shape = [xs[0], xs[1], ...outSpatial];
  const y = new Float64Array(prod(shape));
  const st = strides(xs);
  for (let i = 0; i < y.length; i++) {
    const [n, c, ...o] = unravel(i, shape);
    const read = (p: number[]) => {
      let idx = n * st[0] + c * st[1];
      for (let d = 0; d < p.length; d++) {
        if (p[d] < 0 || p[d] >= xs[d + 2]) return null;
        idx += p[d] * st[d + 2];
      }
      return x[idx];
    };
    y[i] = f(o, read);
  }
  return { y, shape };
}

function refAvgPool(x: Arr, xs: number[], kernel: number[], stride: number[], padding: number[], includePad: boolean) {
  const rank = kernel.length;
  const outs = xs.slice(2).map((n, i) => Math.floor((n + 2 * padding[i] - kernel[i]) / stride[i]) + 1);
  return mapOut(xs, x, outs, (o, read) => {
    let s = 0;
    let cnt = 0;
    for (let j = 0; j < prod(kernel); j++) {
      const kk = unravel(j, kernel);
      const v = read(o.map((oo, d) => oo * stride[d] - padding[d] + kk[d]));
      if (v !== null) {
        s += v;
        cnt++;
      }
    }
    void rank;
    return s / (includePad ? prod(kernel) : cnt);
  });
}

function assertClose(actual: Arr, expected: Arr, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++)
    if (!(Math.abs(actual[i] - expected[i]) <= tol * scale)) assert.fail(`${what}: element ${i}: ${actual[i]} vs ${expected[i]}`);
}

test('avgPool1d/2d/3d match a direct loop (overlapping, padded, strided, both divisor rules)', () => {
  const cases: [number[], number | number[], { stride?: number | number[]; padding?: number | number[]; countIncludePad?: boolean }][] = [
    [[2, 3, 9], 3, { stride: 2, padding: 1 }],
    [[1, 2, 11], 2, {}],
    [[1, 2, 10], 4, { stride: 3, padding: 2, countIncludePad: false }],
    [[2, 2, 7, 8], 3, { stride: 2, padding: 1 }],
    [[1, 3, 7, 9], [3, 2], { stride: [2, 3], padding: [1, 1], countIncludePad: false }],
    [[1, 2, 8, 6], 2, {}],
    [[1, 2, 9, 7], 2, {}], // non-overlapping with a remainder (dropped, as torch)
    [[1, 2, 5, 5], 1, { stride: 2 }],
    [[1, 2, 4, 6, 6], [1, 2, 2], {}],
    [[1, 2, 5, 5, 6], 3, { stride: [1, 2, 2], padding: 1, countIncludePad: false }],
    [[2, 1, 5, 4, 5], [2, 3, 3], { stride: 2, padding: [0, 1, 1] }],
  ];
  for (const [xs, kernel, opts] of cases) {
    const rank = xs.length - 2;
    const x = r(xs);
    const kern = per(kernel, rank, []);
    const y = POOL[rank - 1](x, kernel, opts);
    const ref = refAvgPool(x.data() as Float32Array, xs, kern, per(opts.stride, rank, kern), per(opts.padding, rank, new Array(rank).fill(0)), opts.countIncludePad ?? true);
    const what = `avgPool x[${xs}] k ${JSON.stringify(kernel)} ${JSON.stringify(opts)}`;
    assert.deepEqual(y.shape, ref.shape, what);
    assertClose(y.data() as Float32Array, ref.y, 1e-6, what);
  }
});

test('downsampleAvg averages blocks; keepFirstFrame keeps frame 0 out of the temporal average', () => {
  const x = r([2, 3, 4, 6, 8]);
  const y = downsampleAvg(x, [2, 2, 2]);
  const ref = refAvgPool(x.data() as Float32Array, [2, 3, 4, 6, 8], [2, 2, 2], [2, 2, 2], [0, 0, 0], true);
  assert.deepEqual(y.shape, ref.shape);
  assertClose(y.data() as Float32Array, ref.y, 1e-6, 'downsampleAvg');
  // temporal factor 1: spatial only
  const y1 = downsampleAvg(x, [1, 2, 2]);
  assertClose(y1.data() as Float32Array, refAvgPool(x.data() as Float32Array, [2, 3, 4, 6, 8], [1, 2, 2], [1, 2, 2], [0, 0, 0], true).y, 1e-6, 'downsampleAvg t1');
  // causal: T = 1 + 2·2 → 1 + 2
  const v = r([1, 2, 5, 4, 4]);
  const c = downsampleAvg(v, [2, 2, 2], { keepFirstFrame: true });
  assert.deepEqual(c.shape, [1, 2, 3, 2, 2]);
  const first = downsampleAvg(v.slice(2, 0, 1), [1, 2, 2]);
  const rest = downsampleAvg(v.slice(2, 1), [2, 2, 2]);
  assertClose(c.data() as Float32Array, k.cat([first, rest], 2).data() as Float32Array, 1e-7, 'keepFirstFrame');
  assert.deepEqual(downsampleAvg(r([1, 2, 1, 4, 4]), [2, 2, 2], { keepFirstFrame: true }).shape, [1, 2, 1, 2, 2]);
  assert.throws(() => downsampleAvg(r([1, 2, 5, 4, 4]), [2, 2, 2]), (e: unknown) => e instanceof KilnError && /keepFirstFrame/.test(e.message));
});

/** torch's nearest rule with exact rationals: src = min(floor(o·in/out), in − 1). */
function refNearest(x: Arr, xs: number[], outs: number[]) {
  return mapOut(xs, x, outs, (o, read) => read(o.map((oo, d) => Math.min(Math.floor((oo * xs[d + 2]) / outs[d]), xs[d + 2] - 1)))!);
}

test('interpolateNearest / upsampleNearest match floor(o · in / out) (up, down, mixed, 1-D/2-D/3-D)', () => {
  const cases: [number[], { size?: number | number[]; scaleFactor?: number | number[] }][] = [
    [[1, 2, 5], { scaleFactor: 3 }],
    [[2, 2, 5], { size: 7 }],
    [[1, 2, 8], { size: 4 }], // stride pattern (a strided view)
    [[1, 2, 3, 4], { scaleFactor: [2, 3] }],
    [[1, 3, 7, 5], { size: [3, 9] }],
    [[1, 1, 6, 7], { size: [13, 7] }],
    [[1, 2, 2, 3, 3], { scaleFactor: [1, 2, 2] }],
    [[1, 2, 3, 5, 4], { size: [6, 3, 11] }],
    [[1, 2, 4, 4], { size: 4 }], // identity
  ];
  for (const [xs, opts] of cases) {
    const rank = xs.length - 2;
    const x = r(xs);
    const outs = opts.size !== undefined ? per(opts.size, rank, []) : xs.slice(2).map((n, i) => n * per(opts.scaleFactor, rank, [])[i]);
    const y = interpolateNearest(x, opts);
    const ref = refNearest(x.data() as Float32Array, xs, outs);
    const what = `nearest x[${xs}] ${JSON.stringify(opts)}`;
    assert.deepEqual(y.shape, ref.shape, what);
    assert.deepEqual(Array.from(y.data() as Float32Array), Array.from(ref.y, Math.fround), what);
  }
  const v = r([1, 2, 3, 4, 4]);
  assert.deepEqual(upsampleNearest(v, [2, 2, 2]).data(), interpolateNearest(v, { scaleFactor: 2 }).data());
  assert.throws(() => interpolateNearest(v, {}), KilnError);
  assert.throws(() => interpolateNearest(v, { scaleFactor: 1.5 }), (e: unknown) => e instanceof KilnError && /pass size/.test(e.message));
});

function refPad(x: Arr, xs: number[], pads: number[], mode: PadMode) {
  const nd = xs.length;
  const lo = new Array(nd).fill(0);
  const hi = new Array(nd).fill(0);
  for (let i = 0; i < pads.length / 2; i++) {
    lo[nd - 1 - i] = pads[2 * i];
    hi[nd - 1 - i] = pads[2 * i + 1];
  }
  const shape = xs.map((n, d) => n + lo[d] + hi[d]);
  const y = new Float64Array(prod(shape));
  const st = strides(xs);
  for (let i = 0; i < y.length; i++) {
    const p = unravel(i, shape);
    let idx = 0;
    for (let d = 0; d < nd; d++) {
      const n = xs[d];
      let s = p[d] - lo[d];
      if (mode === 'replicate') s = Math.min(Math.max(s, 0), n - 1);
      else if (mode === 'reflect') s = s < 0 ? -s : s >= n ? 2 * (n - 1) - s : s;
      else s = ((s % n) + n) % n;
      idx += s * st[d];
    }
    y[i] = x[idx];
  }
  return { y, shape };
}

test('padMode replicate / reflect / circular match direct loops; constant is pad()', () => {
  const cases: [number[], number[], PadMode][] = [
    [[1, 2, 3, 4], [1, 2, 2, 1], 'replicate'],
    [[1, 2, 3, 4, 5], [0, 0, 0, 0, 2, 0], 'replicate'], // causal time padding of a video
    [[2, 3, 4], [3, 3], 'replicate'],
    [[1, 2, 4, 5], [2, 3, 1, 2], 'reflect'],
    [[1, 2, 3, 5], [2, 1, 3, 0], 'circular'],
    [[1, 2, 3, 4, 5], [1, 1, 2, 0, 1, 2], 'replicate'],
  ];
  for (const [xs, pads, mode] of cases) {
    const x = r(xs);
    const y = padMode(x, pads, mode);
    const ref = refPad(x.data() as Float32Array, xs, pads, mode);
    assert.deepEqual(y.shape, ref.shape);
    assert.deepEqual(Array.from(y.data() as Float32Array), Array.from(ref.y, Math.fround), `${mode} [${pads}]`);
  }
  const x = r([2, 3]);
  assert.deepEqual(padMode(x, [1, 1], 'constant', 2).data(), x.pad([1, 1], 2).data());
  assert.throws(() => padMode(x, [3, 0], 'reflect'), (e: unknown) => e instanceof KilnError && /≤ 2/.test(e.message));
  assert.throws(() => padMode(x, [-1, 0], 'replicate'), (e: unknown) => e instanceof KilnError && /constant/.test(e.message));
});

test('gradients of the resampling ops pass finite-difference checks', () => {
  const tiny = { maxPerInput: 30 };
  gradcheck((x) => avgPool2d(x, 3, { stride: 2, padding: 1 }), [r([1, 2, 5, 4])], tiny);
  gradcheck((x) => avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }), [r([1, 2, 5, 4])], tiny);
  gradcheck((x) => avgPool3d(x, [1, 2, 2]), [r([1, 2, 2, 4, 5])], tiny);
  gradcheck((x) => avgPool1d(x, 2, { stride: 1 }), [r([2, 2, 5])], tiny);
  gradcheck((x) => downsampleAvg(x, [2, 2, 2], { keepFirstFrame: true }), [r([1, 1, 3, 4, 2])], tiny);
  gradcheck((x) => interpolateNearest(x, { scaleFactor: [2, 3] }), [r([1, 2, 2, 3])], tiny);
  gradcheck((x) => interpolateNearest(x, { size: [5, 2] }), [r([1, 2, 3, 4])], tiny);
  gradcheck((x) => interpolateNearest(x, { size: [2, 7] }), [r([1, 1, 4, 3])], tiny);
  gradcheck((x) => padMode(x, [0, 0, 1, 2, 2, 0], 'replicate'), [r([1, 2, 2, 3, 2])], tiny);
  gradcheck((x) => padMode(x, [2, 1], 'reflect'), [r([2, 4])], tiny);
  gradcheck((x) => padMode(x, [1, 3], 'circular'), [r([2, 4])], tiny);
});

// ── parity with PyTorch ──

interface TorchCase {
  op: string;
  args: Record<string, unknown>;
  x: number[]; xShape: number[];
  r: number[];
  y: number[]; yShape: number[];
  dx: number[];
}

const fixture = fileURLToPath(new URL('../../../test/fixtures/conv/torch-resample.json', import.meta.url));

test('resampling ops match PyTorch forward and gradients (fixture)', { skip: !existsSync(fixture) && 'fixture missing' }, () => {
  const cases = JSON.parse(readFileSync(fixture, 'utf8')).cases as TorchCase[];
  assert.ok(cases.length >= 15);
  const nn = <T>(v: unknown): T | undefined => (v === null ? undefined : (v as T));
  for (const c of cases) {
    const x = k.fromArray(c.x, c.xShape, { requiresGrad: true });
    const a = c.args;
    let y: k.Tensor;
    if (c.op.startsWith('avgPool')) {
      const pool = { avgPool1d, avgPool2d, avgPool3d }[c.op as 'avgPool1d']!;
      y = pool(x, a.kernel as number, { stride: nn(a.stride), padding: a.padding as number, countIncludePad: a.countIncludePad as boolean });
    } else if (c.op === 'interpolateNearest') y = interpolateNearest(x, { size: nn(a.size), scaleFactor: nn(a.scaleFactor) });
    else y = padMode(x, a.pads as number[], a.mode as PadMode);
    const what = `${c.op} ${JSON.stringify(a)} x[${c.xShape}]`;
    assert.deepEqual(y.shape, c.yShape, what);
    assertClose(y.data() as Float32Array, c.y, 1e-6, `${what} y`);
    y.mul(k.fromArray(c.r, c.yShape)).sum().backward();
    assertClose(x.grad!.data() as Float32Array, c.dx, 1e-6, `${what} dx`);
  }
});
