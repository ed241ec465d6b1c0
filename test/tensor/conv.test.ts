/**
 * Tests for src/tensor/ops/conv.ts and the im2col/col2im kernels: every op against a direct-convolution loop written
 * here (1-D/2-D/3-D, stride 2/3, dilation 2, padding incl. 'same', groups 2 and depthwise, odd sizes, kernels 1 and
 * 3), finite-difference gradients of x, w and bias, conv-transpose as the adjoint of conv, and parity with PyTorch
 * (test/fixtures/conv/torch-conv.json, made by scripts/fixtures/conv-gen-torch.py).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as k from '../../src/index.js';
import {
  conv1d, conv2d, conv3d, convTranspose1d, convTranspose2d, convTranspose3d, type ConvOptions, type ConvTransposeOptions,
} from '../../src/tensor/ops/conv.js';
import { tsBackend } from '../../src/backend/index.js';
import { KilnError } from '../../src/errors.js';
import { gradcheck } from '../helpers/gradcheck.js';

const gen = new k.Generator(2024);
const r = (shape: number[]) => k.randn(shape, { generator: gen });

type Arr = ArrayLike<number>;
const CONV = [conv1d, conv2d, conv3d];
const CONVT = [convTranspose1d, convTranspose2d, convTranspose3d];

/** Per-dim list from a number or list. */
const per = (v: number | readonly number[] | undefined, rank: number, d: number): number[] =>
  v === undefined ? new Array(rank).fill(d) : typeof v === 'number' ? new Array(rank).fill(v) : [...v];

/** Row-major index helpers over a shape. */
function strides(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}
function* positions(shape: readonly number[]): Generator<number[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    const p = new Array(shape.length);
    let rem = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      p[d] = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
    }
    yield p;
  }
}

/** Direct convolution in f64: y[n, co, o] = b[co] + Σ_{c in group, k} x[n, c, o·s − p + k·d] · w[co, c', k]. */
function refConv(x: Arr, xs: number[], w: Arr, ws: number[], b: Arr | null, opts: ConvOptions): { y: Float64Array; shape: number[] } {
  const rank = xs.length - 2;
  const [N, C] = xs;
  const [Co, Cg] = ws;
  const G = opts.groups ?? 1;
  const kern = ws.slice(2);
  const s = per(opts.stride, rank, 1);
  const d = per(opts.dilation, rank, 1);
  let pb: number[];
  let pa: number[];
  if (opts.padding === 'same') {
    pb = kern.map((kk, i) => Math.floor((d[i] * (kk - 1)) / 2));
    pa = kern.map((kk, i) => d[i] * (kk - 1) - pb[i]);
  } else pb = pa = per(opts.padding === 'valid' ? 0 : opts.padding, rank, 0);
  const ins = xs.slice(2);
  const outs = ins.map((n, i) => Math.floor((n + pb[i] + pa[i] - d[i] * (kern[i] - 1) - 1) / s[i]) + 1);
  const shape = [N, Co, ...outs];
  const y = new Float64Array(shape.reduce((a, c) => a * c, 1));
  const xst = strides(xs);
  const wst = strides(ws);
  const yst = strides(shape);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < Co; co++) {
      const g = Math.floor(co / (Co / G));
      for (const o of positions(outs)) {
        let acc = b ? b[co] : 0;
        for (let cl = 0; cl < Cg; cl++) {
          const c = g * Cg + cl;
          for (const kk of positions(kern)) {
            let xi = n * xst[0] + c * xst[1];
            let ok = true;
            for (let i = 0; i < rank; i++) {
              const p = o[i] * s[i] - pb[i] + kk[i] * d[i];
              if (p < 0 || p >= ins[i]) ok = false;
              xi += p * xst[i + 2];
            }
            if (!ok) continue;
            let wi = co * wst[0] + cl * wst[1];
            for (let i = 0; i < rank; i++) wi += kk[i] * wst[i + 2];
            acc += x[xi] * w[wi];
          }
        }
        let yi = n * yst[0] + co * yst[1];
        for (let i = 0; i < rank; i++) yi += o[i] * yst[i + 2];
        y[yi] = acc;
      }
    }
  return { y, shape };
}

/** Direct transposed convolution in f64 (scatter form): y[n, g·Cog + j, i·s − p + k·d] += x[n, ci, i] · w[ci, j, k]. */
function refConvT(x: Arr, xs: number[], w: Arr, ws: number[], b: Arr | null, opts: ConvTransposeOptions): { y: Float64Array; shape: number[] } {
  const rank = xs.length - 2;
  const [N, Cin] = xs;
  const G = opts.groups ?? 1;
  const Cog = ws[1];
  const Co = Cog * G;
  const kern = ws.slice(2);
  const s = per(opts.stride, rank, 1);
  const d = per(opts.dilation, rank, 1);
  const p = per(opts.padding, rank, 0);
  const op = per(opts.outputPadding, rank, 0);
  const ins = xs.slice(2);
  const outs = ins.map((n, i) => (n - 1) * s[i] - 2 * p[i] + d[i] * (kern[i] - 1) + op[i] + 1);
  const shape = [N, Co, ...outs];
  const y = new Float64Array(shape.reduce((a, c) => a * c, 1));
  const xst = strides(xs);
  const wst = strides(ws);
  const yst = strides(shape);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < Co; co++) for (const o of positions(outs)) {
      let yi = n * yst[0] + co * yst[1];
      for (let i = 0; i < rank; i++) yi += o[i] * yst[i + 2];
      y[yi] = b ? b[co] : 0;
    }
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < Cin; ci++) {
      const g = Math.floor(ci / (Cin / G));
      for (const i of positions(ins)) {
        let xi = n * xst[0] + ci * xst[1];
        for (let a = 0; a < rank; a++) xi += i[a] * xst[a + 2];
        const xv = x[xi];
        for (let j = 0; j < Cog; j++)
          for (const kk of positions(kern)) {
            let yi = n * yst[0] + (g * Cog + j) * yst[1];
            let ok = true;
            for (let a = 0; a < rank; a++) {
              const q = i[a] * s[a] - p[a] + kk[a] * d[a];
              if (q < 0 || q >= outs[a]) ok = false;
              yi += q * yst[a + 2];
            }
            if (!ok) continue;
            let wi = ci * wst[0] + j * wst[1];
            for (let a = 0; a < rank; a++) wi += kk[a] * wst[a + 2];
            y[yi] += xv * w[wi];
          }
      }
    }
  return { y, shape };
}

function assertClose(actual: Arr, expected: Arr, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++)
    if (!(Math.abs(actual[i] - expected[i]) <= tol * scale)) assert.fail(`${what}: element ${i}: ${actual[i]} vs ${expected[i]} (tol ${tol * scale})`);
}

interface Case {
  x: number[];
  w: number[];
  bias: boolean;
  opts: ConvOptions & { outputPadding?: number | number[] };
}

const convCases: Case[] = [
  // 1-D
  { x: [2, 3, 11], w: [4, 3, 3], bias: true, opts: {} },
  { x: [1, 4, 13], w: [6, 2, 3], bias: true, opts: { stride: 2, padding: 1, dilation: 2, groups: 2 } },
  { x: [2, 4, 9], w: [4, 1, 1], bias: false, opts: { stride: 3, groups: 4 } },
  { x: [1, 2, 10], w: [3, 2, 4], bias: true, opts: { padding: 'same' } },
  // 2-D
  { x: [2, 3, 7, 9], w: [5, 3, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [1, 4, 9, 8], w: [6, 2, 3, 3], bias: true, opts: { stride: 2, padding: [1, 2], groups: 2 } },
  { x: [2, 6, 7, 7], w: [6, 1, 3, 3], bias: false, opts: { stride: [3, 2], padding: 1, groups: 6 } },
  { x: [1, 3, 10, 9], w: [4, 3, 3, 2], bias: true, opts: { dilation: 2, padding: 'same' } },
  { x: [2, 5, 6, 5], w: [3, 5, 1, 1], bias: true, opts: { stride: 2 } },
  { x: [1, 4, 8, 8], w: [8, 2, 3, 3], bias: true, opts: { stride: 2, padding: 2, dilation: 2, groups: 2 } },
  { x: [1, 2, 5, 6], w: [3, 2, 5, 3], bias: false, opts: { padding: 'valid' } },
  // 3-D
  { x: [1, 3, 5, 6, 7], w: [4, 3, 3, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [2, 4, 5, 7, 6], w: [4, 2, 3, 1, 3], bias: true, opts: { stride: [1, 2, 2], padding: [0, 1, 1], groups: 2 } },
  { x: [1, 4, 7, 5, 5], w: [4, 1, 3, 3, 3], bias: false, opts: { stride: [2, 1, 3], dilation: [2, 1, 1], padding: [2, 1, 1], groups: 4 } },
  { x: [1, 2, 4, 5, 6], w: [3, 2, 2, 3, 3], bias: true, opts: { padding: 'same', dilation: [1, 2, 1] } },
  { x: [2, 3, 3, 4, 5], w: [5, 3, 1, 1, 1], bias: true, opts: { stride: [1, 2, 2] } },
];

/** Transposed-conv cases: w is [Cin, Cout/G, ...k]. */
const convTCases: Case[] = [
  { x: [2, 3, 7], w: [3, 4, 3], bias: true, opts: {} },
  { x: [1, 4, 6], w: [4, 3, 3], bias: true, opts: { stride: 2, padding: 1, outputPadding: 1, groups: 2 } },
  { x: [1, 3, 5], w: [3, 2, 3], bias: false, opts: { stride: 3, dilation: 2, padding: 2, outputPadding: 2 } },
  { x: [2, 3, 5, 4], w: [3, 4, 3, 3], bias: true, opts: { stride: 2, padding: 1, outputPadding: 1 } },
  { x: [1, 4, 4, 5], w: [4, 2, 3, 2], bias: true, opts: { stride: [2, 3], padding: [1, 0], groups: 2 } },
  { x: [1, 4, 5, 5], w: [4, 1, 3, 3], bias: false, opts: { padding: 1, dilation: 2, groups: 4, outputPadding: 1 } },
  { x: [2, 3, 4, 4], w: [3, 2, 1, 1], bias: true, opts: { stride: 2 } },
  { x: [1, 3, 3, 4, 4], w: [3, 2, 3, 3, 3], bias: true, opts: { stride: [1, 2, 2], padding: 1, outputPadding: [0, 1, 1] } },
  { x: [1, 4, 3, 3, 4], w: [4, 2, 3, 3, 3], bias: true, opts: { stride: 2, padding: [1, 0, 1], groups: 2 } },
  { x: [1, 2, 2, 3, 3], w: [2, 3, 2, 1, 3], bias: false, opts: { stride: [3, 1, 2], dilation: [1, 1, 2], outputPadding: [2, 0, 1] } },
];

test('conv1d/2d/3d forward match a direct convolution loop', () => {
  for (const c of convCases) {
    const rank = c.x.length - 2;
    const x = r(c.x);
    const w = r(c.w);
    const b = c.bias ? r([c.w[0]]) : null;
    const y = CONV[rank - 1](x, w, b, c.opts);
    const ref = refConv(x.data() as Float32Array, c.x, w.data() as Float32Array, c.w, b ? (b.data() as Float32Array) : null, c.opts);
    assert.deepEqual(y.shape, ref.shape, `shape for ${JSON.stringify(c)}`);
    assertClose(y.data() as Float32Array, ref.y, 1e-5, `conv ${JSON.stringify(c)}`);
  }
});

test('convTranspose1d/2d/3d forward match a direct scatter loop', () => {
  for (const c of convTCases) {
    const rank = c.x.length - 2;
    const x = r(c.x);
    const w = r(c.w);
    const b = c.bias ? r([c.w[1] * (c.opts.groups ?? 1)]) : null;
    const y = CONVT[rank - 1](x, w, b, c.opts as ConvTransposeOptions);
    const ref = refConvT(x.data() as Float32Array, c.x, w.data() as Float32Array, c.w, b ? (b.data() as Float32Array) : null, c.opts as ConvTransposeOptions);
    assert.deepEqual(y.shape, ref.shape, `shape for ${JSON.stringify(c)}`);
    assertClose(y.data() as Float32Array, ref.y, 1e-5, `convT ${JSON.stringify(c)}`);
  }
});

test('non-contiguous inputs give the same result as contiguous ones', () => {
  const x = r([2, 5, 6, 3]).permute(0, 3, 1, 2); // [2, 3, 5, 6] as a strided view
  const w = r([3, 3, 4, 2]).permute(3, 0, 1, 2); // [2, 3, 3, 3]
  assert.ok(!x.isContiguous && !w.isContiguous);
  const a = conv2d(x, w, null, { padding: 1 }).data() as Float32Array;
  const bb = conv2d(x.contiguous(), w.contiguous(), null, { padding: 1 }).data() as Float32Array;
  assert.deepEqual(Array.from(a), Array.from(bb));
});

test('gradients of conv (x, w, bias) pass finite-difference checks', () => {
  const cases: [number[], number[], ConvOptions][] = [
    [[2, 2, 6], [3, 2, 3], { stride: 2, padding: 1 }],
    [[1, 4, 5], [4, 2, 2], { dilation: 2, groups: 2, padding: 'same' }],
    [[1, 2, 5, 4], [4, 2, 3, 3], { padding: 1, stride: [2, 1] }],
    [[2, 4, 5, 5], [4, 1, 3, 3], { groups: 4, dilation: 2, padding: 2, stride: 3 }],
    [[1, 2, 3, 4, 4], [2, 1, 3, 3, 1], { groups: 2, padding: [1, 1, 0], stride: [1, 2, 1] }],
    [[1, 2, 3, 3, 3], [3, 2, 1, 1, 1], {}],
  ];
  for (const [xs, wsh, opts] of cases) {
    const f = CONV[xs.length - 3];
    gradcheck((x, w, b) => f(x, w, b, opts), [r(xs), r(wsh), r([wsh[0]])], { maxPerInput: 24 });
  }
});

test('gradients of convTranspose (x, w, bias) pass finite-difference checks', () => {
  const cases: [number[], number[], ConvTransposeOptions][] = [
    [[2, 2, 4], [2, 3, 3], { stride: 2, padding: 1, outputPadding: 1 }],
    [[1, 4, 3], [4, 1, 2], { dilation: 2, groups: 4 }],
    [[1, 2, 3, 3], [2, 2, 3, 3], { stride: 2, padding: 1 }],
    [[1, 4, 3, 2], [4, 1, 3, 2], { groups: 2, stride: [1, 3], dilation: [2, 1], outputPadding: [1, 2] }],
    [[1, 2, 2, 3, 2], [2, 2, 3, 1, 3], { stride: [2, 1, 2], padding: [1, 0, 1] }],
  ];
  for (const [xs, wsh, opts] of cases) {
    const f = CONVT[xs.length - 3];
    const cout = wsh[1] * (opts.groups ?? 1);
    gradcheck((x, w, b) => f(x, w, b, opts), [r(xs), r(wsh), r([cout])], { maxPerInput: 24 });
  }
});

test('convTranspose is the adjoint of conv: <conv(x, w), y> = <x, convT(y, w)>', () => {
  const dot = (a: k.Tensor, b: k.Tensor) => {
    const [p, q] = [a.data() as Float32Array, b.data() as Float32Array];
    let s = 0;
    for (let i = 0; i < p.length; i++) s += p[i] * q[i];
    return s;
  };
  for (const c of convCases) {
    if (c.opts.padding === 'same') continue; // asymmetric padding has no convT counterpart in torch's options
    const rank = c.x.length - 2;
    const x = r(c.x);
    const w = r(c.w);
    const cx = CONV[rank - 1](x, w, null, c.opts);
    const y = r([...cx.shape]);
    const s = per(c.opts.stride, rank, 1);
    const d = per(c.opts.dilation, rank, 1);
    const p = per(c.opts.padding === 'valid' ? 0 : (c.opts.padding as number | number[] | undefined), rank, 0);
    // the output padding that makes convT(y) exactly x's size
    const outputPadding = c.x.slice(2).map((n, i) => n - ((cx.shape[i + 2] - 1) * s[i] - 2 * p[i] + d[i] * (c.w[i + 2] - 1) + 1));
    const ty = CONVT[rank - 1](y, w, null, { stride: s, padding: p, dilation: d, groups: c.opts.groups, outputPadding });
    assert.deepEqual(ty.shape, x.shape);
    const lhs = dot(cx, y);
    const rhs = dot(x, ty);
    assert.ok(Math.abs(lhs - rhs) <= 1e-4 * (Math.abs(lhs) + 1), `${JSON.stringify(c)}: ${lhs} vs ${rhs}`);
  }
});

test('col2im is the adjoint of im2col on the reference kernels, whole and in chunks', () => {
  const C = 2;
  const inSize = [3, 5, 6];
  const kernel = [2, 3, 2];
  const stride = [1, 2, 3];
  const padding = [1, 1, 2];
  const dilation = [2, 1, 2];
  const outSize = inSize.map((n, i) => Math.floor((n + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) / stride[i]) + 1);
  const K = kernel.reduce((a, b) => a * b);
  const L = outSize.reduce((a, b) => a * b);
  const x = r([C, ...inSize]).data() as Float32Array;
  const c = r([C * K * L]).data() as Float32Array;
  const col = new Float32Array(C * K * L).fill(NaN);
  tsBackend.im2col(x, C, inSize, kernel, stride, padding, dilation, outSize, 0, outSize[0], col);
  const xb = new Float32Array(x.length);
  tsBackend.col2im(c, C, inSize, kernel, stride, padding, dilation, outSize, 0, outSize[0], xb);
  let lhs = 0;
  let rhs = 0;
  for (let i = 0; i < col.length; i++) lhs += col[i] * c[i];
  for (let i = 0; i < x.length; i++) rhs += x[i] * xb[i];
  assert.ok(Number.isFinite(lhs) && Math.abs(lhs - rhs) < 1e-3, `${lhs} vs ${rhs}`);
  // chunks of the outermost output dim: the same columns, and col2im accumulating to the same x
  for (const [rank, step] of [[3, 2], [2, 3], [1, 2]] as const) {
    const [ins, ks, ss, ps, ds, os] = [inSize, kernel, stride, padding, dilation, outSize].map((a) => a.slice(3 - rank));
    const LL = os.reduce((a, b) => a * b);
    const rows = C * ks.reduce((a, b) => a * b);
    const xs = x.subarray(0, C * ins.reduce((a, b) => a * b));
    const whole = new Float32Array(rows * LL);
    tsBackend.im2col(xs, C, ins, ks, ss, ps, ds, os, 0, os[0], whole);
    const cc = c.subarray(0, rows * LL);
    const xWhole = new Float32Array(xs.length);
    tsBackend.col2im(cc, C, ins, ks, ss, ps, ds, os, 0, os[0], xWhole);
    const rest = LL / os[0];
    const xChunked = new Float32Array(xs.length);
    for (let o0 = 0; o0 < os[0]; o0 += step) {
      const n = Math.min(step, os[0] - o0);
      const part = new Float32Array(rows * n * rest).fill(NaN);
      tsBackend.im2col(xs, C, ins, ks, ss, ps, ds, os, o0, n, part);
      const back = new Float32Array(rows * n * rest);
      for (let row = 0; row < rows; row++)
        for (let j = 0; j < n * rest; j++) {
          assert.equal(part[row * n * rest + j], whole[row * LL + o0 * rest + j], `rank ${rank} chunk ${o0} row ${row} col ${j}`);
          back[row * n * rest + j] = cc[row * LL + o0 * rest + j];
        }
      tsBackend.col2im(back, C, ins, ks, ss, ps, ds, os, o0, n, xChunked);
    }
    assertClose(xChunked, xWhole, 1e-6, `col2im chunks rank ${rank}`);
  }
});

test('a small maxColumnElements (im2col in chunks of the outermost output dim) gives the same values and gradients', () => {
  const cases: [number[], number[], ConvOptions, boolean][] = [
    [[2, 3, 5, 6, 7], [4, 3, 3, 3, 3], { padding: 1, stride: [1, 2, 1] }, false],
    [[1, 4, 9, 8], [4, 2, 3, 3], { padding: 1, groups: 2 }, false],
    [[1, 3, 4, 5, 5], [3, 2, 3, 3, 3], { stride: 2, padding: 1 }, true],
  ];
  for (const [xs, wsh, opts, transpose] of cases) {
    const rank = xs.length - 2;
    const f = (transpose ? CONVT : CONV)[rank - 1] as typeof conv2d;
    const x = r(xs).requiresGrad_();
    const w = r(wsh).requiresGrad_();
    const outs = [undefined, 200, 1].map((m) => {
      x.grad = null;
      w.grad = null;
      const y = f(x, w, null, { ...opts, maxColumnElements: m });
      y.mul(y).sum().backward();
      return [y.data(), x.grad!.data(), w.grad!.data()].map((d) => Array.from(d as Float32Array));
    });
    for (const o of outs.slice(1)) for (let i = 0; i < 3; i++) assertClose(o[i], outs[0][i], 1e-6, `chunked ${JSON.stringify(opts)} part ${i}`);
  }
});

test('bad arguments throw KilnError with the fix in the message', () => {
  const x = r([1, 4, 5, 5]);
  const throwsWith = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof KilnError && re.test(e.message));
  throwsWith(() => conv2d(x, r([4, 3, 3, 3])), /C\/groups = 4/);
  throwsWith(() => conv2d(x, r([6, 2, 3, 3]), null, { groups: 3 }), /groups = 3/);
  throwsWith(() => conv2d(x, r([4, 4, 3, 3]), null, { stride: 2, padding: 'same' }), /'same' needs stride 1/);
  throwsWith(() => conv2d(x, r([4, 4, 7, 7])), /smaller than the dilated kernel/);
  throwsWith(() => conv2d(r([4, 5, 5]), r([4, 4, 3, 3])), /unsqueeze/);
  throwsWith(() => conv2d(x, r([4, 4, 3, 3]), r([3])), /bias/);
  throwsWith(() => convTranspose2d(x, r([4, 2, 3, 3]), null, { stride: 2, outputPadding: 2 }), /outputPadding/);
  throwsWith(() => conv3d(r([1, 4, 3, 5, 5]), r([4, 4, 3, 3, 3]), null, { stride: [1, 2] }), /list of 3/);
});

// ── parity with PyTorch ──

interface TorchCase {
  op: string;
  opts: ConvOptions & { outputPadding?: number[] };
  x: number[]; xShape: number[];
  w: number[]; wShape: number[];
  b: number[] | null;
  r: number[];
  y: number[]; yShape: number[];
  dx: number[]; dw: number[]; db: number[] | null;
}

const fixture = fileURLToPath(new URL('../../../test/fixtures/conv/torch-conv.json', import.meta.url));

test('conv and convTranspose match PyTorch forward and gradients (fixture)', { skip: !existsSync(fixture) && 'fixture missing' }, () => {
  const cases = JSON.parse(readFileSync(fixture, 'utf8')).cases as TorchCase[];
  assert.ok(cases.length >= 8);
  const ops: Record<string, typeof conv2d | typeof convTranspose2d> = { conv1d, conv2d, conv3d, convTranspose1d, convTranspose2d, convTranspose3d };
  for (const c of cases) {
    const x = k.fromArray(c.x, c.xShape, { requiresGrad: true });
    const w = k.fromArray(c.w, c.wShape, { requiresGrad: true });
    const b = c.b ? k.fromArray(c.b, [c.b.length], { requiresGrad: true }) : null;
    const y = ops[c.op](x, w, b, c.opts as ConvOptions & ConvTransposeOptions);
    const what = `${c.op} ${JSON.stringify(c.opts)} x[${c.xShape}]`;
    assert.deepEqual(y.shape, c.yShape, what);
    assertClose(y.data() as Float32Array, c.y, 1e-5, `${what} y`);
    y.mul(k.fromArray(c.r, c.yShape)).sum().backward();
    assertClose(x.grad!.data() as Float32Array, c.dx, 1e-5, `${what} dx`);
    assertClose(w.grad!.data() as Float32Array, c.dw, 1e-5, `${what} dw`);
    if (b) assertClose(b.grad!.data() as Float32Array, c.db!, 1e-5, `${what} db`);
  }
});
