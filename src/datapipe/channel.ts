/**
 * A bounded async FIFO channel: `push` waits while the channel is full (that wait is the backpressure that keeps
 * memory bounded), `pull` waits while it is empty and returns undefined once closed and drained.
 */
import { KilnError } from '../errors.js';

export class BoundedChannel<T> {
  private readonly buf: T[] = [];
  private readonly pullers: Array<(v: T | undefined) => void> = [];
  private readonly pushers: Array<() => void> = [];
  private closed = false;
  /** Highest number of queued items ever seen (for the report). */
  maxDepth = 0;

  constructor(readonly capacity: number) {}

  get depth(): number {
    return this.buf.length;
  }

  async push(v: T): Promise<void> {
    if (this.closed) throw new KilnError('E_DATAPIPE', 'push on a closed channel (the run is aborting)');
    const p = this.pullers.shift();
    if (p) return p(v);
    while (this.buf.length >= this.capacity) {
      await new Promise<void>((r) => this.pushers.push(r));
      if (this.closed) throw new KilnError('E_DATAPIPE', 'channel closed while waiting to push (the run is aborting)');
    }
    this.buf.push(v);
    if (this.buf.length > this.maxDepth) this.maxDepth = this.buf.length;
  }

  async pull(): Promise<T | undefined> {
    if (this.buf.length > 0) {
      const v = this.buf.shift()!;
      this.pushers.shift()?.();
      return v;
    }
    if (this.closed) return undefined;
    return new Promise<T | undefined>((r) => this.pullers.push(r));
  }

  close(): void {
    this.closed = true;
    for (const p of this.pullers.splice(0)) p(undefined);
    for (const p of this.pushers.splice(0)) p();
  }
}

/** Counting semaphore over fractional amounts (CPU cores, accelerator slots, MiB). */
export class ResourcePool {
  private used = 0;
  private readonly waiters: Array<{ n: number; go: () => void }> = [];
  constructor(readonly total: number) {}
  async acquire(n: number): Promise<void> {
    const need = Math.min(n, this.total); // a task bigger than the pool runs alone
    if (this.used + need <= this.total + 1e-9 && this.waiters.length === 0) {
      this.used += need;
      return;
    }
    await new Promise<void>((go) => this.waiters.push({ n: need, go }));
  }
  release(n: number): void {
    this.used -= Math.min(n, this.total);
    while (this.waiters.length > 0 && this.used + this.waiters[0].n <= this.total + 1e-9) {
      const w = this.waiters.shift()!;
      this.used += w.n;
      w.go();
    }
  }
}
