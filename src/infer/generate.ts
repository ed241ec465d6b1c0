/**
 * Autoregressive sampling for small language models (full recompute each step; KV-cached decoding belongs to the
 * model families that need it). Temperature and top-k, seeded.
 */
import { noGrad } from '../tensor/autograd.js';
import { fromArray } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

export interface SampleOptions {
  maxNewTokens: number;
  temperature?: number;
  topK?: number;
  /** The model's context length; older tokens are dropped. */
  contextLength: number;
  seed?: number;
}

/** Continues `prompt` with up to maxNewTokens tokens drawn from `forward(ids [1, T]) → logits [1, T, V]`. */
export function sample(forward: (ids: Tensor) => Tensor, prompt: Int32Array, o: SampleOptions): Int32Array {
  const gen = new Generator(o.seed ?? 0);
  const out = Array.from(prompt);
  const temperature = o.temperature ?? 0.8;
  for (let i = 0; i < o.maxNewTokens; i++) {
    const ctx = Int32Array.from(out.slice(-o.contextLength));
    const next = noGrad(() =>
      tidy(() => {
        const logits = forward(fromArray(ctx, [1, ctx.length])); // [1, T, V]
        const last = logits.select(1, ctx.length - 1).reshape([-1]); // [V]
        const v = Array.from(last.data() as Float32Array);
        if (temperature <= 0) return v.indexOf(Math.max(...v));
        let cand = v.map((x, j) => [x / temperature, j] as [number, number]);
        if (o.topK) cand = cand.sort((a, b) => b[0] - a[0]).slice(0, o.topK);
        const m = Math.max(...cand.map((c) => c[0]));
        const w = cand.map((c) => Math.exp(c[0] - m));
        let u = gen.uniform() * w.reduce((a, b) => a + b, 0);
        for (let j = 0; j < w.length; j++) if ((u -= w[j]) <= 0) return cand[j][1];
        return cand[cand.length - 1][1];
      }),
    );
    out.push(next);
  }
  return Int32Array.from(out.slice(prompt.length));
}
