/**
 * The fused relative-position attention (op `relAttention`, backend relAttentionForward/Backward) against the same
 * attention built from ordinary ops (`forwardReference`: materialised scores, the relative shift done with views),
 * at odd sizes, causal with memory and bidirectional with a key mask — outputs and every gradient (input, memory,
 * q/k/v/o/r projections, u, v); with attention-probability dropout on (same seeds → same mask in both); a
 * finite-difference check of the fused op's gradient including the position term (r_proj, u, v) under dropout; the
 * seeded dropout mask kernel's rate, scaling and reproducibility; and attention dropout at the model level (off in
 * eval mode, set by setDropout).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { RelativeMultiHeadAttention } from '../../../src/models/ernie3/rel-attention.js';
import { Ernie3Model } from '../../../src/models/ernie3/model.js';
import { backend } from '../../../src/backend/index.js';
import { seededDropout } from '../../../src/tensor/ops/rel-attention.js';

const f32 = (t: k.Tensor) => Array.from(t.data() as Float32Array);
/** Largest difference relative to the reference's largest magnitude (floor `floor`: a gradient that is exactly 0 in
 * exact arithmetic — k_proj's bias: each row of dS sums to 0 — is compared in absolute terms). */
const maxRel = (a: number[], b: number[], floor = 1e-3) => {
  const scale = Math.max(floor, ...b.map(Math.abs));
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0) / scale;
};

function attn(d: number, H: number, seed: number) {
  const a = new RelativeMultiHeadAttention(d, H, { std: 0.3, generator: new k.Generator(seed) });
  for (const p of [a.q_proj.bias!, a.k_proj.bias!, a.v_proj.bias!, a.o_proj.bias!]) (p.storage.data as Float32Array).forEach((_, i, arr) => (arr[p.offset + i] = 0.1 * Math.sin(i + 1)));
  return a;
}

interface Case { B: number; T: number; M: number; d: number; H: number; causal: boolean; mask: boolean; drop: number }

/** Output and gradients (w.r.t. h, memory and every parameter) of one path under a fixed random output weight. */
function run(a: RelativeMultiHeadAttention, c: Case, fused: boolean, seed: number) {
  const g = new k.Generator(seed);
  const h = k.randn([c.B, c.T, c.d], { generator: g }).requiresGrad_();
  const mem = c.M > 0 ? k.randn([c.B, c.M, c.d], { generator: g }).requiresGrad_() : null;
  const K = c.M + c.T;
  const maskData = Int32Array.from({ length: c.B * K }, (_, x) => ((x * 7) % 5 === 3 ? 0 : 1));
  const keyMask = c.mask ? k.fromArray(maskData, [c.B, K], { dtype: 'i32' }) : null;
  a.attn_dropout.p = c.drop;
  a.attn_dropout.generator = new k.Generator(99);
  a.train();
  const params = a.parameters();
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
  const out = (fused ? a.forward(h, { memory: mem, causal: c.causal, keyMask }) : a.forwardReference(h, { memory: mem, causal: c.causal, keyMask }));
  const w = k.randn(out.shape, { generator: new k.Generator(5) });
  out.mul(w).sum().backward();
  return { out: f32(out), grads: [h, ...(mem ? [mem] : []), ...params].map((t) => f32(t.grad!)) };
}

const cases: Case[] = [
  { B: 2, T: 5, M: 3, d: 12, H: 3, causal: true, mask: false, drop: 0 },
  { B: 1, T: 1, M: 0, d: 8, H: 2, causal: true, mask: false, drop: 0 },
  { B: 3, T: 7, M: 0, d: 10, H: 1, causal: false, mask: true, drop: 0 },
  { B: 2, T: 4, M: 6, d: 6, H: 3, causal: false, mask: false, drop: 0 },
  { B: 2, T: 5, M: 3, d: 12, H: 3, causal: true, mask: false, drop: 0.3 },
  { B: 2, T: 6, M: 0, d: 8, H: 2, causal: false, mask: true, drop: 0.45 },
];

for (const c of cases) {
  test(`fused relative attention equals the composed reference: B ${c.B}, T ${c.T}, M ${c.M}, d ${c.d}, H ${c.H}, ${c.causal ? 'causal' : 'bidirectional'}${c.mask ? ', key mask' : ''}, attention dropout ${c.drop}`, () => {
    k.tidy(() => {
      const a = attn(c.d, c.H, 3);
      const fused = run(a, c, true, 11);
      const ref = run(a, c, false, 11);
      assert.ok(maxRel(fused.out, ref.out) < 1e-5, `output differs: ${maxRel(fused.out, ref.out)}`);
      assert.equal(fused.grads.length, ref.grads.length);
      fused.grads.forEach((gf, i) => assert.ok(maxRel(gf, ref.grads[i], 0.1) < 1e-4, `gradient ${i} differs: ${maxRel(gf, ref.grads[i], 0.1)}`));
      if (c.drop > 0) {
        a.eval();
        const e1 = f32(k.noGrad(() => a.forward(k.ones([c.B, c.T, c.d]), { causal: c.causal })));
        const e2 = f32(k.noGrad(() => a.forwardReference(k.ones([c.B, c.T, c.d]), { causal: c.causal })));
        assert.ok(maxRel(e1, e2) < 1e-5);
        a.train();
        const t1 = f32(k.noGrad(() => a.forward(k.ones([c.B, c.T, c.d]), { causal: c.causal })));
        assert.ok(maxRel(t1, e1) > 1e-3, 'dropout on in training mode changes the output');
      }
    });
  });
}

test('finite differences: the fused op\'s gradient w.r.t. input, memory, W_kR (position term), u and v, with attention dropout', () => {
  k.tidy(() => {
    for (const causal of [true, false]) {
      const a = attn(12, 3, 2);
      a.train();
      a.attn_dropout.p = 0.25;
      const g = new k.Generator(8);
      const h = k.randn([2, 3, 12], { generator: g });
      const mem = k.randn([2, 2, 12], { generator: g });
      // a fresh generator per call: every evaluation draws the same mask
      const fn = (x: k.Tensor, m: k.Tensor) => {
        a.attn_dropout.generator = new k.Generator(4);
        return a.forward(x, { memory: m, causal });
      };
      gradcheck((x, m) => fn(x, m), [h, mem], { eps: 1e-2, atol: 2e-2, rtol: 2e-2 });
      gradcheck(() => fn(h, mem), [a.r_proj.weight, a.r_w_bias, a.r_r_bias, a.k_proj.weight], { eps: 1e-2, atol: 2e-2, rtol: 2e-2, maxPerInput: 24 });
    }
  });
});

test('seeded dropout mask: rate, inverted scaling, reproducible from the seeds, different seeds differ', () => {
  const n = 100_003;
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  const c = new Float32Array(n);
  backend().dropoutMask(a, n, 0.3, 12345, 678);
  backend().dropoutMask(b, n, 0.3, 12345, 678);
  backend().dropoutMask(c, n, 0.3, 12346, 678);
  const kept = a.filter((x) => x !== 0);
  assert.ok(Math.abs(1 - kept.length / n - 0.3) < 0.006, `drop fraction ${1 - kept.length / n}`);
  assert.ok(kept.every((x) => x === Math.fround(1 / 0.7)));
  assert.deepEqual(a, b);
  const agree = a.reduce((s, x, i) => s + (x === c[i] ? 1 : 0), 0) / n;
  assert.ok(agree < 0.65, `different seeds must give different masks (agreement ${agree}; independent masks agree 0.58)`);
  // seededDropout draws two seeds per call from its generator
  const x = k.ones([4, 1000]);
  const y1 = f32(seededDropout(x, 0.5, true, new k.Generator(3)));
  const y2 = f32(seededDropout(x, 0.5, true, new k.Generator(3)));
  assert.deepEqual(y1, y2);
  assert.ok(Math.abs(y1.reduce((s, v) => s + v, 0) / y1.length - 1) < 0.06, 'inverted dropout keeps the mean');
  assert.equal(seededDropout(x, 0.5, false), x);
});

test('attention-probability dropout in the model: set by setDropout with the hidden rate, off in eval mode, seeded', () => {
  k.tidy(() => {
    const m = new Ernie3Model('ernie3-micro', { generator: new k.Generator(1) });
    const ids = k.fromArray(Int32Array.from([1, 5, 6, 7, 8, 2]), [1, 6], { dtype: 'i32' });
    const run = () => k.noGrad(() => f32(m.forwardNlg(ids).hidden));
    m.eval();
    const ref = run();
    m.train();
    m.setDropout(0, undefined, 0.5); // attention dropout only
    const a1 = m.universal.layers[0].self_attn.attn_dropout;
    assert.equal(a1.p, 0.5);
    assert.equal(m.universal.layers[0].dropout.p, 0);
    m.setDropout(0, new k.Generator(9), 0.5);
    const d1 = run();
    assert.ok(maxRel(d1, ref) > 1e-3, 'attention dropout changes the training output');
    m.setDropout(0, new k.Generator(9), 0.5);
    assert.deepEqual(run(), d1, 'same generator seed, same masks');
    m.setDropout(0.2, new k.Generator(9));
    assert.equal(a1.p, 0.2, 'setDropout(p) sets the attention rate to p too');
    m.eval();
    assert.deepEqual(run(), ref, 'eval mode: no dropout');
  });
});

test('HF ErnieModel: attention-probability dropout in training mode (composed path equals the fused op at a negligible rate; seeded; off in eval)', async () => {
  const { ErnieModel } = await import('../../../src/models/ernie3/ernie-model.js');
  k.tidy(() => {
    const cfg = (p: number) => ({ vocab_size: 50, hidden_size: 12, num_hidden_layers: 2, num_attention_heads: 3, intermediate_size: 24, max_position_embeddings: 16, hidden_dropout_prob: 0, attention_probs_dropout_prob: p });
    const ids = k.fromArray(Int32Array.from([1, 5, 6, 7, 8, 2, 3, 9, 4, 0]), [2, 5], { dtype: 'i32' });
    const attentionMask = k.fromArray(Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]), [2, 5], { dtype: 'i32' });
    const out = (m: InstanceType<typeof ErnieModel>) => f32(k.noGrad(() => m.forward({ inputIds: ids, attentionMask }).lastHiddenState));
    const fused = new ErnieModel(cfg(1e-7), { generator: new k.Generator(3) });
    fused.eval();
    const ref = out(fused);
    fused.train(); // rate 1e-7: the composed path, (almost surely) nothing dropped
    assert.ok(maxRel(out(fused), ref) < 1e-5, `composed vs fused: ${maxRel(out(fused), ref)}`);
    const drop = new ErnieModel(cfg(0.5), { generator: new k.Generator(3) });
    drop.eval();
    assert.ok(maxRel(out(drop), ref) < 1e-6, 'same weights, eval mode: no dropout');
    drop.train();
    const d1 = out(drop);
    assert.ok(maxRel(d1, ref) > 1e-3, 'rate 0.5 changes the training output');
    const drop2 = new ErnieModel(cfg(0.5), { generator: new k.Generator(3) });
    assert.deepEqual(out(drop2), d1, 'same seed, same masks');
  });
});
