/** FP8 E4M3 tile quantisation: hand-worked codes, scales per 1×128 tile / 128×128 block with partial edges. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f32ToE4M3 } from '../../../src/tensor/convert.js';
import { dequantize, e4m3FromBits, quantizeTiles, scaleAt } from '../../../src/train/precision/quantize.js';

test('hand-worked E4M3 codes in a tile whose amax is 448 (scale 1): RNE, ties to even, subnormals, zero', () => {
  const x = Float32Array.from([448, 1, -0.5, 17, 19, 2 ** -9, 2 ** -10, 1.5 * 2 ** -10, 3 * 2 ** -10, 2 ** -11, 0, -0, 2 ** -6, 7 * 2 ** -9, -300]);
  const q = quantizeTiles(x, 1, x.length, 1, 128);
  assert.deepEqual([...q.scales], [1]);
  // 448 = S.1111.110; 1 = 0.0111.000; -0.5 = 1.0110.000; 17 is the tie 16|18 → 16 (even mantissa 0) = 0.1011.000;
  // 19 is the tie 18|20 → 20 (mantissa 2) = 0.1011.010; 2^-9 is the smallest subnormal 0.0000.001; 2^-10 ties
  // 0|2^-9 → 0; 1.5·2^-10 → 2^-9; 3·2^-10 ties 2^-9|2^-8 → 2^-8 (0x02); 2^-11 → 0; −0 keeps its sign; 2^-6 is the
  // smallest normal 0.0001.000; 7·2^-9 the largest subnormal; −300 → −288 (1.1111.001, 300/256 = 1.17 → 1.125).
  assert.deepEqual([...q.codes], [0x7e, 0x38, 0xb0, 0x58, 0x5a, 0x01, 0x00, 0x01, 0x02, 0x00, 0x00, 0x80, 0x08, 0x07, 0xf9]);
  assert.deepEqual([...q.values], [448, 1, -0.5, 16, 20, 2 ** -9, 0, 2 ** -9, 2 ** -8, 0, 0, -0, 2 ** -6, 7 * 2 ** -9, -288]);
});

test('hand-worked codes with scale 2 (amax 896): values are divided by the scale before rounding', () => {
  const x = Float32Array.from([896, 3, 0.001, -600, 0.0078125]);
  const q = quantizeTiles(x, 1, 5, 1, 128);
  assert.deepEqual([...q.scales], [2]);
  // 448 → 0x7e; 1.5 → 0.0111.100; 0.0005 = 0.256 subnormal units → 0; −300 → −288 (0xf9); 2^-8 → 0x02
  assert.deepEqual([...q.codes], [0x7e, 0x3c, 0x00, 0xf9, 0x02]);
  assert.deepEqual([...dequantize(q)], [896, 3, 0, -576, 0.0078125]);
});

test('saturation at 448: overflow and ±inf clamp to ±448, the tie 464 rounds to 448, NaN stays NaN', () => {
  const bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];
  for (const [v, code] of [[464, 0x7e], [480, 0x7e], [1e6, 0x7e], [Infinity, 0x7e], [-Infinity, 0xfe], [-500, 0xfe], [449, 0x7e], [NaN, 0x7f]] as const)
    assert.equal(e4m3FromBits(bits(v)), code, `E4M3(${v})`);
  // every tile's amax element lands on ±448 exactly (x / fround(amax/448) may exceed 448 by an ulp, which rounds back)
  for (const amax of [1, 3, 0.1, 1e-3, 7.77, 12345.678, 1e-20]) {
    const q = quantizeTiles(Float32Array.from([Math.fround(amax), -Math.fround(amax) / 2]), 1, 2, 1, 128);
    assert.equal(q.codes[0], 0x7e, `amax ${amax}`);
    assert.equal(q.scales[0], Math.fround(Math.fround(amax) / 448));
  }
  // an all-zero tile gets scale 1 and zero codes
  const z = quantizeTiles(new Float32Array(4), 1, 4, 1, 128);
  assert.deepEqual([...z.scales], [1]);
  assert.deepEqual([...z.codes], [0, 0, 0, 0]);
});

test('the inlined bit encoder equals convert.ts f32ToE4M3(saturating) over a sweep of f32 patterns', () => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let n = 0;
  for (let b = 0; b < 2 ** 32; b += 65521) {
    u[0] = b;
    assert.equal(e4m3FromBits(b), f32ToE4M3(f[0], true), `pattern 0x${b.toString(16)}`);
    n++;
  }
  // and every E4M3 value, its midpoints and neighbours, around the binades
  for (let c = 0; c < 0x7e; c++) {
    for (const d of [-1, 0, 1]) {
      u[0] = (bits8(c) + d) >>> 0;
      assert.equal(e4m3FromBits(u[0]), f32ToE4M3(f[0], true));
      n++;
    }
  }
  assert.ok(n > 60000);
  function bits8(c: number): number {
    const e = c >> 3, m = c & 7;
    f[0] = e === 0 ? m * 2 ** -9 : (1 + m / 8) * 2 ** (e - 7) + (m === 7 && e === 15 ? 0 : (e === 0 ? 2 ** -10 : 2 ** (e - 11))); // the midpoint above
    return u[0];
  }
});

test('1×128 tile scales with a partial last tile; 128×128 block scales with partial edge blocks', () => {
  const rows = 3, cols = 200;
  const x = new Float32Array(rows * cols).map((_, i) => ((i * 7919) % 97) / 97 - 0.5); // |x| < 0.5
  x[0 * cols + 199] = 44.8; // row 0, second (partial, 72-wide) tile
  x[1 * cols + 5] = -7; // row 1, first tile
  const q = quantizeTiles(x, rows, cols, 1, 128);
  assert.equal(q.gridRows, 3);
  assert.equal(q.gridCols, 2);
  const amaxOf = (r: number, c0: number, c1: number) => Math.max(...Array.from(x.subarray(r * cols + c0, r * cols + c1), Math.abs));
  for (let r = 0; r < rows; r++) {
    assert.equal(q.scales[r * 2], Math.fround(amaxOf(r, 0, 128) / 448));
    assert.equal(q.scales[r * 2 + 1], Math.fround(amaxOf(r, 128, 200) / 448));
  }
  assert.equal(q.scales[1], Math.fround(44.8 / 448));
  assert.equal(q.scales[2], Math.fround(7 / 448));
  assert.equal(scaleAt(q, 0, 150), q.scales[1]);

  const R = 130, C = 200;
  const w = new Float32Array(R * C).map((_, i) => ((i * 31) % 101) / 101 - 0.5);
  w[129 * C + 199] = 896; // bottom-right partial block (rows 128–129, cols 128–199)
  w[129 * C + 0] = 448; // bottom-left partial block (rows 128–129, cols 0–127)
  w[5 * C + 130] = -4.48; // top-right partial block (rows 0–127, cols 128–199)
  const b = quantizeTiles(w, R, C, 128, 128);
  assert.equal(b.gridRows, 2);
  assert.equal(b.gridCols, 2);
  assert.deepEqual([...b.scales], [Math.fround(Math.max(...Array.from({ length: 128 * 128 }, (_, i) => Math.abs(w[Math.floor(i / 128) * C + (i % 128)]))) / 448), Math.fround(4.48 / 448), 1, 2]);
  // dequantised values within E4M3's half-ulp (2^-4 relative for normals) of the inputs
  const d = dequantize(b);
  for (let i = 0; i < w.length; i++) {
    const s = scaleAt(b, Math.floor(i / C), i % C);
    assert.ok(Math.abs(d[i] - w[i]) <= Math.max(Math.abs(w[i]) * 2 ** -4, s * 2 ** -10) * 1.0001, `element ${i}: ${w[i]} → ${d[i]}`);
  }
});
