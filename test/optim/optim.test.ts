/** Optimizers against PyTorch trajectories, schedules, clipping, gradient accumulation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as k from '../../src/index.js';

interface Ref {
  w0: number[];
  grads: number[][];
  cases: Record<string, { lr: number; final: number[]; [k: string]: unknown }>;
}
const ref = JSON.parse(readFileSync(new URL('../../../test/fixtures/optim/reference.json', import.meta.url), 'utf8')) as Ref;

function trajectory(make: (p: k.Tensor[]) => k.optim.Optimizer): number[] {
  const w = k.nn.parameter(k.tensor(ref.w0));
  const opt = make([w]);
  for (const g of ref.grads) {
    opt.zeroGrad();
    w.grad = k.keep(k.tensor(g));
    opt.step();
  }
  return Array.from(w.data() as Float32Array);
}

function assertClose(a: number[], b: number[], tol: number): void {
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) <= tol * (1 + Math.abs(b[i])), `element ${i}: ${x} vs torch ${b[i]}`));
}

test('AdamW matches torch.optim.AdamW', () => {
  const c = ref.cases.adamw;
  assertClose(trajectory((p) => new k.optim.AdamW(p, { lr: c.lr, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 })), c.final, 1e-6);
});

test('AdamW with bf16 moments stays close to f32 moments', () => {
  const c = ref.cases.adamw;
  const bf = trajectory((p) => new k.optim.AdamW(p, { lr: c.lr, betas: [0.9, 0.95], weightDecay: 0.1, momentsDtype: 'bf16' }));
  assertClose(bf, c.final, 2e-3);
});

test('SGD with momentum and Nesterov matches torch.optim.SGD', () => {
  const m = ref.cases.sgd_momentum;
  assertClose(trajectory((p) => new k.optim.SGD(p, { lr: m.lr, momentum: 0.9, weightDecay: 0.01 })), m.final, 1e-6);
  const n = ref.cases.sgd_nesterov;
  assertClose(trajectory((p) => new k.optim.SGD(p, { lr: n.lr, momentum: 0.9, nesterov: true })), n.final, 1e-6);
});

test('schedules: warmup, cosine, linear decay, piecewise, DeepSeek-V3 shape', () => {
  const { linearWarmup, cosine, linearDecay, constant, piecewise, deepseekV3Schedule } = k.optim;
  const w = linearWarmup(1, 4, cosine(1, 0.1, 10));
  assert.deepEqual([0, 1, 2, 3].map(w), [0.25, 0.5, 0.75, 1]);
  assert.equal(w(4), 1);
  assert.ok(Math.abs(w(9) - 0.55) < 1e-12); // halfway through the cosine
  assert.equal(w(100), 0.1);
  assert.equal(linearDecay(2, 4)(2), 1);
  const p = piecewise([{ steps: 2, schedule: constant(5) }, { steps: 3, schedule: (s) => s }]);
  assert.deepEqual([0, 1, 2, 3, 4, 9].map(p), [5, 5, 0, 1, 2, 7]);
  const ds = deepseekV3Schedule({ peak: 2.2e-4, warmup: 2000, constantSteps: 10000, decaySteps: 5000 });
  assert.ok(Math.abs(ds(999) - 1.1e-4) < 1e-12);
  assert.equal(ds(5000), 2.2e-4);
  assert.ok(Math.abs(ds(12000 + 2500) - (2.2e-5 + 0.5 * (2.2e-4 - 2.2e-5))) < 1e-12);
  assert.ok(Math.abs(ds(1e6) - 2.2e-5) < 1e-15);
});

test('clipGradNorm scales to the max norm and returns the norm before clipping', () => {
  const a = k.nn.parameter(k.zeros([2]));
  const b = k.nn.parameter(k.zeros([1]));
  a.grad = k.keep(k.tensor([3, 0]));
  b.grad = k.keep(k.tensor([4]));
  const n = k.optim.clipGradNorm([a, b], 1);
  assert.ok(Math.abs(n - 5) < 1e-6);
  assert.ok(Math.abs((a.grad.data() as Float32Array)[0] - 0.6) < 1e-5);
  assert.ok(Math.abs((b.grad.data() as Float32Array)[0] - 0.8) < 1e-5);
  assert.ok(Math.abs(k.optim.clipGradNorm([a, b], 10) - 1) < 1e-4); // under the limit: unchanged
});

test('gradient accumulation: two half-batches equal one full batch', () => {
  const gen = new k.Generator(5);
  const x = k.randn([8, 6], { generator: gen });
  const y = k.fromArray(Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1]), [8]);
  const make = () => new k.nn.Linear(6, 3, { generator: new k.Generator(9) });
  const full = make();
  k.crossEntropy(full.forward(x), y).backward();
  const acc = make();
  for (const [s, e] of [[0, 4], [4, 8]]) k.crossEntropy(acc.forward(x.slice(0, s, e)), y.slice(0, s, e)).div(2).backward();
  assertClose(Array.from(acc.weight.grad!.data() as Float32Array), Array.from(full.weight.grad!.data() as Float32Array), 1e-5);
});
