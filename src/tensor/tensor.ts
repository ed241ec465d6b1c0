/**
 * Tensor = dtype + shape + strides + offset over a shared, reference-counted Storage. Views (reshape, permute,
 * slice, expand, ...) share storage; `contiguous()` copies only when needed. Methods are thin: each calls the free
 * function of the same name in src/tensor/ops/, where the op's forward and gradient live together.
 */
import type { View } from '../backend/backend.js';
import { KilnError } from '../errors.js';
import { backward as runBackward, type GradNode } from './autograd.js';
import type { DType, StorageArray } from './dtype.js';
import { setTensorCheck, track } from './scope.js';
import { Storage } from './storage.js';
import * as ew from './ops/elementwise.js';
import * as sh from './ops/shape.js';
import * as rd from './ops/reduce.js';
import * as mm from './ops/matmul.js';
import * as nnops from './ops/nn.js';
import * as ix from './ops/indexing.js';
import * as cast from './ops/cast.js';

export type Scalar = number;
export type TensorOrScalar = Tensor | number;
/** A nested JS array of numbers (like Python lists). */
export type NestedArray = number | NestedArray[];

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
  private storage_: Storage | null;
  /** Whether gradients flow to this tensor (set on leaves by the user; on op outputs by autograd). */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after `backward()`. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, while its graph is alive. */
  node: GradNode | null = null;

  constructor(storage: Storage, shape: readonly number[], strides?: readonly number[], offset = 0) {
    this.storage_ = storage;
    this.shape = shape;
    this.strides = strides ?? contiguousStrides(shape);
    this.offset = offset;
    this.dtype = storage.dtype;
    this.size = numel(shape);
    storage.retain();
    track(this);
  }

  /** A new uninitialised contiguous tensor from the caching allocator. */
  static empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    for (const d of shape)
      if (!Number.isInteger(d) || d < 0) throw new KilnError('E_SHAPE', `invalid shape [${shape}]: dims must be non-negative integers`);
    return new Tensor(Storage.allocate(dtype, numel(shape)), shape.slice());
  }

  static zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const t = Tensor.empty(shape, dtype);
    const d = t.storage.data;
    if (d instanceof BigInt64Array) d.fill(0n);
    else d.fill(0);
    return t;
  }

  static ones(shape: readonly number[]): Tensor {
    const t = Tensor.empty(shape);
    (t.storage.data as Float32Array).fill(1);
    return t;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get storage(): Storage {
    if (!this.storage_) throw new KilnError('E_DISPOSED', `a tensor of shape [${this.shape}] was used after dispose()`);
    return this.storage_;
  }

  get isDisposed(): boolean {
    return this.storage_ === null;
  }

  /** The raw strided view of this tensor for kernels. */
  view_<A extends StorageArray = Float32Array>(): View<A> {
    return { data: this.storage.data as A, shape: this.shape, strides: this.strides, offset: this.offset };
  }

  /** Whether the elements are dense and row-major (views of a slice may still be contiguous). */
  get isContiguous(): boolean {
    let expected = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.strides[d] !== expected) return false;
      expected *= this.shape[d];
    }
    return true;
  }

  /** Frees this handle; the storage returns to the pool when its last view is disposed. Idempotent. */
  dispose(): void {
    if (!this.storage_) return;
    this.storage_.release();
    this.storage_ = null;
    this.node = null;
    this.grad?.dispose();
    this.grad = null;
  }

  /** A second handle on the same storage and layout (no copy), with no autograd history. */
  alias(): Tensor {
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  }

  /** Marks this (leaf) tensor as requiring grad. Returns this. */
  requiresGrad_(on = true): this {
    this.requiresGrad = on;
    return this;
  }

  /** The same data, cut from the autograd graph (shares storage). */
  detach(): Tensor {
    return this.alias();
  }

  backward(grad?: Tensor): void {
    runBackward(this, grad);
  }

  /** Contiguous data as a typed array: a copy when the tensor is a non-contiguous view, else a subarray. */
  data(): StorageArray {
    if (this.isContiguous) return this.storage.data.subarray(this.offset, this.offset + this.size);
    const c = this.contiguous();
    const out = c.storage.data.slice(0, this.size);
    c.dispose();
    return out;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new KilnError('E_SHAPE', `item(): tensor has ${this.size} elements, expected 1`);
    const v = this.storage.data[this.offset];
    return typeof v === 'bigint' ? Number(v) : cast.scalarToNumber(this.dtype, v);
  }

  /** Values as nested JS arrays (like PyTorch's tolist()). */
  toArray(): NestedArray {
    const f = this.dtype === 'f32' || this.dtype === 'i32' || this.dtype === 'u8' || this.dtype === 'bool' ? this : this.to('f32');
    const flat = Array.from(f.data() as ArrayLike<number>, Number);
    if (f !== this) f.dispose();
    if (this.ndim === 0) return flat[0];
    const build = (d: number, off: number): NestedArray[] => {
      const n = this.shape[d];
      if (d === this.ndim - 1) return flat.slice(off, off + n);
      const stride = numel(this.shape.slice(d + 1));
      return Array.from({ length: n }, (_, i) => build(d + 1, off + i * stride));
    };
    return build(0, 0);
  }

  toString(): string {
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ── dtype ──
  to(dtype: DType): Tensor { return cast.toDtype(this, dtype); }
  float(): Tensor { return cast.toDtype(this, 'f32'); }

  // ── views and layout ──
  contiguous(): Tensor { return sh.contiguous(this); }
  clone(): Tensor { return sh.clone(this); }
  reshape(...shape: (number | readonly number[])[]): Tensor { return sh.reshape(this, flatShape(shape)); }
  view(...shape: (number | readonly number[])[]): Tensor { return sh.view(this, flatShape(shape)); }
  flatten(startDim = 0, endDim = -1): Tensor { return sh.flatten(this, startDim, endDim); }
  permute(...dims: (number | readonly number[])[]): Tensor { return sh.permute(this, flatShape(dims)); }
  transpose(d0: number, d1: number): Tensor { return sh.transpose(this, d0, d1); }
  /** Transpose of the last two dims. */
  get mT(): Tensor { return sh.transpose(this, -2, -1); }
  slice(dim: number, start: number, end?: number, step = 1): Tensor { return sh.slice(this, dim, start, end, step); }
  narrow(dim: number, start: number, length: number): Tensor { return sh.slice(this, dim, start, start + length); }
  select(dim: number, index: number): Tensor { return sh.select(this, dim, index); }
  expand(...shape: (number | readonly number[])[]): Tensor { return sh.expand(this, flatShape(shape)); }
  squeeze(dim?: number): Tensor { return sh.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return sh.unsqueeze(this, dim); }
  split(sizeOrSections: number | readonly number[], dim = 0): Tensor[] { return sh.split(this, sizeOrSections, dim); }
  chunk(chunks: number, dim = 0): Tensor[] { return sh.chunk(this, chunks, dim); }
  pad(pads: readonly number[], value = 0): Tensor { return sh.pad(this, pads, value); }

  // ── elementwise ──
  add(b: TensorOrScalar): Tensor { return ew.add(this, b); }
  sub(b: TensorOrScalar): Tensor { return ew.sub(this, b); }
  mul(b: TensorOrScalar): Tensor { return ew.mul(this, b); }
  div(b: TensorOrScalar): Tensor { return ew.div(this, b); }
  pow(b: TensorOrScalar): Tensor { return ew.pow(this, b); }
  maximum(b: TensorOrScalar): Tensor { return ew.maximum(this, b); }
  minimum(b: TensorOrScalar): Tensor { return ew.minimum(this, b); }
  neg(): Tensor { return ew.neg(this); }
  exp(): Tensor { return ew.exp(this); }
  log(): Tensor { return ew.log(this); }
  sqrt(): Tensor { return ew.sqrt(this); }
  rsqrt(): Tensor { return ew.rsqrt(this); }
  abs(): Tensor { return ew.abs(this); }
  square(): Tensor { return ew.square(this); }
  sin(): Tensor { return ew.sin(this); }
  cos(): Tensor { return ew.cos(this); }
  tanh(): Tensor { return ew.tanh(this); }
  sigmoid(): Tensor { return ew.sigmoid(this); }
  silu(): Tensor { return ew.silu(this); }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor { return ew.gelu(this, approximate); }
  relu(): Tensor { return ew.relu(this); }
  clamp(min?: number, max?: number): Tensor { return ew.clamp(this, min, max); }
  eq(b: TensorOrScalar): Tensor { return ew.eq(this, b); }
  ne(b: TensorOrScalar): Tensor { return ew.ne(this, b); }
  lt(b: TensorOrScalar): Tensor { return ew.lt(this, b); }
  le(b: TensorOrScalar): Tensor { return ew.le(this, b); }
  gt(b: TensorOrScalar): Tensor { return ew.gt(this, b); }
  ge(b: TensorOrScalar): Tensor { return ew.ge(this, b); }
  maskedFill(mask: Tensor, value: number): Tensor { return ew.maskedFill(this, mask, value); }

  // ── reductions ──
  sum(dim?: number | readonly number[], keepdim = false): Tensor { return rd.sum(this, dim, keepdim); }
  mean(dim?: number | readonly number[], keepdim = false): Tensor { return rd.mean(this, dim, keepdim); }
  amax(dim?: number | readonly number[], keepdim = false): Tensor { return rd.amax(this, dim, keepdim); }
  amin(dim?: number | readonly number[], keepdim = false): Tensor { return rd.amin(this, dim, keepdim); }
  max(dim: number, keepdim = false): { values: Tensor; indices: Tensor } { return rd.max(this, dim, keepdim); }
  min(dim: number, keepdim = false): { values: Tensor; indices: Tensor } { return rd.min(this, dim, keepdim); }
  argmax(dim?: number, keepdim = false): Tensor { return rd.argmax(this, dim, keepdim); }
  argmin(dim?: number, keepdim = false): Tensor { return rd.argmin(this, dim, keepdim); }
  var(dim?: number | readonly number[], keepdim = false, correction = 1): Tensor { return rd.variance(this, dim, keepdim, correction); }

  // ── linear algebra and nn ──
  matmul(b: Tensor): Tensor { return mm.matmul(this, b); }
  softmax(dim = -1): Tensor { return nnops.softmax(this, dim); }
  logSoftmax(dim = -1): Tensor { return nnops.logSoftmax(this, dim); }

  // ── indexing ──
  gather(dim: number, index: Tensor): Tensor { return ix.gather(this, dim, index); }
  indexSelect(dim: number, index: Tensor): Tensor { return ix.indexSelect(this, dim, index); }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } { return ix.topk(this, k, dim, largest); }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } { return ix.sort(this, dim, descending); }
}

function flatShape(args: readonly (number | readonly number[])[]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? (args[0] as number[]).slice() : (args as number[]);
}

setTensorCheck((v): v is Tensor => v instanceof Tensor);
