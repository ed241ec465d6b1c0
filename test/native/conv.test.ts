/**
 * Parity of the native im2col / col2im (native/kernels-conv.cc via src/backend/native/conv.ts) with the reference
 * (src/backend/ts/conv.ts): random geometries of spatial rank 1..3 with strides, dilations and padding (outputs
 * larger than the valid region included), chunked output ranges, col2im accumulating into a non-zero x — results
 * identical bit for bit, on every ISA this CPU has and on 1 and 2 threads; bad arguments throw E_ARG. Skips when
 * the addon is absent unless KILN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/backend/backend.js';
import { tsBackend } from '../../src/backend/index.js';
import { KilnError } from '../../src/errors.js';
import { assertSame, eachConfig as forEachConfig, nativeSetup as native, rng, skip } from './kernel-parity.js';


interface Geo {
  C: number; inSize: number[]; kernel: number[]; stride: number[]; padding: number[]; dilation: number[]; outSize: number[];
}

function randomGeo(r: () => number, rank: number, C: number, maxIn: number): Geo {
  for (;;) {
    const pick = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
    const inSize = Array.from({ length: rank }, () => pick(1, maxIn));
    const kernel = Array.from({ length: rank }, () => pick(1, 3));
    const stride = Array.from({ length: rank }, () => pick(1, 3));
    const dilation = Array.from({ length: rank }, () => pick(1, 2));
    const padding = Array.from({ length: rank }, () => pick(0, 2));
    // output of a conv with `padding` on both sides, sometimes one larger (an extra trailing pad)
    const outSize = inSize.map((n, d) => Math.floor((n + 2 * padding[d] - dilation[d] * (kernel[d] - 1) - 1) / stride[d]) + 1 + (r() < 0.2 ? 1 : 0));
    if (outSize.every((o) => o >= 1)) return { C, inSize, kernel, stride, padding, dilation, outSize };
  }
}

function colSize(g: Geo, count: number): number {
  const K = g.kernel.reduce((a, b) => a * b, 1);
  return g.C * K * count * g.outSize.slice(1).reduce((a, b) => a * b, 1);
}

function check(be: Backend, g: Geo, r: () => number, label: string): void {
  const xN = g.C * g.inSize.reduce((a, b) => a * b, 1);
  const x = new Float32Array(xN).map(() => r() * 2 - 1);
  const o0 = g.outSize[0];
  // the whole output, then a chunk in the middle (or the first position when there is only one)
  const chunks: [number, number][] = [[0, o0], o0 > 2 ? [1, o0 - 2] : [0, 1], [o0 - 1, 1]];
  for (const [start, count] of chunks) {
    const n = colSize(g, count);
    const want = new Float32Array(n);
    tsBackend.im2col(x, g.C, g.inSize, g.kernel, g.stride, g.padding, g.dilation, g.outSize, start, count, want);
    const col = new Float32Array(n).map(() => r() * 2 - 1);
    const acc0 = new Float32Array(xN).map(() => r() * 2 - 1);
    const wantX = acc0.slice();
    tsBackend.col2im(col, g.C, g.inSize, g.kernel, g.stride, g.padding, g.dilation, g.outSize, start, count, wantX);
    const name = `${label} ${JSON.stringify(g)} chunk [${start}, +${count})`;
    forEachConfig((cfg) => {
      const got = new Float32Array(n).fill(NaN);
      be.im2col(x, g.C, g.inSize, g.kernel, g.stride, g.padding, g.dilation, g.outSize, start, count, got);
      assertSame(got, want, `${cfg} im2col ${name}`);
      const gotX = acc0.slice();
      be.col2im(col, g.C, g.inSize, g.kernel, g.stride, g.padding, g.dilation, g.outSize, start, count, gotX);
      assertSame(gotX, wantX, `${cfg} col2im ${name}`);
    });
  }
}

test('im2col/col2im match the reference exactly: ranks 1-3, strides, dilations, padding, chunks, ISAs, threads', { skip }, () => {
  const { be } = native();
  const r = rng(31);
  for (let t = 0; t < 18; t++) {
    const rank = 1 + (t % 3);
    check(be, randomGeo(r, rank, 1 + Math.floor(r() * 4), rank === 1 ? 40 : rank === 2 ? 12 : 7), r, `t${t}`);
  }
  // big enough to split over two threads
  check(be, { C: 8, inSize: [33, 35], kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], outSize: [33, 35] }, r, 'mt2d');
  check(be, { C: 4, inSize: [5, 16, 17], kernel: [3, 3, 3], stride: [1, 2, 1], padding: [1, 1, 1], dilation: [1, 1, 2], outSize: [5, 8, 15] }, r, 'mt3d');
  check(be, { C: 2, inSize: [4099], kernel: [5], stride: [3], padding: [2], dilation: [2], outSize: [1364] }, r, 'long1d');
});

test('im2col/col2im: bad arguments throw E_ARG', { skip }, () => {
  const { addon: a, be } = native();
  const f = (n: number) => new Float32Array(n);
  const expectArg = (fn: () => void, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof KilnError && e.code === 'E_ARG' && re.test(e.message));
  // chunk past the end
  expectArg(() => be.im2col(f(8), 1, [8], [3], [1], [1], [1], [8], 4, 5, f(3 * 5)), /chunk/);
  // col too short
  expectArg(() => be.im2col(f(8), 1, [8], [3], [1], [1], [1], [8], 0, 8, f(23)), /col needs/);
  // x too short for col2im
  expectArg(() => be.col2im(f(24), 1, [8], [3], [1], [1], [1], [8], 0, 8, f(7)), /x needs/);
  // stride 0
  expectArg(() => be.im2col(f(8), 1, [8], [3], [0], [1], [1], [8], 0, 8, f(24)), /stride/);
  // mismatched ranks
  expectArg(() => be.im2col(f(64), 1, [8, 8], [3], [1, 1], [1, 1], [1, 1], [8, 8], 0, 8, f(9 * 64)), /rank/);
  // a rank-1 geometry with a non-trivial padded dim
  expectArg(() => a.im2col(f(8), 1, 1, 2, 1, 8, 1, 1, 3, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 8, 0, 8, f(24)), /leading/);
});
