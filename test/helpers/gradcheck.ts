/**
 * Finite-difference gradient checking. `gradcheck(fn, inputs)` builds L = Σ fn(inputs) ∘ W for a fixed random W,
 * takes the analytic gradient with backward(), and compares every input element (or a seeded sample of at most
 * `maxPerInput`) with the central difference (L(x+ε) − L(x−ε)) / 2ε evaluated under noGrad in f64.
 */
import assert from 'node:assert/strict';
import { Generator, Tensor, noGrad, randn, tidy } from '../../src/index.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  maxPerInput?: number;
  seed?: number;
}

function lossOf(out: Tensor, w: Float32Array): number {
  const d = out.data() as Float32Array;
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i] * w[i];
  return s;
}

export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): void {
  const { eps = 1e-2, atol = 1e-2, rtol = 1e-2, maxPerInput = 48, seed = 7 } = opts;
  const gen = new Generator(seed);
  tidy(() => {
    for (const x of inputs) {
      x.requiresGrad = true;
      x.grad?.dispose();
      x.grad = null;
    }
    const out = fn(...inputs);
    const w = randn(out.shape, { generator: gen });
    out.mul(w).sum().backward();
    const wd = w.data() as Float32Array;
    inputs.forEach((x, xi) => {
      assert.ok(x.isContiguous, 'gradcheck inputs must be contiguous');
      assert.ok(x.grad, `input ${xi} got no gradient`);
      const g = x.grad!.data() as Float32Array;
      const data = x.storage.data as Float32Array;
      const n = x.size;
      const picks = n <= maxPerInput ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: maxPerInput }, () => Math.floor(gen.uniform() * n));
      for (const i of picks) {
        const j = x.offset + i;
        const orig = data[j];
        const f = (v: number) => {
          data[j] = v;
          return noGrad(() => tidy(() => lossOf(fn(...inputs), wd)));
        };
        const num = (f(orig + eps) - f(orig - eps)) / (2 * eps);
        data[j] = orig;
        const ana = g[i];
        assert.ok(
          Math.abs(ana - num) <= atol + rtol * Math.abs(num),
          `input ${xi} [${x.shape}] element ${i}: analytic ${ana} vs numeric ${num}`,
        );
      }
    });
  });
}
