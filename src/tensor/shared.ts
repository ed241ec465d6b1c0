/**
 * Zero-copy tensor sharing between worker threads. Storage lives in SharedArrayBuffers, so a tensor crosses
 * `postMessage` as a small descriptor and both sides see the same memory (ranks of parallel training and
 * inference run as worker threads on one machine).
 */
import { KilnError } from '../errors.js';
import { DTYPE_BYTES, typedArray, type DType } from './dtype.js';
import { Storage } from './storage.js';
import { Tensor } from './tensor.js';

/** A structured-clone-safe description of a tensor over shared memory. */
export interface SharedTensor {
  buffer: SharedArrayBuffer;
  /** Byte offset of the storage's first element in `buffer`. */
  byteOffset: number;
  /** Elements in the storage. */
  length: number;
  dtype: DType;
  shape: number[];
  strides: number[];
  offset: number;
}

export function shareTensor(t: Tensor): SharedTensor {
  const d = t.storage.data;
  if (!(d.buffer instanceof SharedArrayBuffer))
    throw new KilnError('E_ARG', `shareTensor: tensor [${t.shape}] is backed by an ordinary ArrayBuffer (wrapped user memory); clone() it first to move it to shared memory`);
  return { buffer: d.buffer, byteOffset: d.byteOffset, length: d.length, dtype: t.dtype, shape: t.shape.slice(), strides: t.strides.slice(), offset: t.offset };
}

/** The tensor a SharedTensor describes, over the same memory (no copy). */
export function fromShared(s: SharedTensor): Tensor {
  if (!(s.buffer instanceof SharedArrayBuffer) || s.byteOffset + s.length * DTYPE_BYTES[s.dtype] > s.buffer.byteLength)
    throw new KilnError('E_ARG', 'fromShared: the descriptor does not fit its SharedArrayBuffer');
  const data = typedArray(s.dtype, s.buffer, s.byteOffset, s.length);
  return new Tensor(new Storage(data, s.dtype, false), s.shape, s.strides, s.offset);
}
