/**
 * Fine-grained FP8 (E4M3) quantisation as DeepSeek-V3's recipe does it (arXiv 2412.19437 §3.3.2): a matrix
 * [rows, cols] (row-major f32) is cut into tiles of tr × tc elements (1×128 activation tiles, 128×128 weight blocks,
 * 128×1 tiles for the transposed wgrad operands); partial tiles at the right / bottom edges cover what is left.
 *
 * Contract, per tile:
 *   amax  = max |x| over the tile (online, from this very data)
 *   scale = fround(amax / 448)  (E4M3's largest finite value); scale = 1 when amax = 0 (an all-zero tile)
 *   code  = E4M3(fround(x / scale))  with exact round-to-nearest-even and saturation (src/tensor/convert.ts)
 *   value = decoded code (exact in f32, |value| ≤ 448); the dequantised element is value × scale.
 * Tiny elements (|x / scale| below 2⁻¹⁰) become ±0, those between land on E4M3 subnormals (multiples of 2⁻⁹).
 * NaN stays NaN; an infinite amax makes the tile's scale infinite (its codes NaN) — divergence shows, it is not hidden.
 */
import { KilnError } from '../../errors.js';
import { e4m3ToF32 } from '../../tensor/convert.js';

/** E4M3's largest finite magnitude. */
export const E4M3_MAX = 448;

export interface QuantizedMatrix {
  rows: number;
  cols: number;
  /** Tile height and width (the edge tiles may be smaller). */
  tr: number;
  tc: number;
  /** Tiles down and across: ceil(rows / tr), ceil(cols / tc). */
  gridRows: number;
  gridCols: number;
  /** E4M3 bytes, row-major [rows, cols]. */
  codes: Uint8Array;
  /** The decoded codes (unscaled, exact), row-major [rows, cols]: what the FP8 tensor core multiplies. */
  values: Float32Array;
  /** Per-tile scales, row-major [gridRows, gridCols]. */
  scales: Float32Array;
}

let lut: Float32Array | undefined;
/** The 256 E4M3 values (index = byte). */
export function e4m3Table(): Float32Array {
  if (!lut) {
    lut = new Float32Array(256);
    for (let i = 0; i < 256; i++) lut[i] = e4m3ToF32(i);
  }
  return lut;
}

/**
 * f32 bit pattern → saturating E4M3FN byte with RNE: the same function as convert.ts's f32ToE4M3(x, true), inlined
 * on raw bits for the hot loop (a test checks the two agree).
 */
export function e4m3FromBits(u: number): number {
  const sign = (u >>> 24) & 0x80;
  const a = u & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7f; // NaN
  const exp32 = a >>> 23;
  let m: number;
  if (exp32 > 120) {
    // normal in E4M3: rebias, then round away 20 mantissa bits to nearest-even with one add (a carry bumps the
    // exponent correctly); anything rounding past 448 (incl. inf) saturates. v + 0x80000 < 2^31 for all finite a.
    const v = a - (120 << 23);
    m = (v + 0x7ffff + ((v >>> 20) & 1)) >>> 20;
    if (m > 0x7e) m = 0x7e;
  } else {
    const sig = exp32 === 0 ? a & 0x7fffff : (a & 0x7fffff) | 0x800000;
    const sh = 141 - (exp32 === 0 ? 1 : exp32); // ≥ 21
    if (sh > 25) return sign;
    const qv = sig >>> sh;
    const rem = sig & ((1 << sh) - 1);
    const half = 1 << (sh - 1);
    m = rem > half || (rem === half && (qv & 1) === 1) ? qv + 1 : qv;
  }
  return sign | m;
}

/** Quantise `src` (row-major [rows, cols], read from `offset`) into E4M3 with one scale per tr × tc tile. */
export function quantizeTiles(src: Float32Array, rows: number, cols: number, tr: number, tc: number, offset = 0): QuantizedMatrix {
  if (!(tr >= 1 && tc >= 1 && Number.isInteger(tr) && Number.isInteger(tc)))
    throw new KilnError('E_ARG', `quantizeTiles: tile size ${tr}×${tc} must be positive integers (e.g. 1×128 or 128×128)`);
  if (src.length < offset + rows * cols)
    throw new KilnError('E_SHAPE', `quantizeTiles: ${src.length - offset} values cannot fill [${rows}, ${cols}]`);
  const gridRows = Math.ceil(rows / tr);
  const gridCols = Math.ceil(cols / tc);
  const codes = new Uint8Array(rows * cols);
  const values = new Float32Array(rows * cols);
  const scales = new Float32Array(gridRows * gridCols);
  const table = e4m3Table();
  // Row-major sweeps for every tile shape (1×128, 128×128, 128×1 alike): per row band, the tile amaxes, then each
  // row's quotients into an f32 scratch row (one rounding each) and their codes from its bit pattern.
  const amax = new Float32Array(gridCols);
  const inv = new Float32Array(gridCols);
  const q = new Float32Array(cols);
  const qb = new Uint32Array(q.buffer);
  for (let gr = 0; gr < gridRows; gr++) {
    const r0 = gr * tr;
    const r1 = Math.min(rows, r0 + tr);
    amax.fill(0);
    for (let r = r0; r < r1; r++) {
      const base = offset + r * cols;
      for (let gc = 0, c0 = 0; gc < gridCols; gc++, c0 += tc) {
        const c1 = Math.min(cols, c0 + tc);
        let m = amax[gc];
        for (let c = c0; c < c1; c++) {
          const v = Math.abs(src[base + c]);
          if (v > m) m = v; // NaN never wins; it stays NaN through the division below
        }
        amax[gc] = m;
      }
    }
    for (let gc = 0; gc < gridCols; gc++) {
      const scale = amax[gc] === 0 ? 1 : Math.fround(amax[gc] / E4M3_MAX);
      scales[gr * gridCols + gc] = scale;
      inv[gc] = scale;
    }
    for (let r = r0; r < r1; r++) {
      const base = offset + r * cols;
      for (let gc = 0, c0 = 0; gc < gridCols; gc++, c0 += tc) {
        const c1 = Math.min(cols, c0 + tc);
        const scale = inv[gc];
        for (let c = c0; c < c1; c++) q[c] = src[base + c] / scale; // x / scale, rounded once to f32
      }
      const ob = r * cols;
      for (let c = 0; c < cols; c++) {
        const code = e4m3FromBits(qb[c]);
        codes[ob + c] = code;
        values[ob + c] = table[code];
      }
    }
  }
  return { rows, cols, tr, tc, gridRows, gridCols, codes, values, scales };
}

/** The dequantised matrix (decoded code × tile scale per element, rounded to f32); reads only codes and scales. */
export function dequantize(q: QuantizedMatrix): Float32Array {
  const table = e4m3Table();
  const out = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    const srow = Math.floor(r / q.tr) * q.gridCols;
    const base = r * q.cols;
    for (let gc = 0, c0 = 0; gc < q.gridCols; gc++, c0 += q.tc) {
      const s = q.scales[srow + gc];
      const c1 = Math.min(q.cols, c0 + q.tc);
      for (let c = c0; c < c1; c++) out[base + c] = table[q.codes[base + c]] * s;
    }
  }
  return out;
}

/**
 * The FP8 form to keep for a backward pass: codes and scales only (1 byte per element, as the recipe caches
 * activations); `values` is decoded again by `withValues` when the GEMM needs it.
 */
export function compact(q: QuantizedMatrix): QuantizedMatrix {
  return { ...q, values: new Float32Array(0) };
}

/** `q` with its decoded values present (decodes from the codes when they were dropped by `compact`). */
export function withValues(q: QuantizedMatrix): QuantizedMatrix {
  if (q.values.length === q.codes.length) return q;
  const table = e4m3Table();
  const values = new Float32Array(q.codes.length);
  for (let i = 0; i < values.length; i++) values[i] = table[q.codes[i]];
  return { ...q, values };
}

/** Scale of the tile holding element (r, c). */
export function scaleAt(q: QuantizedMatrix, r: number, c: number): number {
  return q.scales[Math.floor(r / q.tr) * q.gridCols + Math.floor(c / q.tc)];
}
