/**
 * Parity of the native rotary embedding (native/kernels-rope.cc via src/backend/native/rope.ts) with the reference
 * (src/backend/ts/rope.ts): bit-identical outputs for both layouts, forward and inverse, partial rotary dims, table
 * rows fewer than x rows (r % tableRows), odd row counts, special values (NaN, ±Infinity, −0), in place, on every
 * ISA this CPU has and on 1 and 2 threads; bad arguments throw E_ARG. Skips when the addon is absent unless
 * KILN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tsBackend } from '../../src/backend/index.js';
import { KilnError } from '../../src/errors.js';
import { assertSame, eachConfig as forEachConfig, nativeSetup as native, rng, skip } from './kernel-parity.js';


const SPECIAL = [Number.NaN, Infinity, -Infinity, -0, 0, 1e-40, -3.4e38];

test('rotary matches the reference bit for bit: layouts, inverse, partial dims, table wrap, specials, in place, ISAs, threads', { skip }, () => {
  const { be } = native();
  const r = rng(99);
  const cases: [number, number, number, number][] = [ // rows, D, rotaryDim, tableRows
    [1, 2, 2, 1], [3, 8, 8, 3], [17, 16, 10, 5], [7, 33, 32, 7], [129, 64, 64, 64], [33, 96, 32, 11], [1031, 128, 128, 257],
  ];
  for (const [rows, D, rd, tableRows] of cases) {
    const x = new Float32Array(rows * D).map(() => r() * 8 - 4);
    for (let i = 0; i < Math.min(x.length, 40); i++) if (r() < 0.3) x[Math.floor(r() * x.length)] = SPECIAL[i % SPECIAL.length];
    const theta = new Float64Array(tableRows * (rd / 2)).map(() => r() * 20 - 10);
    const cos = Float32Array.from(theta, Math.cos);
    const sin = Float32Array.from(theta, Math.sin);
    for (const interleaved of [false, true]) {
      for (const inverse of [false, true]) {
        const want = new Float32Array(rows * D);
        tsBackend.rotary(x, rows, D, rd, cos, sin, tableRows, interleaved, inverse, want);
        const name = `rows=${rows} D=${D} rd=${rd} table=${tableRows} interleaved=${interleaved} inverse=${inverse}`;
        forEachConfig((cfg) => {
          const got = new Float32Array(rows * D).fill(7);
          be.rotary(x, rows, D, rd, cos, sin, tableRows, interleaved, inverse, got);
          assertSame(got, want, `${cfg} ${name}`);
        });
        const inPlace = x.slice();
        be.rotary(inPlace, rows, D, rd, cos, sin, tableRows, interleaved, inverse, inPlace);
        assertSame(inPlace, want, `in place ${name}`);
      }
    }
  }
});

test('rotary: bad arguments throw E_ARG', { skip }, () => {
  const { addon: a } = native();
  const f = (n: number) => new Float32Array(n);
  const expectArg = (fn: () => void, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof KilnError && e.code === 'E_ARG' && re.test(e.message));
  expectArg(() => a.rotary(f(8), 1, 8, 3, f(2), f(2), 1, false, false, f(8)), /rotaryDim/);
  expectArg(() => a.rotary(f(8), 1, 8, 10, f(5), f(5), 1, false, false, f(8)), /rotaryDim/);
  expectArg(() => a.rotary(f(7), 1, 8, 8, f(4), f(4), 1, false, false, f(8)), /x needs/);
  expectArg(() => a.rotary(f(16), 2, 8, 8, f(4), f(3), 1, false, false, f(16)), /sin needs/);
  expectArg(() => a.rotary(f(16), 2, 8, 8, f(8), f(8), 0, false, false, f(16)), /tableRows/);
});
