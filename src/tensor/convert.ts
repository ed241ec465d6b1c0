/**
 * Exact conversions between f32 and every storage dtype.
 *
 * Contract
 * - Float encodes (f32 → bf16 / f16 / f8e4m3 / f8e5m2) are exact bit arithmetic on the f32 bit pattern with
 *   round-to-nearest-even (RNE) and a single rounding step; no Math.round tricks and no double rounding.
 * - Float decodes use lookup tables built once (65,536 entries for bf16/f16, 256 for the FP8 formats); every
 *   finite value of the narrow formats is exactly representable in f32, so decoding is exact.
 * - f16 follows IEEE binary16 (subnormals, ±inf, NaN); overflow → ±inf.
 * - f8e4m3 is OCP E4M3FN: bias 7, no infinities, S.1111.111 is NaN, max 448.
 *   f8e5m2 is OCP E5M2: IEEE-like (bias 15, ±inf, NaN), max 57344.
 * - FP8 overflow (OCP FP8 spec, section "conversion"): `saturate: true` (the default, as the FP8 training recipes
 *   use it) clamps every value beyond ±max to ±max, including ±inf (for both FP8 formats, like CUDA's
 *   __NV_SATFINITE); `saturate: false` maps overflow to NaN for E4M3 and to ±inf for E5M2 (±inf stays ±inf for
 *   E5M2, becomes NaN for E4M3). "Overflow" means the RNE-rounded magnitude exceeds max, so 464 (the tie between
 *   448 and the non-existent 480) still rounds to 448 in both modes. NaN stays NaN in both modes.
 *   PyTorch's casts (`x.to(torch.float8_e4m3fn)` / `torch.float8_e5m2`, c10/util/Float8_e4m3fn.h and
 *   Float8_e5m2.h) and ml_dtypes' casts are the NON-saturating mode: torch maps |x| ≥ 480 (and, by rounding,
 *   anything above 464) to NaN for E4M3 and rounds |x| ≥ 61440 to ±inf for E5M2.
 * - NaN encodings: bf16 and f16 keep the sign and the top payload bits and force the quiet bit; E4M3 NaN is
 *   S.1111.111; E5M2 NaN is S.11111.10 (as ml_dtypes writes it; torch writes S.11111.11 — both are NaN).
 * - Integer dtypes: f32 → i32 / i64 / u8 truncates toward zero like a C cast; where C leaves it undefined we
 *   define it like Rust's `as`: NaN → 0 and out-of-range values saturate to the type's min / max. bool stores
 *   x !== 0 (so NaN → 1, as torch's bool(nan)); any nonzero bool byte decodes to 1. i32 / i64 → f32 round to
 *   nearest even, exactly (i64 beyond 2^53 is rounded once from the BigInt, not via a double).
 * - `encodeF32('f32', x)` / `decodeToF32('f32', x)` return a copy (or fill `dst`); nothing aliases its input.
 * - The scalar encoders take an f32 value: a JS number that is not one is first rounded to f32 (as storing it in
 *   a Float32Array does), so pass Math.fround'ed values when exactness from f64 matters.
 */
import { KilnError } from '../errors.js';
import { type DType, type StorageArray, typedArray, DTYPE_BYTES } from './dtype.js';

export interface EncodeOptions {
  /** FP8 only: clamp overflow to ±max (default true) instead of NaN (E4M3) / ±inf (E5M2). */
  saturate?: boolean;
}

// Shared scratch for reading an f32's bit pattern.
const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

function bitsOf(x: number): number {
  scratchF[0] = x;
  return scratchU[0]!;
}

/** Round the non-negative integer `v` (< 2^31) right by `s` bits (1 ≤ s ≤ 30), ties to even. Exact int32 math. */
function shiftRne(v: number, s: number): number {
  const q = v >>> s;
  const rem = v & ((1 << s) - 1);
  const half = 1 << (s - 1);
  return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
}

// ---------------------------------------------------------------------------------------------------------------
// bf16

/** f32 → bf16 bit pattern (RNE; overflow rounds to ±inf as IEEE does; NaN stays a quiet NaN). */
export function f32ToBf16Bits(x: number): number {
  const b = bitsOf(x);
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x0040) & 0xffff;
  // Adding 0x7fff plus the kept LSB to the 16 dropped bits rounds to nearest, ties to even; the carry ripples
  // into the exponent (and up to infinity) exactly as the rounding requires. b + 0x8000 < 2^32 for non-NaN b.
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

let bf16Table: Float32Array | undefined;
function bf16Lut(): Float32Array {
  if (bf16Table) return bf16Table;
  const u = new Uint32Array(65536);
  for (let i = 0; i < 65536; i++) u[i] = (i << 16) >>> 0;
  bf16Table = new Float32Array(u.buffer);
  return bf16Table;
}

/** bf16 bit pattern → f32 value (exact). */
export function bf16BitsToF32(b: number): number {
  return bf16Lut()[b & 0xffff]!;
}

// ---------------------------------------------------------------------------------------------------------------
// Generic narrow float encode: E exponent bits, M mantissa bits, given bias; result is the unsigned magnitude
// code (sign excluded), possibly beyond the largest finite code (the caller decides what overflow means).

function encodeMagnitude(abs: number, M: number, bias: number): number {
  // abs: f32 bits without sign, finite (abs < 0x7f800000).
  const exp32 = abs >>> 23;
  const man32 = abs & 0x7fffff;
  const te = exp32 - 127 + bias; // biased target exponent
  if (te >= 1) {
    // Normal in the target: drop 23-M mantissa bits from (te, man32); a carry out of the mantissa bumps the
    // exponent, which is exactly the correct rounding up to the next binade. te ≤ 142 here, so v < 2^31.
    return shiftRne((te << 23) | man32, 23 - M);
  }
  // Subnormal (or zero) in the target: value = sig · 2^(effExp-150); target unit = 2^(1-bias-M).
  const sig = exp32 === 0 ? man32 : man32 | 0x800000;
  const effExp = exp32 === 0 ? 1 : exp32;
  const s = 151 - bias - M - effExp; // ≥ 24 - M ≥ 1
  if (s > 25) return 0; // sig < 2^24 ≤ half an output unit
  return shiftRne(sig, s);
}

// ---------------------------------------------------------------------------------------------------------------
// f16 (IEEE binary16)

/** f32 → IEEE half bit pattern (RNE, subnormals, overflow → ±inf, NaN stays quiet NaN). */
export function f32ToF16Bits(x: number): number {
  const b = bitsOf(x);
  const sign = (b >>> 16) & 0x8000;
  const abs = b & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  if (abs === 0x7f800000) return sign | 0x7c00;
  const m = encodeMagnitude(abs, 10, 15);
  return sign | (m >= 0x7c00 ? 0x7c00 : m);
}

let f16Table: Float32Array | undefined;
function f16Lut(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  const u = new Uint32Array(t.buffer);
  for (let i = 0; i < 65536; i++) {
    const sign = (i & 0x8000) << 16;
    const e = (i >>> 10) & 0x1f;
    const m = i & 0x3ff;
    if (e === 0x1f) u[i] = (sign | 0x7f800000 | (m << 13)) >>> 0;
    else {
      const mag = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
      t[i] = sign ? -mag : mag;
    }
  }
  f16Table = t;
  return t;
}

/** IEEE half bit pattern → f32 value (exact). */
export function f16BitsToF32(b: number): number {
  return f16Lut()[b & 0xffff]!;
}

// ---------------------------------------------------------------------------------------------------------------
// FP8 E4M3FN

const E4M3_MAX_CODE = 0x7e; // 448
const E4M3_NAN = 0x7f;

/** f32 → OCP E4M3FN byte (RNE; overflow clamps to ±448 when saturating (default), else NaN). */
export function f32ToE4M3(x: number, saturate = true): number {
  const b = bitsOf(x);
  const sign = (b >>> 24) & 0x80;
  const abs = b & 0x7fffffff;
  if (abs > 0x7f800000) return sign | E4M3_NAN;
  if (abs === 0x7f800000) return sign | (saturate ? E4M3_MAX_CODE : E4M3_NAN);
  const m = encodeMagnitude(abs, 3, 7);
  if (m > E4M3_MAX_CODE) return sign | (saturate ? E4M3_MAX_CODE : E4M3_NAN);
  return sign | m;
}

let e4m3Table: Float32Array | undefined;
function e4m3Lut(): Float32Array {
  if (e4m3Table) return e4m3Table;
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    const e = (i >>> 3) & 0xf;
    const m = i & 7;
    let mag: number;
    if (e === 0xf && m === 7) mag = NaN;
    else mag = e === 0 ? m * 2 ** -9 : (1 + m / 8) * 2 ** (e - 7);
    t[i] = i & 0x80 ? -mag : mag;
  }
  e4m3Table = t;
  return t;
}

/** OCP E4M3FN byte → f32 value (exact). */
export function e4m3ToF32(b: number): number {
  return e4m3Lut()[b & 0xff]!;
}

// ---------------------------------------------------------------------------------------------------------------
// FP8 E5M2

const E5M2_MAX_CODE = 0x7b; // 57344
const E5M2_INF = 0x7c;
const E5M2_NAN = 0x7e;

/** f32 → OCP E5M2 byte (RNE; overflow and ±inf clamp to ±57344 when saturating (default), else ±inf). */
export function f32ToE5M2(x: number, saturate = true): number {
  const b = bitsOf(x);
  const sign = (b >>> 24) & 0x80;
  const abs = b & 0x7fffffff;
  if (abs > 0x7f800000) return sign | E5M2_NAN;
  if (abs === 0x7f800000) return sign | (saturate ? E5M2_MAX_CODE : E5M2_INF);
  const m = encodeMagnitude(abs, 2, 15);
  if (m > E5M2_MAX_CODE) return sign | (saturate ? E5M2_MAX_CODE : E5M2_INF);
  return sign | m;
}

let e5m2Table: Float32Array | undefined;
function e5m2Lut(): Float32Array {
  if (e5m2Table) return e5m2Table;
  // E5M2 is the top byte of an IEEE half.
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = f16BitsToF32(i << 8);
  e5m2Table = t;
  return t;
}

/** OCP E5M2 byte → f32 value (exact). */
export function e5m2ToF32(b: number): number {
  return e5m2Lut()[b & 0xff]!;
}

// ---------------------------------------------------------------------------------------------------------------
// Integers

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const TWO63 = 2 ** 63;

function f32ToI32(x: number): number {
  if (x !== x) return 0;
  if (x <= I32_MIN) return I32_MIN;
  if (x >= I32_MAX) return I32_MAX;
  return Math.trunc(x);
}

function f32ToI64(x: number): bigint {
  if (x !== x) return 0n;
  if (x >= TWO63) return I64_MAX;
  if (x <= -TWO63) return I64_MIN;
  return BigInt(Math.trunc(x));
}

function f32ToU8(x: number): number {
  if (!(x > 0)) return 0; // NaN and non-positive (C truncation of (-1, 0] is 0; below saturates to 0)
  if (x >= 255) return 255;
  return Math.trunc(x);
}

/** i64 → nearest f32 (RNE), rounding once from the exact integer. */
export function i64ToF32(v: bigint): number {
  const neg = v < 0n;
  let a = neg ? -v : v;
  if (a <= 9007199254740991n) return Math.fround(neg ? -Number(a) : Number(a));
  // Keep 24 significant bits, round the rest to nearest even, exactly in BigInt arithmetic.
  const len = a.toString(2).length;
  const shift = BigInt(len - 24);
  const q = a >> shift;
  const rem = a - (q << shift);
  const half = 1n << (shift - 1n);
  a = rem > half || (rem === half && (q & 1n) === 1n) ? q + 1n : q;
  const mag = Number(a) * 2 ** Number(shift); // a ≤ 2^24: exact
  return Math.fround(neg ? -mag : mag);
}

// ---------------------------------------------------------------------------------------------------------------
// Array API

function alloc(dtype: DType, n: number): StorageArray {
  return typedArray(dtype, new ArrayBuffer(n * DTYPE_BYTES[dtype]), 0, n);
}

function expectArray(dtype: DType, a: StorageArray, n: number, what: string): void {
  const ok =
    dtype === 'f32' ? a instanceof Float32Array
    : dtype === 'bf16' || dtype === 'f16' ? a instanceof Uint16Array
    : dtype === 'i32' ? a instanceof Int32Array
    : dtype === 'i64' ? a instanceof BigInt64Array
    : a instanceof Uint8Array;
  if (!ok) {
    throw new KilnError('E_DTYPE', `${what}: a ${a.constructor.name} cannot hold dtype ${dtype}; ` +
      `pass the typed array that typedArray('${dtype}', ...) returns`);
  }
  if (a.length !== n) {
    throw new KilnError('E_ARG', `${what}: destination has ${a.length} elements but the source has ${n}; ` +
      'pass a destination of the same length');
  }
}

/**
 * Encode f32 values into the storage of `dtype`. Writes into `dst` when given (it must be the dtype's typed array
 * with the same length) and returns it; otherwise returns a fresh array.
 */
export function encodeF32(dtype: DType, src: Float32Array, dst?: StorageArray, opts: EncodeOptions = {}): StorageArray {
  const n = src.length;
  const out = dst ?? alloc(dtype, n);
  expectArray(dtype, out, n, `encodeF32(${dtype})`);
  const sat = opts.saturate ?? true;
  switch (dtype) {
    case 'f32': (out as Float32Array).set(src); break;
    case 'bf16': { const o = out as Uint16Array; for (let i = 0; i < n; i++) o[i] = f32ToBf16Bits(src[i]!); break; }
    case 'f16': { const o = out as Uint16Array; for (let i = 0; i < n; i++) o[i] = f32ToF16Bits(src[i]!); break; }
    case 'f8e4m3': { const o = out as Uint8Array; for (let i = 0; i < n; i++) o[i] = f32ToE4M3(src[i]!, sat); break; }
    case 'f8e5m2': { const o = out as Uint8Array; for (let i = 0; i < n; i++) o[i] = f32ToE5M2(src[i]!, sat); break; }
    case 'i32': { const o = out as Int32Array; for (let i = 0; i < n; i++) o[i] = f32ToI32(src[i]!); break; }
    case 'i64': { const o = out as BigInt64Array; for (let i = 0; i < n; i++) o[i] = f32ToI64(src[i]!); break; }
    case 'u8': { const o = out as Uint8Array; for (let i = 0; i < n; i++) o[i] = f32ToU8(src[i]!); break; }
    case 'bool': { const o = out as Uint8Array; for (let i = 0; i < n; i++) o[i] = src[i] !== 0 ? 1 : 0; break; }
  }
  return out;
}

/** Decode storage of `dtype` to f32 values, into `dst` when given (same length) or a fresh Float32Array. */
export function decodeToF32(dtype: DType, src: StorageArray, dst?: Float32Array): Float32Array {
  const n = src.length;
  expectArray(dtype, src, n, `decodeToF32(${dtype}) source`);
  const out = dst ?? new Float32Array(n);
  if (!(out instanceof Float32Array) || out.length !== n) {
    throw new KilnError('E_ARG', `decodeToF32(${dtype}): destination must be a Float32Array of length ${n}`);
  }
  const lut = dtype === 'bf16' ? bf16Lut() : dtype === 'f16' ? f16Lut()
    : dtype === 'f8e4m3' ? e4m3Lut() : dtype === 'f8e5m2' ? e5m2Lut() : undefined;
  if (lut) {
    const s = src as Uint16Array | Uint8Array;
    // Copy table entries through the bit view so NaN payloads survive.
    const lu = new Uint32Array(lut.buffer, lut.byteOffset, lut.length);
    const ou = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) ou[i] = lu[s[i]!]!;
    return out;
  }
  switch (dtype) {
    case 'f32': out.set(src as Float32Array); break;
    case 'i32': case 'u8': out.set(src as Int32Array | Uint8Array); break; // Float32Array stores round RNE
    case 'i64': { const s = src as BigInt64Array; for (let i = 0; i < n; i++) out[i] = i64ToF32(s[i]!); break; }
    case 'bool': { const s = src as Uint8Array; for (let i = 0; i < n; i++) out[i] = s[i] !== 0 ? 1 : 0; break; }
    default: throw new KilnError('E_DTYPE', `decodeToF32: unknown dtype ${String(dtype)}`);
  }
  return out;
}
