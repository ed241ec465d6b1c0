/**
 * Storage: a typed array (normally over a SharedArrayBuffer from the caching allocator) shared by every view of it,
 * reference-counted so the buffer returns to the pool when the last view is disposed.
 */
import { allocator } from './allocator.js';
import type { DType, StorageArray } from './dtype.js';

export class Storage {
  refs = 0;
  constructor(
    public data: StorageArray,
    readonly dtype: DType,
    /** Whether `data` came from the caching allocator (and so goes back to it). */
    readonly pooled: boolean,
  ) {}

  static allocate(dtype: DType, length: number): Storage {
    return new Storage(allocator.allocate(dtype, length), dtype, true);
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0 && this.pooled) allocator.release(this.data);
  }
}
