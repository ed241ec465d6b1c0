/** Modules: parameter naming, state dicts with clear errors, layers against hand computations, train/eval. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../src/index.js';

class Block extends k.nn.Module {
  norm = new k.nn.RMSNorm(4);
  mlp = new k.nn.SwiGLU(4, 8);
  layers = [new k.nn.Linear(4, 4), new k.nn.Linear(4, 2, { bias: false })];
  forward(x: k.Tensor) {
    return this.layers[1].forward(this.layers[0].forward(this.mlp.forward(this.norm.forward(x))));
  }
}

test('parameters are named by field path, like Hugging Face checkpoints', () => {
  const m = new Block();
  assert.deepEqual(m.namedParameters().map(([n, p]) => `${n}:${p.shape}`), [
    'norm.weight:4', 'mlp.gate_proj.weight:8,4', 'mlp.up_proj.weight:8,4', 'mlp.down_proj.weight:4,8',
    'layers.0.weight:4,4', 'layers.0.bias:4', 'layers.1.weight:2,4',
  ]);
  assert.equal(m.numParameters(), 4 + 32 * 3 + 20 + 8);
});

test('stateDict / loadStateDict round trip, and errors name the tensor', () => {
  const a = new Block();
  const b = new Block();
  b.loadStateDict(a.stateDict());
  const x = k.randn([3, 4]);
  assert.deepEqual(b.forward(x).toArray(), a.forward(x).toArray());
  const sd = a.stateDict();
  sd.delete('layers.0.bias');
  assert.throws(() => b.loadStateDict(sd), (e: k.KilnError) => e.code === 'E_CHECKPOINT' && /missing tensors: layers\.0\.bias/.test(e.message));
  const bad = a.stateDict();
  bad.set('norm.weight', k.zeros([5]));
  assert.throws(() => b.loadStateDict(bad), (e: k.KilnError) => /'norm\.weight' has shape \[5\] but the model expects \[4\]/.test(e.message));
  const extra = a.stateDict();
  extra.set('head.weight', k.zeros([1]));
  assert.throws(() => b.loadStateDict(extra), /unexpected tensors: head\.weight/);
  assert.deepEqual(b.loadStateDict(extra, { strict: false }).unexpected, ['head.weight']);
});

test('Linear, Embedding, LayerNorm compute what they should', () => {
  const lin = new k.nn.Linear(3, 2);
  const x = k.tensor([[1, 2, 3]]);
  const w = lin.weight.toArray() as number[][];
  const b = lin.bias!.toArray() as number[];
  const want = w.map((row, i) => row[0] + 2 * row[1] + 3 * row[2] + b[i]);
  (lin.forward(x).toArray() as number[][])[0].forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5));
  const bound = 1 / Math.sqrt(3);
  assert.ok((lin.weight.data() as Float32Array).every((v) => Math.abs(v) <= bound));
  const emb = new k.nn.Embedding(10, 4);
  const ids = k.fromArray(Int32Array.from([7, 7, 2]), [3]);
  const e = emb.forward(ids).toArray() as number[][];
  assert.deepEqual(e[0], e[1]);
  assert.deepEqual(e[2], (emb.weight.toArray() as number[][])[2]);
  const ln = new k.nn.LayerNorm(4);
  const y = ln.forward(k.tensor([[1, 2, 3, 4]])).data() as Float32Array;
  assert.ok(Math.abs(y.reduce((s, v) => s + v, 0)) < 1e-5);
});

test('Dropout follows train/eval; Conv2d keeps the torch weight layout', () => {
  const d = new k.nn.Dropout(0.5);
  const x = k.ones([100]);
  assert.ok((d.forward(x).data() as Float32Array).some((v) => v === 0));
  class Net extends k.nn.Module {
    drop = new k.nn.Dropout(0.5);
  }
  const net = new Net().eval();
  assert.equal(net.drop.training, false);
  assert.equal(net.drop.forward(x), x);
  const conv = new k.nn.Conv2d(4, 6, 3, { padding: 1, groups: 2 });
  assert.deepEqual(conv.weight.shape, [6, 2, 3, 3]);
  assert.deepEqual(conv.forward(k.randn([1, 4, 5, 5])).shape, [1, 6, 5, 5]);
  const c3 = new k.nn.Conv3d(2, 3, [1, 3, 3], { stride: [1, 2, 2], padding: [0, 1, 1] });
  assert.deepEqual(c3.forward(k.randn([1, 2, 3, 8, 8])).shape, [1, 3, 3, 4, 4]);
  const ct = new k.nn.ConvTranspose2d(3, 2, 4, { stride: 2, padding: 1 });
  assert.deepEqual(ct.weight.shape, [3, 2, 4, 4]);
  assert.deepEqual(ct.forward(k.randn([1, 3, 5, 5])).shape, [1, 2, 10, 10]);
});
