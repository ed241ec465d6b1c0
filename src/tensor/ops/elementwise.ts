/**
 * Elementwise ops with broadcasting. Each public op computes its forward with one backend kernel and records its
 * vector-Jacobian product right below it. Comparisons return f32 0/1 masks and carry no gradient.
 */
import { backend } from '../../backend/index.js';
import type { BinaryOp, UnaryOp } from '../../backend/backend.js';
import { record } from '../autograd.js';
import { Tensor, type TensorOrScalar } from '../tensor.js';
import { assertFloat, broadcastShapes, broadcastView, dataOf, sumTo } from './util.js';

function unary(op: UnaryOp, x: Tensor): Tensor {
  assertFloat(x, op);
  const out = Tensor.empty(x.shape);
  backend().unary(op, x.view_(), dataOf(out));
  return out;
}

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  assertFloat(a, op);
  assertFloat(b, op);
  const shape = broadcastShapes(a.shape, b.shape);
  const out = Tensor.empty(shape);
  if (b.size === 1 && b.ndim <= a.ndim) backend().binaryScalar(op, broadcastView(a, shape), scalarOf(b), dataOf(out), false);
  else if (a.size === 1 && a.ndim <= b.ndim) backend().binaryScalar(op, broadcastView(b, shape), scalarOf(a), dataOf(out), true);
  else backend().binary(op, broadcastView(a, shape), broadcastView(b, shape), shape, dataOf(out));
  return out;
}

function scalarOf(t: Tensor): number {
  return (t.storage.data as Float32Array)[t.offset];
}

function binaryScalar(op: BinaryOp, a: Tensor, s: number, scalarFirst = false): Tensor {
  assertFloat(a, op);
  const out = Tensor.empty(a.shape);
  backend().binaryScalar(op, a.view_(), s, dataOf(out), scalarFirst);
  return out;
}

// ── arithmetic ──

export function add(a: Tensor, b: TensorOrScalar): Tensor {
  if (typeof b === 'number') return record(binaryScalar('add', a, b), 'add', [a], (g) => [g]);
  return record(binary('add', a, b), 'add', [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

export function sub(a: Tensor, b: TensorOrScalar): Tensor {
  if (typeof b === 'number') return record(binaryScalar('sub', a, b), 'sub', [a], (g) => [g]);
  return record(binary('sub', a, b), 'sub', [a, b], (g) => [sumTo(g, a.shape), sumTo(neg(g), b.shape)]);
}

/** s − a for a scalar s. */
export function rsub(s: number, a: Tensor): Tensor {
  return record(binaryScalar('sub', a, s, true), 'rsub', [a], (g) => [neg(g)]);
}

export function mul(a: Tensor, b: TensorOrScalar): Tensor {
  if (typeof b === 'number') return record(binaryScalar('mul', a, b), 'mul', [a], (g) => [mul(g, b)]);
  return record(binary('mul', a, b), 'mul', [a, b], (g) => [
    a.requiresGrad ? sumTo(mul(g, b), a.shape) : null,
    b.requiresGrad ? sumTo(mul(g, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: TensorOrScalar): Tensor {
  if (typeof b === 'number') return record(binaryScalar('div', a, b), 'div', [a], (g) => [div(g, b)]);
  return record(binary('div', a, b), 'div', [a, b], (g) => [
    a.requiresGrad ? sumTo(div(g, b), a.shape) : null,
    b.requiresGrad ? sumTo(neg(div(mul(g, a), square(b))), b.shape) : null,
  ]);
}

export function pow(a: Tensor, b: TensorOrScalar): Tensor {
  if (typeof b === 'number')
    return record(binaryScalar('pow', a, b), 'pow', [a], (g) => [mul(g, mul(binaryScalar('pow', a, b - 1), b))]);
  const y = binary('pow', a, b);
  return record(y, 'pow', [a, b], (g) => [
    a.requiresGrad ? sumTo(mul(g, mul(b, pow(a, sub(b, 1)))), a.shape) : null,
    b.requiresGrad ? sumTo(mul(g, mul(y, log(a))), b.shape) : null,
  ]);
}

/** Elementwise max; on ties the gradient is split evenly (as in PyTorch). */
export function maximum(a: Tensor, b: TensorOrScalar): Tensor {
  return extremum('max', a, b);
}

export function minimum(a: Tensor, b: TensorOrScalar): Tensor {
  return extremum('min', a, b);
}

function extremum(op: 'max' | 'min', a: Tensor, b: TensorOrScalar): Tensor {
  const bt = typeof b === 'number' ? full1(b) : b;
  const y = binary(op, a, bt);
  const inputs = typeof b === 'number' ? [a] : [a, bt];
  return record(y, op === 'max' ? 'maximum' : 'minimum', inputs, (g) => {
    // weight of a: 1 where a wins, 0.5 on ties
    const wa = binaryScalar('mul', add(binary('eq', a, y), binary('ne', bt, y)), 0.5);
    const ga = sumTo(mul(g, wa), a.shape);
    return typeof b === 'number' ? [ga] : [ga, sumTo(mul(g, rsub(1, wa)), bt.shape)];
  });
}

function full1(v: number): Tensor {
  const t = Tensor.empty([]);
  (t.storage.data as Float32Array)[0] = v;
  return t;
}

// ── unary ──

export function neg(x: Tensor): Tensor {
  return record(unary('neg', x), 'neg', [x], (g) => [neg(g)]);
}

export function exp(x: Tensor): Tensor {
  const y = unary('exp', x);
  return record(y, 'exp', [x], (g) => [mul(g, y)]);
}

export function log(x: Tensor): Tensor {
  return record(unary('log', x), 'log', [x], (g) => [div(g, x)]);
}

export function sqrt(x: Tensor): Tensor {
  const y = unary('sqrt', x);
  return record(y, 'sqrt', [x], (g) => [div(mul(g, 0.5), y)]);
}

export function rsqrt(x: Tensor): Tensor {
  const y = unary('rsqrt', x);
  // d/dx x^(−1/2) = −½ y³
  return record(y, 'rsqrt', [x], (g) => [mul(g, mul(pow(y, 3), -0.5))]);
}

export function abs(x: Tensor): Tensor {
  return record(unary('abs', x), 'abs', [x], (g) => [mul(g, unary('sign', x))]);
}

export function square(x: Tensor): Tensor {
  return record(unary('square', x), 'square', [x], (g) => [mul(g, mul(x, 2))]);
}

export function sin(x: Tensor): Tensor {
  return record(unary('sin', x), 'sin', [x], (g) => [mul(g, unary('cos', x))]);
}

export function cos(x: Tensor): Tensor {
  return record(unary('cos', x), 'cos', [x], (g) => [neg(mul(g, unary('sin', x)))]);
}

export function tanh(x: Tensor): Tensor {
  const y = unary('tanh', x);
  return record(y, 'tanh', [x], (g) => [mul(g, rsub(1, square(y)))]);
}

export function sigmoid(x: Tensor): Tensor {
  const y = unary('sigmoid', x);
  return record(y, 'sigmoid', [x], (g) => [mul(g, mul(y, rsub(1, y)))]);
}

export function silu(x: Tensor): Tensor {
  return record(unary('silu', x), 'silu', [x], (g) => [mul(g, unary('siluGrad', x))]);
}

/** GELU, exact (erf) or with the tanh approximation. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  const [fwd, grad] = approximate === 'tanh' ? (['geluTanh', 'geluTanhGrad'] as const) : (['gelu', 'geluGrad'] as const);
  return record(unary(fwd, x), 'gelu', [x], (g) => [mul(g, unary(grad, x))]);
}

export function relu(x: Tensor): Tensor {
  return record(unary('relu', x), 'relu', [x], (g) => [mul(g, binaryScalar('gt', x, 0))]);
}

export function erf(x: Tensor): Tensor {
  return record(unary('erf', x), 'erf', [x], (g) => [mul(g, mul(unary('exp', neg(square(x))), 2 / Math.sqrt(Math.PI)))]);
}

/** Clamps to [min, max]; the gradient passes where the input is inside the range. */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  let y = x;
  if (min !== undefined) y = binaryScalar('max', y, min);
  if (max !== undefined) {
    const z = binaryScalar('min', y, max);
    if (y !== x) y.dispose();
    y = z;
  }
  if (y === x) y = binaryScalar('add', x, 0);
  return record(y, 'clamp', [x], (g) => {
    let m = min !== undefined ? binaryScalar('ge', x, min) : null;
    if (max !== undefined) m = m ? mul(m, binaryScalar('le', x, max)) : binaryScalar('le', x, max);
    return [m ? mul(g, m) : g];
  });
}

// ── comparisons (no gradient) ──

function compare(op: BinaryOp, a: Tensor, b: TensorOrScalar): Tensor {
  return typeof b === 'number' ? binaryScalar(op, a, b) : binary(op, a, b);
}
export const eq = (a: Tensor, b: TensorOrScalar): Tensor => compare('eq', a, b);
export const ne = (a: Tensor, b: TensorOrScalar): Tensor => compare('ne', a, b);
export const lt = (a: Tensor, b: TensorOrScalar): Tensor => compare('lt', a, b);
export const le = (a: Tensor, b: TensorOrScalar): Tensor => compare('le', a, b);
export const gt = (a: Tensor, b: TensorOrScalar): Tensor => compare('gt', a, b);
export const ge = (a: Tensor, b: TensorOrScalar): Tensor => compare('ge', a, b);

// ── selection ──

/** cond ? a : b with broadcasting (cond nonzero = true). */
export function where(cond: Tensor, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  const at = typeof a === 'number' ? full1(a) : a;
  const bt = typeof b === 'number' ? full1(b) : b;
  const c = cond.dtype === 'f32' ? cond : cond.to('f32');
  const shape = broadcastShapes(broadcastShapes(c.shape, at.shape), bt.shape);
  const out = Tensor.empty(shape);
  backend().where(broadcastView(c, shape), broadcastView(at, shape), broadcastView(bt, shape), shape, dataOf(out));
  const zero = full1(0);
  return record(out, 'where', [at, bt], (g) => [
    at.requiresGrad ? sumTo(where(c, g, zero), at.shape) : null,
    bt.requiresGrad ? sumTo(where(c, zero, g), bt.shape) : null,
  ]);
}

/** x with `value` wherever mask is nonzero. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, value, x);
}
