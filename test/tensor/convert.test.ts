/**
 * Tests for src/tensor/convert.ts: exhaustive round trips of every bf16 / f16 / e4m3 / e5m2 bit pattern,
 * ties-to-even at each format's boundaries, subnormals, FP8 saturation in both modes, integer casts, and a
 * reference fixture of ~10k tricky f32 values cast by numpy / ml_dtypes (scripts/fixtures/gen-convert-reference.py).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  f32ToBf16Bits, bf16BitsToF32, f32ToF16Bits, f16BitsToF32, f32ToE4M3, e4m3ToF32, f32ToE5M2, e5m2ToF32,
  encodeF32, decodeToF32, i64ToF32,
} from '../../src/tensor/convert.js';
import { KilnError } from '../../src/errors.js';

const f = new Float32Array(1);
const u = new Uint32Array(f.buffer);
const fromBits = (b: number): number => { u[0] = b; return f[0]!; };
const bitsOf = (x: number): number => { f[0] = x; return u[0]!; };

const isNaN16 = (b: number): boolean => (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0;
const isNaNBf16 = (b: number): boolean => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
const isNaNE4M3 = (b: number): boolean => (b & 0x7f) === 0x7f;
const isNaNE5M2 = (b: number): boolean => (b & 0x7f) > 0x7c;

test('every bf16 pattern decodes and re-encodes to itself (NaNs stay NaN)', () => {
  for (let b = 0; b < 65536; b++) {
    const x = bf16BitsToF32(b);
    if (isNaNBf16(b)) { assert.ok(Number.isNaN(x)); assert.ok(isNaNBf16(f32ToBf16Bits(x))); continue; }
    assert.equal(bitsOf(x), (b << 16) >>> 0);
    assert.equal(f32ToBf16Bits(x), b);
  }
});

test('every f16 pattern decodes and re-encodes to itself (NaNs stay NaN)', () => {
  for (let b = 0; b < 65536; b++) {
    const x = f16BitsToF32(b);
    if (isNaN16(b)) { assert.ok(Number.isNaN(x)); assert.ok(isNaN16(f32ToF16Bits(x))); continue; }
    const back = f32ToF16Bits(x);
    if (back !== b) assert.fail(`f16 0x${b.toString(16)} -> ${x} -> 0x${back.toString(16)}`);
  }
});

test('every e4m3 / e5m2 byte decodes and re-encodes to itself in both saturation modes', () => {
  for (let b = 0; b < 256; b++) {
    const x = e4m3ToF32(b);
    if (isNaNE4M3(b)) assert.ok(Number.isNaN(x) && isNaNE4M3(f32ToE4M3(x)) && isNaNE4M3(f32ToE4M3(x, false)));
    else { assert.equal(f32ToE4M3(x), b); assert.equal(f32ToE4M3(x, false), b); }
    const y = e5m2ToF32(b);
    if (isNaNE5M2(b)) assert.ok(Number.isNaN(y) && isNaNE5M2(f32ToE5M2(y)) && isNaNE5M2(f32ToE5M2(y, false)));
    else if ((b & 0x7f) === 0x7c) assert.equal(f32ToE5M2(y, false), b); // inf only round-trips unsaturated
    else { assert.equal(f32ToE5M2(y), b); assert.equal(f32ToE5M2(y, false), b); }
  }
  // Spot values of the formats.
  assert.equal(e4m3ToF32(0x7e), 448);
  assert.equal(e4m3ToF32(0x01), 2 ** -9);
  assert.equal(e4m3ToF32(0x08), 2 ** -6);
  assert.equal(e4m3ToF32(0x38), 1);
  assert.equal(e5m2ToF32(0x7b), 57344);
  assert.equal(e5m2ToF32(0x7c), Infinity);
  assert.equal(e5m2ToF32(0x01), 2 ** -16);
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  assert.equal(f16BitsToF32(0x7bff), 65504);
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
});

test('ties round to even at format boundaries', () => {
  // bf16: 1 + 2^-8 lies halfway between 1 (even) and 1 + 2^-7 (odd).
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // halfway between odd 0x3f81 and even 0x3f82
  assert.equal(f32ToBf16Bits(fromBits(0x3f808001)), 0x3f81); // just above the tie
  // bf16 largest finite + half ulp → ties to even = inf.
  assert.equal(f32ToBf16Bits(fromBits(0x7f7f8000)), 0x7f80);
  assert.equal(f32ToBf16Bits(fromBits(0x7f7f7fff)), 0x7f7f);
  // bf16 subnormals (f32 subnormals keep their exponent): ties at half a bf16 unit.
  assert.equal(f32ToBf16Bits(fromBits(0x00008000)), 0x0000);
  assert.equal(f32ToBf16Bits(fromBits(0x00018000)), 0x0002);
  assert.equal(f32ToBf16Bits(fromBits(0x80008001)), 0x8001);
  assert.equal(f32ToBf16Bits(fromBits(0x007f8000)), 0x0080); // top subnormal tie rounds into the normals
  // f16
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00);
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(f32ToF16Bits(65519.99), 0x7bff);
  assert.equal(f32ToF16Bits(65520), 0x7c00); // tie between 65504 (odd) and 65536 (even, = inf)
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // half the smallest subnormal: tie to even 0
  assert.equal(f32ToF16Bits(fromBits(bitsOf(2 ** -25) + 1)), 0x0001);
  assert.equal(f32ToF16Bits(3 * 2 ** -25), 0x0002); // 1.5 units → 2 (even)
  assert.equal(f32ToF16Bits(2 ** -14 - 2 ** -25), 0x0400); // top subnormal tie rounds up into the normals
  assert.equal(f32ToF16Bits(-(2 ** -26)), 0x8000);
  // e4m3
  assert.equal(f32ToE4M3(1 + 1 / 16), 0x38); // tie 1 | 1.125 → 1
  assert.equal(f32ToE4M3(1 + 3 / 16), 0x3a); // tie 1.125 | 1.25 → 1.25
  assert.equal(f32ToE4M3(2 ** -10), 0x00); // half the smallest subnormal 2^-9
  assert.equal(f32ToE4M3(3 * 2 ** -10), 0x02);
  assert.equal(f32ToE4M3(2 ** -6 - 2 ** -10), 0x08); // tie between 7·2^-9 (odd) and 2^-6 (even)
  assert.equal(f32ToE4M3(464, false), 0x7e); // tie 448 (even) | 480 → 448, no overflow
  assert.equal(f32ToE4M3(-464, false), 0xfe);
  // e5m2
  assert.equal(f32ToE5M2(1 + 1 / 8), 0x3c); // tie 1 | 1.25 → 1
  assert.equal(f32ToE5M2(1 + 3 / 8), 0x3e); // tie 1.25 | 1.5 → 1.5
  assert.equal(f32ToE5M2(2 ** -17), 0x00);
  assert.equal(f32ToE5M2(3 * 2 ** -17), 0x02);
  assert.equal(f32ToE5M2(61440, false), 0x7c); // tie 57344 (odd) | 65536 (even = inf)
  assert.equal(f32ToE5M2(61439, false), 0x7b);
});

test('FP8 saturation: both modes', () => {
  const e4 = (x: number, s: boolean): number => f32ToE4M3(x, s);
  for (const x of [448, 449, 463.99, 464]) { assert.equal(e4(x, true), 0x7e); assert.equal(e4(x, false), 0x7e); }
  for (const x of [464.01, 480, 1e6, 3.4e38, Infinity]) {
    assert.equal(e4(x, true), 0x7e, `sat ${x}`);
    assert.equal(e4(-x, true), 0xfe);
    assert.ok(isNaNE4M3(e4(x, false)), `nosat ${x}`);
  }
  assert.ok(isNaNE4M3(e4(NaN, true)) && isNaNE4M3(e4(NaN, false)));
  const e5 = (x: number, s: boolean): number => f32ToE5M2(x, s);
  for (const x of [57344, 60000, 61439]) { assert.equal(e5(x, true), 0x7b); assert.equal(e5(x, false), 0x7b); }
  for (const x of [61440, 65536, 1e9]) {
    assert.equal(e5(x, true), 0x7b); assert.equal(e5(-x, true), 0xfb);
    assert.equal(e5(x, false), 0x7c); assert.equal(e5(-x, false), 0xfc);
  }
  assert.equal(e5(Infinity, true), 0x7b);
  assert.equal(e5(-Infinity, false), 0xfc);
  assert.ok(isNaNE5M2(e5(NaN, true)) && isNaNE5M2(e5(NaN, false)));
  // Array API: default is saturating.
  const src = new Float32Array([1000, -1000, 70000, NaN]);
  assert.deepEqual([...encodeF32('f8e4m3', src)], [0x7e, 0xfe, 0x7e, 0x7f]);
  assert.deepEqual([...encodeF32('f8e4m3', src, undefined, { saturate: false })], [0x7f, 0xff, 0x7f, 0x7f]);
  assert.deepEqual([...encodeF32('f8e5m2', src, undefined, { saturate: false })], [0x64, 0xe4, 0x7c, 0x7e]); // 1000 rounds up to 1024 = 0x64
  assert.equal(e5m2ToF32(0x64), 1024);
});

test('matches the numpy / ml_dtypes reference fixture (non-saturating mode)', () => {
  const path = fileURLToPath(new URL('../../../test/fixtures/convert/reference.bin', import.meta.url));
  const buf = readFileSync(path);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  const n = dv.getUint32(o, true); o += 4;
  const rd = (size: 1 | 2 | 4, count: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < count; i++, o += size) {
      out.push(size === 1 ? dv.getUint8(o) : size === 2 ? dv.getUint16(o, true) : dv.getUint32(o, true));
    }
    return out;
  };
  const xs = rd(4, n), bf = rd(2, n), h = rd(2, n), e4 = rd(1, n), e5 = rd(1, n);
  const d4 = rd(4, 256), d5 = rd(4, 256);
  const k = dv.getUint32(o, true); o += 4;
  const pats = rd(2, k), dh = rd(4, k), dbf = rd(4, k);
  assert.equal(o, buf.length);
  assert.ok(n > 5000);
  const x = new Float32Array(new Uint32Array(xs).buffer);
  const check = (name: string, got: ArrayLike<number> | BigInt64Array, want: number[], nan: (b: number) => boolean): void => {
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const ok = nan(want[i]!) ? nan(Number(got[i])) : Number(got[i]) === want[i];
      if (!ok && bad++ < 5) console.error(`${name}: x=${x[i]} (0x${xs[i]!.toString(16)}) got 0x${got[i]!.toString(16)} want 0x${want[i]!.toString(16)}`);
    }
    assert.equal(bad, 0, `${name}: ${bad} of ${n} differ`);
  };
  check('bf16', encodeF32('bf16', x), bf, isNaNBf16);
  check('f16', encodeF32('f16', x), h, isNaN16);
  check('e4m3', encodeF32('f8e4m3', x, undefined, { saturate: false }), e4, isNaNE4M3);
  check('e5m2', encodeF32('f8e5m2', x, undefined, { saturate: false }), e5, isNaNE5M2);
  // Decode tables against the reference decodes (bit-exact; NaN only as NaN).
  const cmpDec = (name: string, got: number, want: number): void => {
    const w = fromBits(want);
    if (Number.isNaN(w)) assert.ok(Number.isNaN(got), name);
    else assert.equal(bitsOf(got), want, name);
  };
  for (let b = 0; b < 256; b++) { cmpDec(`e4m3 ${b}`, e4m3ToF32(b), d4[b]!); cmpDec(`e5m2 ${b}`, e5m2ToF32(b), d5[b]!); }
  for (let i = 0; i < k; i++) {
    cmpDec(`f16 ${pats[i]}`, f16BitsToF32(pats[i]!), dh[i]!);
    cmpDec(`bf16 ${pats[i]}`, bf16BitsToF32(pats[i]!), dbf[i]!);
  }
});

test('array encode/decode round trip for all float dtypes, with and without dst', () => {
  const src = new Float32Array([0, -0, 1, -2.5, 0.1, 1e-3, 300, -1e-7, NaN, Infinity]);
  for (const dt of ['bf16', 'f16', 'f8e4m3', 'f8e5m2'] as const) {
    const enc = encodeF32(dt, src);
    const dec = decodeToF32(dt, enc);
    const again = encodeF32(dt, dec);
    assert.deepEqual([...again], [...enc], dt);
    const dst = new Float32Array(src.length);
    assert.equal(decodeToF32(dt, enc, dst), dst);
    assert.deepEqual([...dst].map(String), [...dec].map(String));
  }
  const copy = encodeF32('f32', src);
  assert.notEqual(copy, src);
  assert.deepEqual([...copy].map(String), [...src].map(String));
  assert.throws(() => encodeF32('f16', src, new Uint8Array(src.length)), (e: unknown) => e instanceof KilnError && e.code === 'E_DTYPE');
  assert.throws(() => encodeF32('f16', src, new Uint16Array(3)), (e: unknown) => e instanceof KilnError && e.code === 'E_ARG');
  assert.throws(() => decodeToF32('f16', new Uint16Array(2), new Float32Array(3)), KilnError);
});

test('integer and bool casts truncate like C, saturate, and map NaN to 0', () => {
  const src = new Float32Array([1.9, -1.9, 0.5, -0.5, 2.5, 1e10, -1e10, NaN, 255.7, 300, -3, 0]);
  assert.deepEqual([...encodeF32('i32', src)], [1, -1, 0, 0, 2, 2147483647, -2147483648, 0, 255, 300, -3, 0]);
  assert.deepEqual([...encodeF32('u8', src)], [1, 0, 0, 0, 2, 255, 0, 0, 255, 255, 0, 0]);
  assert.deepEqual([...encodeF32('bool', src)], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
  assert.deepEqual([...encodeF32('i64', new Float32Array([1.9, -1.9, 1e19, -1e19, NaN, 2 ** 40 + 0.5]))],
    [1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 0n, 2n ** 40n]);
  assert.deepEqual([...decodeToF32('i32', new Int32Array([1, -7, 16777217, 2147483647]))], [1, -7, 16777216, 2147483648]);
  assert.deepEqual([...decodeToF32('u8', new Uint8Array([0, 1, 255]))], [0, 1, 255]);
  assert.deepEqual([...decodeToF32('bool', new Uint8Array([0, 1, 7]))], [0, 1, 1]);
  // i64 → f32 rounds once, to nearest even: 2^60 + 2^36 is a tie between 2^60 and 2^60 + 2^37.
  assert.equal(i64ToF32(2n ** 60n + 2n ** 36n), 2 ** 60);
  assert.equal(i64ToF32(2n ** 60n + 3n * 2n ** 36n), 2 ** 60 + 2 ** 38);
  // A double-rounding trap: 2^60 + 2^36 + 1 is just above the tie, so must round up; via a double it would not.
  assert.equal(i64ToF32(2n ** 60n + 2n ** 36n + 1n), 2 ** 60 + 2 ** 37);
  assert.equal(i64ToF32(-(2n ** 63n)), -(2 ** 63));
  assert.deepEqual([...decodeToF32('i64', new BigInt64Array([5n, -(2n ** 60n + 2n ** 36n + 1n)]))], [5, -(2 ** 60 + 2 ** 37)]);
});
