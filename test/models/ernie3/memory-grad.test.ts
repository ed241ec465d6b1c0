/**
 * Gradient checks of the memory paths through the whole ERNIE 3.0 NLG path (test/models/ernie3/architecture.test.ts
 * checks the relative attention alone and the universal stack's stop-gradient): finite differences of
 * `forwardNlg(segment 2, memory)` w.r.t. every layer's memory — the universal module's Transformer-XL memories and the
 * NLG module's enhanced-recurrence memories — and w.r.t. parameters that only act on the memory keys (k_proj, v_proj)
 * and the relative position terms; then, over two segments of the full model, no gradient reaches segment 1 while the
 * second segment's output depends on the first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { Ernie3Model, disposeMemory, type Ernie3Memory } from '../../../src/models/ernie3/model.js';

const f32 = (t: k.Tensor) => Array.from(t.data() as Float32Array);
const maxAbs = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const ids = (xs: number[]) => k.fromArray(Int32Array.from(xs), [1, xs.length], { dtype: 'i32' });

test('gradcheck: NLG segment output w.r.t. the universal and NLG memories, and the memory-key parameters', () => {
  const m = new Ernie3Model('ernie3-micro', { generator: new k.Generator(21) }).eval();
  const first = k.noGrad(() => m.forwardNlg(ids([3, 9, 4, 1, 7, 2, 8])));
  const mems = [...first.memory.universal, ...first.memory.nlg];
  const nu = first.memory.universal.length;
  assert.deepEqual(mems.map((t) => t.shape), [[1, 6, 16], [1, 6, 16], [1, 6, 8], [1, 6, 8]]);
  const seg2 = ids([5, 6, 11]);
  const fn = (...ms: k.Tensor[]) => {
    const r = m.forwardNlg(seg2, { universal: ms.slice(0, nu), nlg: ms.slice(nu) } as Ernie3Memory);
    disposeMemory(r.memory);
    return r.hidden;
  };
  gradcheck(fn, mems, { eps: 1e-2, atol: 2e-2, rtol: 2e-2, maxPerInput: 24 });
  const l0 = m.universal.layers[0].self_attn;
  const g1 = m.nlg.stack.layers[1].self_attn;
  gradcheck(() => fn(...mems), [l0.k_proj.weight, l0.v_proj.weight, l0.r_proj.weight, g1.k_proj.weight, g1.r_r_bias, g1.r_w_bias], { eps: 1e-2, atol: 2e-2, rtol: 2e-2, maxPerInput: 16 });
  for (const t of mems) t.requiresGrad = false;
  disposeMemory(first.memory);
});

test('full model, two segments: memories are detached (no gradient reaches segment 1) yet segment 2 depends on segment 1', () => {
  const m = new Ernie3Model('ernie3-micro', { generator: new k.Generator(22) }).eval();
  const emb = m.embeddings.word_embeddings.weight;
  const seg1 = [3, 9, 4, 1, 7, 2];
  const seg2 = [5, 6, 11, 12];
  const r1 = m.forwardNlg(ids(seg1));
  for (const t of [...r1.memory.universal, ...r1.memory.nlg]) assert.equal(t.requiresGrad, false);
  const r2 = m.forwardNlg(ids(seg2), r1.memory);
  r2.hidden.mul(r2.hidden).sum().backward();
  // the embedding rows used only by segment 1 get no gradient: nothing flowed back through the memories
  const g = f32(emb.grad!);
  const H = emb.shape[1];
  for (const tok of seg1) assert.ok(g.slice(tok * H, (tok + 1) * H).every((x) => x === 0), `token ${tok} of segment 1 got a gradient`);
  for (const tok of seg2) assert.ok(g.slice(tok * H, (tok + 1) * H).some((x) => x !== 0), `token ${tok} of segment 2 got none`);
  for (const t of [...r1.memory.universal, ...r1.memory.nlg]) assert.equal(t.grad, null);
  // parameter gradients equal those of a run fed the memories as constants
  const ref = f32(m.nlg.stack.layers[0].self_attn.k_proj.weight.grad!);
  m.zeroGrad();
  const consts = (xs: k.Tensor[]) => xs.map((t) => k.fromArray(Float32Array.from(t.data() as Float32Array), t.shape));
  const r2c = m.forwardNlg(ids(seg2), { universal: consts(r1.memory.universal), nlg: consts(r1.memory.nlg) });
  r2c.hidden.mul(r2c.hidden).sum().backward();
  assert.ok(maxAbs(f32(m.nlg.stack.layers[0].self_attn.k_proj.weight.grad!), ref) < 1e-6);
  // change one token of segment 1: segment 2's output moves
  const r1b = k.noGrad(() => m.forwardNlg(ids([3, 9, 4, 1, 8, 2])));
  const r2b = k.noGrad(() => m.forwardNlg(ids(seg2), r1b.memory));
  assert.ok(maxAbs(f32(r2b.hidden), f32(r2.hidden)) > 1e-4);
  m.zeroGrad();
  for (const r of [r1, r2, r2c, r1b, r2b]) disposeMemory(r.memory);
});
