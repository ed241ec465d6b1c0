/**
 * The caching allocator. Every tensor's storage is a typed array over a SharedArrayBuffer (so worker-thread ranks
 * can share it without copies). Freed buffers go back to a pool keyed by size class and are handed out again, so a
 * training loop that allocates the same shapes every step reaches a steady state and holds RSS flat.
 *
 * Size classes: exact below 4 KiB rounded to 64 B; above, four classes per power of two (≤ 25% slack).
 * Buffers handed out are NOT zeroed; callers that need zeros fill them.
 */
import { DTYPE_BYTES, typedArray, type DType, type StorageArray } from './dtype.js';

function sizeClass(bytes: number): number {
  if (bytes <= 4096) return Math.max(64, Math.ceil(bytes / 64) * 64);
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

export class CachingAllocator {
  private readonly pool = new Map<number, SharedArrayBuffer[]>();
  private cachedBytes = 0;
  /** Bytes handed out and not yet released. */
  liveBytes = 0;
  /** Largest number of live bytes seen. */
  peakBytes = 0;

  constructor(private readonly maxCachedBytes = 2 ** 31) {}

  allocate(dtype: DType, length: number): StorageArray {
    const bytes = sizeClass(length * DTYPE_BYTES[dtype]);
    const list = this.pool.get(bytes);
    let buf = list?.pop();
    if (buf) this.cachedBytes -= bytes;
    else buf = new SharedArrayBuffer(bytes);
    this.liveBytes += bytes;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    return typedArray(dtype, buf, 0, length);
  }

  /** Returns a buffer obtained from allocate() to the pool. */
  release(arr: StorageArray): void {
    const buf = arr.buffer;
    if (!(buf instanceof SharedArrayBuffer)) return;
    const bytes = buf.byteLength;
    this.liveBytes -= bytes;
    if (this.cachedBytes + bytes > this.maxCachedBytes) return; // let the GC take it
    let list = this.pool.get(bytes);
    if (!list) this.pool.set(bytes, (list = []));
    list.push(buf);
    this.cachedBytes += bytes;
  }

  /** Drops every cached buffer (live ones are untouched). */
  emptyCache(): void {
    this.pool.clear();
    this.cachedBytes = 0;
  }

  stats(): { liveBytes: number; peakBytes: number; cachedBytes: number } {
    return { liveBytes: this.liveBytes, peakBytes: this.peakBytes, cachedBytes: this.cachedBytes };
  }
}

export const allocator = new CachingAllocator();
