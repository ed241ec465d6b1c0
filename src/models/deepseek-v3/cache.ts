/**
 * The latent KV cache of absorbed MLA: per layer one buffer [B, capacity, r + p] holding the normed compressed latent
 * c (kv_lora_rank numbers) and the rotated shared RoPE key kᴿ (qk_rope_head_dim numbers) of every past token —
 * 576 numbers per token per layer at full size instead of H·(n + p + v) = 40,960 for multi-head K/V. Inference
 * only (no gradients flow through the cache). Capacity grows by doubling.
 */
import { KilnError } from '../../errors.js';
import { cat } from '../../tensor/ops/shape.js';
import { keep } from '../../tensor/scope.js';
import { Tensor } from '../../tensor/tensor.js';
import { noGrad } from '../../tensor/autograd.js';

export class LatentCacheLayer {
  private buf: Tensor | null = null;
  length = 0;
  constructor(readonly batch: number, readonly width: number) {}

  /** Appends c [B, T, r] and kᴿ [B, T, p]; returns every cached row [B, length, r + p] (a view). */
  append(c: Tensor, kPe: Tensor): Tensor {
    const [B, T] = c.shape;
    if (B !== this.batch || c.shape[2] + kPe.shape[2] !== this.width)
      throw new KilnError('E_SHAPE', `latent cache: got c [${c.shape}] + k_pe [${kPe.shape}], expected [${this.batch}, T, ${this.width}] in all`);
    noGrad(() => {
      this.grow(T);
      const joined = cat([c, kPe], -1); // [B, T, w]
      const rows = joined.data() as Float32Array;
      const cap2 = this.buf!.shape[1];
      const d = this.buf!.storage.data as Float32Array;
      for (let b = 0; b < B; b++) d.set(rows.subarray(b * T * this.width, (b + 1) * T * this.width), (b * cap2 + this.length) * this.width);
      joined.dispose();
    });
    this.length += T;
    return this.buf!.slice(1, 0, this.length);
  }

  /** Makes room for T more positions (capacity doubles, at least 16). */
  private grow(T: number): void {
    const B = this.batch;
    const cap = this.buf ? this.buf.shape[1] : 0;
    if (this.length + T <= cap) return;
    let n = Math.max(16, cap);
    while (n < this.length + T) n *= 2;
    const next = keep(noGrad(() => Tensor.zeros([B, n, this.width])));
    if (this.buf) {
      const nd = next.storage.data as Float32Array;
      const od = this.buf.storage.data as Float32Array;
      for (let b = 0; b < B; b++) nd.set(od.subarray(b * cap * this.width, (b * cap + this.length) * this.width), b * n * this.width);
      this.buf.dispose();
    }
    this.buf = next;
  }

  /**
   * For kernels that write the cache themselves (batch 1): room for T more positions; returns the buffer's rows
   * [capacity, width] (row i = position i). Call `commit(T)` after writing rows length … length + T − 1.
   */
  reserveRows(T: number): Float32Array {
    if (this.batch !== 1) throw new KilnError('E_SHAPE', `latent cache: reserveRows needs batch 1, this cache holds ${this.batch} sequences`);
    this.grow(T);
    const buf = this.buf!;
    return (buf.storage.data as Float32Array).subarray(buf.offset, buf.offset + buf.size);
  }

  /** Counts T positions written through `reserveRows`. */
  commit(T: number): void {
    this.length += T;
  }

  dispose(): void {
    this.buf?.dispose();
    this.buf = null;
    this.length = 0;
  }
}

/** One cache layer per attention layer of the main model. */
export class LatentCache {
  readonly layers: LatentCacheLayer[];
  constructor(numLayers: number, batch: number, width: number) {
    this.layers = Array.from({ length: numLayers }, () => new LatentCacheLayer(batch, width));
  }
  /** Tokens cached so far (the position of the next token). */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }
  /** Numbers held per token across all layers. */
  get numbersPerToken(): number {
    return this.layers.reduce((n, l) => n + l.width, 0);
  }
  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
}
