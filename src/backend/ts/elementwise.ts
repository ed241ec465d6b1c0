/** Reference elementwise kernels: unary maps, broadcast binary ops, where, strided copy, fill. */
import type { Backend, BinaryOp, UnaryOp, View } from '../backend.js';
import type { StorageArray } from '../../tensor/dtype.js';
import { forEachRow, isContiguous } from './strided.js';

/** Maclaurin coefficients of erf: erf(x) = x · Σ ERF_SERIES[n] · x^(2n) (2/√π · (−1)^n / (n!(2n+1))). */
const ERF_SERIES = [
  1.1283791670955126, -0.37612638903183754, 0.11283791670955126, -0.026866170645131252, 0.005223977625442188, -0.0008548327023450852,
  0.00012055332981789664, -1.492565035840625e-05, 1.6462114365889246e-06, -1.6365844691234924e-07, 1.4807192815879218e-08, -1.2290555301717926e-09,
];

/**
 * erf: the Maclaurin series for |x| < 0.5 (error < 1e-16, so erf(0) = 0 and tiny x keep their sign), Numerical
 * Recipes' erfc Chebyshev fit beyond (|error| < 1.2e-7).
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  if (z < 0.5) {
    const x2 = x * x;
    let p = ERF_SERIES[ERF_SERIES.length - 1];
    for (let n = ERF_SERIES.length - 2; n >= 0; n--) p = p * x2 + ERF_SERIES[n];
    return x * p;
  }
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: Math.abs,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + erf(x * Math.SQRT1_2)),
  geluTanh: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))),
  relu: (x) => (x > 0 ? x : 0),
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  erf,
  siluGrad: (x) => {
    const s = 1 / (1 + Math.exp(-x));
    return s * (1 + x * (1 - s));
  },
  geluGrad: (x) => 0.5 * (1 + erf(x * Math.SQRT1_2)) + x * Math.exp(-0.5 * x * x) * INV_SQRT_2PI,
  geluTanhGrad: (x) => {
    const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
  },
};

export const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  max: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  min: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};

export const elementwiseKernels: Pick<Backend, 'unary' | 'binary' | 'binaryScalar' | 'where' | 'copy' | 'fill'> = {
  unary(op: UnaryOp, x: View, out: Float32Array): void {
    const f = UNARY[op];
    const xd = x.data;
    if (isContiguous(x.shape, x.strides)) {
      const n = out.length;
      for (let i = 0, j = x.offset; i < n; i++, j++) out[i] = f(xd[j]);
      return;
    }
    let o = 0;
    forEachRow(x.shape, [x.strides], [x.offset], (len, [xo], [xs]) => {
      for (let i = 0; i < len; i++) out[o++] = f(xd[xo + i * xs]);
    });
  },

  binary(op: BinaryOp, a: View, b: View, shape: readonly number[], out: Float32Array): void {
    const f = BINARY[op];
    const ad = a.data;
    const bd = b.data;
    let o = 0;
    forEachRow(shape, [a.strides, b.strides], [a.offset, b.offset], (len, [ao, bo], [as, bs]) => {
      for (let i = 0; i < len; i++) out[o++] = f(ad[ao + i * as], bd[bo + i * bs]);
    });
  },

  binaryScalar(op: BinaryOp, a: View, s: number, out: Float32Array, scalarFirst: boolean): void {
    const f = BINARY[op];
    const ad = a.data;
    let o = 0;
    forEachRow(a.shape, [a.strides], [a.offset], (len, [ao], [as]) => {
      if (scalarFirst) for (let i = 0; i < len; i++) out[o++] = f(s, ad[ao + i * as]);
      else for (let i = 0; i < len; i++) out[o++] = f(ad[ao + i * as], s);
    });
  },

  where(cond: View, a: View, b: View, shape: readonly number[], out: Float32Array): void {
    const cd = cond.data;
    const ad = a.data;
    const bd = b.data;
    let o = 0;
    forEachRow(shape, [cond.strides, a.strides, b.strides], [cond.offset, a.offset, b.offset], (len, [co, ao, bo], [cs, as, bs]) => {
      for (let i = 0; i < len; i++) out[o++] = cd[co + i * cs] !== 0 ? ad[ao + i * as] : bd[bo + i * bs];
    });
  },

  copy(src: View<StorageArray>, dst: View<StorageArray>): void {
    const sd = src.data as Float32Array; // same element type on both sides; the cast only names one
    const dd = dst.data as Float32Array;
    if (isContiguous(src.shape, src.strides) && isContiguous(dst.shape, dst.strides)) {
      let n = 1;
      for (const d of src.shape) n *= d;
      dd.set(sd.subarray(src.offset, src.offset + n), dst.offset);
      return;
    }
    forEachRow(src.shape, [src.strides, dst.strides], [src.offset, dst.offset], (len, [so, d0], [ss, ds]) => {
      for (let i = 0; i < len; i++) dd[d0 + i * ds] = sd[so + i * ss];
    });
  },

  fill(out: Float32Array, value: number, start = 0, end = out.length): void {
    out.fill(value, start, end);
  },
};
