/**
 * `expertsForward` (all routed experts of a DeepSeekMoE block in one recorded op, src/models/deepseek-v3/moe.ts)
 * equals running each expert's SwiGLU module on its slice of the grouped rows: outputs, the input gradient and every
 * expert weight gradient (null for experts without rows), including an expert with no rows and one with one row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/tensor/index.js';
import { SwiGLU } from '../../../src/nn/layers.js';
import { expertsForward } from '../../../src/models/deepseek-v3/moe.js';
import { fromArray } from '../../../src/tensor/creation.js';
import { cat } from '../../../src/tensor/ops/shape.js';
import { Generator } from '../../../src/tensor/random.js';
import type { Tensor } from '../../../src/tensor/tensor.js';

const maxDiff = (a: Tensor, b: Tensor) => {
  const x = a.data() as Float32Array;
  const y = b.data() as Float32Array;
  assert.equal(x.length, y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
};

test('expertsForward equals per-expert SwiGLU on slices: outputs and gradients', () => {
  const gen = new Generator(3);
  const d = 13;
  const I = 7;
  const experts = Array.from({ length: 5 }, () => new SwiGLU(d, I, { std: 0.3, generator: gen }));
  const counts = Int32Array.of(3, 0, 1, 6, 2);
  const R = 12;
  const data = Float32Array.from({ length: R * d }, () => gen.uniform() * 2 - 1);
  const dy = fromArray(Float32Array.from({ length: R * d }, () => gen.uniform() * 2 - 1), [R, d]);
  const params = experts.flatMap((e) => [e.gate_proj.weight, e.up_proj.weight, e.down_proj.weight]);
  const run = (fused: boolean) => {
    for (const p of params) p.grad = null;
    const xs = fromArray(data, [R, d]);
    xs.requiresGrad = true;
    let y: Tensor;
    if (fused) y = expertsForward(xs, counts, experts);
    else {
      const outs: Tensor[] = [];
      let s = 0;
      counts.forEach((c, e) => {
        if (c > 0) outs.push(experts[e].forward(xs.slice(0, s, s + c)));
        s += c;
      });
      y = cat(outs, 0);
    }
    y.mul(dy).sum().backward();
    return { y, dx: xs.grad!, dw: params.map((p) => p.grad) };
  };
  const a = run(true);
  const b = run(false);
  assert.ok(maxDiff(a.y, b.y) < 1e-6, `y: ${maxDiff(a.y, b.y)}`);
  assert.ok(maxDiff(a.dx, b.dx) < 1e-6, `dx: ${maxDiff(a.dx, b.dx)}`);
  a.dw.forEach((g, i) => {
    const e = Math.floor(i / 3);
    if (counts[e] === 0) assert.equal(g, null, `expert ${e} has no rows: no gradient`);
    else assert.ok(maxDiff(g!, b.dw[i]!) < 1e-6, `param ${i}: ${maxDiff(g!, b.dw[i]!)}`);
  });
});
