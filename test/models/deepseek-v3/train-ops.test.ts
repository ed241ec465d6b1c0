/**
 * The fused DeepSeek-V3 training ops (src/models/deepseek-v3/train-ops.ts): `headCrossEntropy` equals
 * crossEntropy(h·Wᵀ) in value and in both gradients (ignored rows included) and passes a finite-difference check;
 * `gatherRows` / `combineRows` equal the indexSelect / gate-multiply / indexAdd composition they replace and pass
 * finite-difference checks; the model's `loss` (fused head) equals the unfused formula over `forward`'s logits in
 * every part and in the parameter gradients.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../../src/tensor/index.js';
import { DeepseekV3ForCausalLM } from '../../../src/models/deepseek-v3/model.js';
import { combineRows, gatherRows, headCrossEntropy } from '../../../src/models/deepseek-v3/train-ops.js';
import { fromArray, zeros } from '../../../src/tensor/creation.js';
import { indexAdd } from '../../../src/tensor/ops/indexing.js';
import { crossEntropy } from '../../../src/tensor/ops/nn.js';
import { Generator } from '../../../src/tensor/random.js';
import { tidy } from '../../../src/tensor/scope.js';
import type { Tensor } from '../../../src/tensor/tensor.js';
import { gradcheck } from '../../helpers/gradcheck.js';

const rand = (gen: Generator, shape: number[], scale = 1): Tensor =>
  fromArray(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (gen.uniform() * 2 - 1) * scale), shape);

function maxRel(a: Tensor | Float32Array, b: Tensor | Float32Array): number {
  const x = a instanceof Float32Array ? a : (a.data() as Float32Array);
  const y = b instanceof Float32Array ? b : (b.data() as Float32Array);
  assert.equal(x.length, y.length);
  let m = 0;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    m = Math.max(m, Math.abs(x[i] - y[i]));
    s = Math.max(s, Math.abs(y[i]));
  }
  return m / Math.max(s, 1e-30);
}

function permutation(gen: Generator, n: number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(gen.uniform() * (i + 1)));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

test('headCrossEntropy equals crossEntropy(h·Wᵀ): loss and both gradients, with ignored rows', () => {
  tidy(() => {
    const gen = new Generator(1);
    const [N, d, V] = [37, 19, 301];
    const targets = Int32Array.from({ length: N }, () => Math.floor(gen.uniform() * V));
    targets[5] = -100;
    targets[11] = -100;
    const h = rand(gen, [N, d], 2);
    const w = rand(gen, [V, d], 0.7);
    const run = (fused: boolean) => {
      h.grad = null;
      w.grad = null;
      h.requiresGrad = true;
      w.requiresGrad = true;
      const loss = fused ? headCrossEntropy(h, w, targets) : crossEntropy(h.matmul(w.mT), fromArray(targets, [N], { dtype: 'i32' }));
      loss.mul(1.7).backward();
      return { loss: loss.item(), dh: h.grad!.contiguous(), dw: w.grad!.contiguous() };
    };
    const a = run(true);
    const b = run(false);
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * Math.abs(b.loss), `loss ${a.loss} vs ${b.loss}`);
    assert.ok(maxRel(a.dh, b.dh) < 1e-5, `dh rel ${maxRel(a.dh, b.dh)}`);
    assert.ok(maxRel(a.dw, b.dw) < 1e-5, `dw rel ${maxRel(a.dw, b.dw)}`);
    // ignored rows get no gradient
    const dh = a.dh.data() as Float32Array;
    for (let j = 0; j < d; j++) assert.equal(dh[5 * d + j], 0);
  });
});

test('headCrossEntropy: finite-difference gradients of h and W', () => {
  const gen = new Generator(2);
  const targets = Int32Array.of(3, 0, 6, 2, 6);
  gradcheck((h, w) => headCrossEntropy(h, w, targets), [rand(gen, [5, 4], 1.5), rand(gen, [7, 4], 1.5)], { eps: 1e-2, rtol: 2e-2, atol: 2e-3 });
});

test('gatherRows / combineRows equal indexSelect / gate multiply / indexAdd, and pass finite differences', () => {
  tidy(() => {
    const gen = new Generator(4);
    const [N, K, d] = [11, 3, 9];
    const R = N * K;
    const pos = permutation(gen, R);
    const tok = new Int32Array(R);
    for (let i = 0; i < R; i++) tok[pos[i]] = Math.floor(i / K);
    const x = rand(gen, [N, d]);
    const gates = rand(gen, [N, K]);
    const dy = rand(gen, [N, d]);
    const run = (fused: boolean) => {
      x.grad = null;
      gates.grad = null;
      x.requiresGrad = true;
      gates.requiresGrad = true;
      const tokT = fromArray(tok, [R], { dtype: 'i32' });
      const xs = fused ? gatherRows(x, pos, K) : x.indexSelect(0, tokT);
      const ys = xs.mul(xs).add(xs); // any per-row function of the gathered rows
      let y: Tensor;
      if (fused) y = combineRows(ys, gates, pos);
      else {
        const order = new Int32Array(R);
        for (let i = 0; i < R; i++) order[pos[i]] = i;
        const g = gates.reshape(R).indexSelect(0, fromArray(order, [R], { dtype: 'i32' }));
        y = indexAdd(zeros([N, d]), 0, tokT, ys.mul(g.unsqueeze(1)));
      }
      y.mul(dy).sum().backward();
      return { y: y.contiguous(), dx: x.grad!.contiguous(), dg: gates.grad!.contiguous() };
    };
    const a = run(true);
    const b = run(false);
    assert.ok(maxRel(a.y, b.y) < 1e-6, 'y');
    assert.ok(maxRel(a.dx, b.dx) < 1e-5, `dx ${maxRel(a.dx, b.dx)}`);
    assert.ok(maxRel(a.dg, b.dg) < 1e-5, `dgates ${maxRel(a.dg, b.dg)}`);
  });
  const gen = new Generator(5);
  const pos = permutation(gen, 8);
  gradcheck((x) => gatherRows(x, pos, 2), [rand(gen, [4, 3])]);
  gradcheck((ys, g) => combineRows(ys, g, pos), [rand(gen, [8, 3]), rand(gen, [4, 2])]);
});

test('model.loss (fused head CE) equals the unfused formula over forward(): every part and the gradients', () => {
  const model = new DeepseekV3ForCausalLM('deepseek-v3-micro', { generator: new Generator(9) });
  model.train();
  const gen = new Generator(10);
  const [B, T] = [2, 9];
  const V = model.config.vocab_size;
  const idsA = Int32Array.from({ length: B * T }, () => Math.floor(gen.uniform() * V));
  const tgtA = Int32Array.from({ length: B * T }, () => Math.floor(gen.uniform() * V));
  const params = model.parameters();
  const run = (fused: boolean) =>
    tidy(() => {
      for (const p of params) p.grad = null;
      const ids = fromArray(idsA, [B, T], { dtype: 'i32' });
      const targets = fromArray(tgtA, [B, T], { dtype: 'i32' });
      let main: Tensor;
      let mtp: Tensor;
      let loss: Tensor;
      if (fused) ({ loss, main, mtp: mtp! } = model.loss(ids, targets, { mtpWeight: 0.3, balanceAlpha: 1e-2 }) as { loss: Tensor; main: Tensor; mtp: Tensor });
      else {
        const out = model.forward(ids, { balance: true });
        main = crossEntropy(out.logits.reshape(-1, V), targets.reshape(-1));
        mtp = crossEntropy(out.mtpLogits[0].reshape(-1, V), targets.slice(1, 1, T).contiguous().reshape(-1));
        loss = main.add(mtp.mul(0.3)).add(out.balanceLoss!.mul(1e-2));
      }
      loss.backward();
      return { loss: loss.item(), main: main.item(), mtp: mtp.item(), grads: params.map((p) => Float32Array.from(p.grad ? (p.grad.data() as Float32Array) : [])) };
    });
  const a = run(true);
  const b = run(false);
  for (const k of ['loss', 'main', 'mtp'] as const) assert.ok(Math.abs(a[k] - b[k]) <= 1e-5 * Math.abs(b[k]), `${k}: ${a[k]} vs ${b[k]}`);
  a.grads.forEach((g, i) => {
    assert.equal(g.length, b.grads[i].length, `param ${i} has a gradient in one path only`);
    if (g.length) assert.ok(maxRel(g, b.grads[i]) < 1e-4, `param ${i}: rel ${maxRel(g, b.grads[i])}`);
  });
  model.dispose();
});
