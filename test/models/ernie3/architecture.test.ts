/**
 * ERNIE 3.0 architecture checks: the relative attention against a scalar re-derivation of Transformer-XL's score,
 * finite-difference gradients of the relative attention with memory (input, memory, r_proj, u, v), stop-gradient
 * memory that still carries information forward, ERNIE-Doc's enhanced recurrence (the same layer's output recurs),
 * NLU bidirectional vs NLG causal by perturbation, and the exact parameter count (10B preset and the built models).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { RelativeMultiHeadAttention } from '../../../src/models/ernie3/rel-attention.js';
import { Ernie3Model, Ernie3Stack, disposeMemory } from '../../../src/models/ernie3/model.js';
import { ernie3Config, ernie3ParamCounts, reorderClasses } from '../../../src/models/ernie3/config.js';

const f32 = (t: k.Tensor) => Array.from(t.data() as Float32Array);
const maxAbs = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

function attn(d = 8, H = 2, seed = 1) {
  const a = new RelativeMultiHeadAttention(d, H, { std: 0.3, generator: new k.Generator(seed) });
  // nonzero biases (they start as N(0, 0.3) already; make sure the projections' biases are nonzero too)
  for (const p of [a.q_proj.bias!, a.k_proj.bias!, a.v_proj.bias!, a.o_proj.bias!]) (p.storage.data as Float32Array).forEach((_, i, arr) => (arr[p.offset + i] = 0.1 * Math.sin(i + 1)));
  return a;
}

/** Transformer-XL's score written out per (b, h, i, j) in f64, then softmax · v and o_proj. */
function naiveRelAttention(a: RelativeMultiHeadAttention, h: k.Tensor, mem: k.Tensor | null, causal: boolean): number[] {
  const [B, T, d] = h.shape;
  const M = mem ? mem.shape[1] : 0;
  const K = M + T;
  const H = a.heads;
  const Dh = a.headDim;
  const W = (l: { weight: k.Tensor; bias: k.Tensor | null }) => ({ w: f32(l.weight), b: l.bias ? f32(l.bias) : null });
  const lin = (p: { w: number[]; b: number[] | null }, x: number[], nOut: number, nIn: number) =>
    Array.from({ length: nOut }, (_, o) => x.reduce((s, xi, i) => s + xi * p.w[o * nIn + i], p.b ? p.b[o] : 0));
  const hx = f32(h);
  const mx = mem ? f32(mem) : [];
  const [Wq, Wk, Wv, Wo, Wr] = [a.q_proj, a.k_proj, a.v_proj, a.o_proj, a.r_proj].map(W);
  const u = f32(a.r_w_bias);
  const vb = f32(a.r_r_bias);
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const keyIn = (j: number) => (j < M ? mx.slice((b * M + j) * d, (b * M + j + 1) * d) : hx.slice((b * T + j - M) * d, (b * T + j - M + 1) * d));
    const ks = Array.from({ length: K }, (_, j) => lin(Wk, keyIn(j), d, d));
    const vs = Array.from({ length: K }, (_, j) => lin(Wv, keyIn(j), d, d));
    for (let i = 0; i < T; i++) {
      const q = lin(Wq, hx.slice((b * T + i) * d, (b * T + i + 1) * d), d, d);
      const ctx = new Array<number>(d).fill(0);
      for (let hh = 0; hh < H; hh++) {
        const scores: number[] = [];
        for (let j = 0; j < K; j++) {
          if (causal && j > M + i) { scores.push(-Infinity); continue; }
          const r = M + i - j;
          const R = Array.from({ length: d }, (_, c) => (c < d / 2 ? Math.sin(r * Math.pow(10000, (-2 * c) / d)) : Math.cos(r * Math.pow(10000, (-2 * (c - d / 2)) / d))));
          const rk = lin(Wr, R, d, d);
          let s = 0;
          for (let e = 0; e < Dh; e++) {
            const c = hh * Dh + e;
            s += (q[c] + u[hh * Dh + e]) * ks[j][c] + (q[c] + vb[hh * Dh + e]) * rk[c];
          }
          scores.push(s / Math.sqrt(Dh));
        }
        const mxs = Math.max(...scores);
        const ex = scores.map((s) => Math.exp(s - mxs));
        const z = ex.reduce((x, y) => x + y, 0);
        for (let e = 0; e < Dh; e++) ctx[hh * Dh + e] = ex.reduce((s, p, j) => s + (p / z) * vs[j][hh * Dh + e], 0);
      }
      out.push(...lin(Wo, ctx, d, d));
    }
  }
  return out;
}

for (const causal of [true, false]) {
  test(`relative attention with memory equals Transformer-XL's score written out (${causal ? 'causal' : 'bidirectional'})`, () => {
    const a = attn();
    const g = new k.Generator(3);
    const h = k.randn([2, 4, 8], { generator: g });
    const mem = k.randn([2, 3, 8], { generator: g });
    const got = f32(k.noGrad(() => a.forward(h, { memory: mem, causal })));
    const want = naiveRelAttention(a, h, mem, causal);
    assert.ok(maxAbs(got, want) < 1e-5, `differs by ${maxAbs(got, want)}`);
    const got0 = f32(k.noGrad(() => a.forward(h, { memory: null, causal })));
    assert.ok(maxAbs(got0, naiveRelAttention(a, h, null, causal)) < 1e-5);
  });

  test(`gradcheck: relative attention w.r.t. input, memory, r_proj, u and v (${causal ? 'causal' : 'bidirectional'})`, () => {
    const a = attn(8, 2, 5);
    const g = new k.Generator(9);
    const h = k.randn([2, 3, 8], { generator: g });
    const mem = k.randn([2, 2, 8], { generator: g });
    const fn = (x: k.Tensor, m: k.Tensor) => a.forward(x, { memory: m, causal });
    gradcheck((x, m) => fn(x, m), [h, mem], { eps: 1e-2, atol: 2e-2, rtol: 2e-2 });
    gradcheck(() => fn(h, mem), [a.r_proj.weight, a.r_w_bias, a.r_r_bias, a.q_proj.weight], { eps: 1e-2, atol: 2e-2, rtol: 2e-2, maxPerInput: 24 });
  });
}

test('key mask: a masked key changes nothing it blocks; wrong-shaped masks are rejected', () => {
  const a = attn();
  const g = new k.Generator(4);
  const h = k.randn([1, 4, 8], { generator: g });
  const mask = k.fromArray(Int32Array.from([1, 1, 1, 0]), [1, 4], { dtype: 'i32' });
  const base = f32(k.noGrad(() => a.forward(h, { causal: false, keyMask: mask })));
  const h2 = h.clone();
  (h2.storage.data as Float32Array)[3 * 8 + 2] += 1; // perturb the masked token
  const pert = f32(k.noGrad(() => a.forward(h2, { causal: false, keyMask: mask })));
  assert.ok(maxAbs(base.slice(0, 24), pert.slice(0, 24)) < 1e-6); // rows 0-2 never see token 3
  assert.throws(() => a.forward(h, { causal: false, keyMask: k.fromArray(Int32Array.from([1, 1]), [1, 2], { dtype: 'i32' }) }), /key mask must be \[1, 4\]/);
});

test('memory is stop-gradient, yet the second segment depends on the first (universal: Transformer-XL recurrence)', () => {
  const c = ernie3Config('ernie3-micro');
  const stack = new Ernie3Stack(c.universal, c, new k.Generator(2));
  const g = new k.Generator(11);
  const x1 = k.randn([1, 4, 16], { generator: g }).requiresGrad_();
  const x2 = k.randn([1, 4, 16], { generator: g }).requiresGrad_();
  const s1 = stack.forward(x1, { causal: true, memLen: 3 });
  assert.equal(s1.memory.length, 2);
  assert.deepEqual(s1.memory[0].shape, [1, 3, 16]);
  // Transformer-XL: layer 0's memory is its input (the last 3 positions of x1)
  assert.ok(maxAbs(f32(s1.memory[0]), f32(x1).slice(16)) === 0);
  for (const m of s1.memory) assert.equal(m.requiresGrad, false);
  const s2 = stack.forward(x2, { causal: true, memory: s1.memory, memLen: 3 });
  s2.hidden.mul(s2.hidden).sum().backward();
  assert.equal(x1.grad, null, 'no gradient may cross the segment boundary');
  assert.ok(x2.grad && maxAbs(f32(x2.grad), new Array(64).fill(0)) > 0);
  for (const m of s1.memory) assert.equal(m.grad, null);
  // the forward of segment 2 still depends on segment 1
  const x1b = x1.detach().clone();
  (x1b.storage.data as Float32Array)[3 * 16] += 0.5;
  const s1b = k.noGrad(() => stack.forward(x1b, { causal: true, memLen: 3 }));
  const s2b = k.noGrad(() => stack.forward(x2.detach(), { causal: true, memory: s1b.memory, memLen: 3 }));
  assert.ok(maxAbs(f32(s2b.hidden), f32(s2.hidden)) > 1e-4);
  // parameter gradients equal those of a run fed the same memory as plain constants
  const pGrad = f32(stack.layers[0].self_attn.r_proj.weight.grad!);
  stack.zeroGrad();
  const consts = s1.memory.map((m) => k.fromArray(Float32Array.from(m.data() as Float32Array), m.shape));
  const s2c = stack.forward(x2.detach(), { causal: true, memory: consts, memLen: 3 });
  s2c.hidden.mul(s2c.hidden).sum().backward();
  assert.ok(maxAbs(f32(stack.layers[0].self_attn.r_proj.weight.grad!), pGrad) < 1e-6);
});

test("NLG: ERNIE-Doc enhanced recurrence — each layer's memory is the same layer's previous-segment output", () => {
  const m = new Ernie3Model('ernie3-micro', { generator: new k.Generator(5) }).eval();
  const c = m.config;
  const ids = k.fromArray(Int32Array.from([3, 9, 4, 1, 7, 2, 8, 5, 6, 11]), [1, 10], { dtype: 'i32' });
  const r1 = k.noGrad(() => m.forwardNlg(ids));
  // the last NLG layer's memory = the last mem_len positions of the segment's NLG output
  const H = c.nlg.hidden_size;
  const last = r1.memory.nlg[c.nlg.num_layers - 1];
  assert.deepEqual(last.shape, [1, c.mem_len, H]);
  assert.ok(maxAbs(f32(last), f32(r1.hidden).slice((10 - c.mem_len) * H)) === 0);
  // continuing with memory changes the next segment's outputs; without memory it is the plain segment
  const ids2 = k.fromArray(Int32Array.from([1, 2, 3, 4]), [1, 4], { dtype: 'i32' });
  const withMem = k.noGrad(() => m.forwardNlg(ids2, r1.memory));
  const noMem = k.noGrad(() => m.forwardNlg(ids2));
  assert.ok(maxAbs(f32(withMem.hidden), f32(noMem.hidden)) > 1e-4);
  // memory keeps the last mem_len positions of [old memory; new states]
  assert.deepEqual(withMem.memory.nlg[0].shape, [1, c.mem_len, H]);
  assert.ok(maxAbs(f32(withMem.memory.nlg[1]).slice((c.mem_len - 4) * H), f32(withMem.hidden)) === 0);
  assert.ok(maxAbs(f32(withMem.memory.nlg[1]).slice(0, (c.mem_len - 4) * H), f32(last).slice(4 * H)) === 0);
  disposeMemory(r1.memory);
  disposeMemory(withMem.memory);
  disposeMemory(noMem.memory);
});

test('perturbation: NLU is bidirectional, NLG is causal', () => {
  const m = new Ernie3Model('ernie3-micro', { generator: new k.Generator(6) }).eval();
  const a = [3, 9, 4, 1, 7, 2];
  const b = [3, 9, 4, 1, 7, 12]; // last token changed
  const ids = (xs: number[]) => k.fromArray(Int32Array.from(xs), [1, xs.length], { dtype: 'i32' });
  const dt = m.config.nlu.hidden_size;
  const nluA = f32(k.noGrad(() => m.forwardNlu(ids(a))));
  const nluB = f32(k.noGrad(() => m.forwardNlu(ids(b))));
  assert.ok(maxAbs(nluA.slice(0, dt), nluB.slice(0, dt)) > 1e-4, 'NLU position 0 must see the last token');
  const nlgA = k.noGrad(() => m.forwardNlg(ids(a)));
  const nlgB = k.noGrad(() => m.forwardNlg(ids(b)));
  const H = m.config.nlg.hidden_size;
  assert.ok(maxAbs(f32(nlgA.hidden).slice(0, 5 * H), f32(nlgB.hidden).slice(0, 5 * H)) < 1e-6, 'NLG positions 0-4 must not see token 5');
  assert.ok(maxAbs(f32(nlgA.hidden).slice(5 * H), f32(nlgB.hidden).slice(5 * H)) > 1e-4);
  // an NLU attention mask hides padding from the real tokens
  const mask = k.fromArray(Int32Array.from([1, 1, 1, 1, 1, 0]), [1, 6], { dtype: 'i32' });
  const pa = f32(k.noGrad(() => m.forwardNlu(ids(a), { attentionMask: mask })));
  const pb = f32(k.noGrad(() => m.forwardNlu(ids(b), { attentionMask: mask })));
  assert.ok(maxAbs(pa.slice(0, 5 * dt), pb.slice(0, 5 * dt)) < 1e-6);
  disposeMemory(nlgA.memory);
  disposeMemory(nlgB.memory);
});

test('parameter counts: the 10B preset exactly, and every built model equals its count', () => {
  const p = ernie3ParamCounts(ernie3Config('ernie3-10b'));
  assert.equal(p.params_embeddings, (40000 + 4) * 4096 + 2 * 4096);
  assert.equal(p.params_universal, 48 * (4 * (4096 * 4096 + 4096) + 4096 * 4096 + 2 * 4096 + 2 * 4096 * 16384 + 16384 + 4096 + 4 * 4096));
  assert.equal(p.params_nlu, 4096 * 768 + 768 + 12 * (4 * (768 * 768 + 768) + 768 * 768 + 2 * 768 + 2 * 768 * 3072 + 3072 + 768 + 4 * 768));
  assert.equal(p.params_total, 10_826_391_040);
  assert.equal(reorderClasses(3), 1 + 2 + 6);
  for (const preset of ['ernie3-tiny', 'ernie3-micro']) {
    const m = new Ernie3Model(preset);
    assert.equal(m.numParameters(), ernie3ParamCounts(m.config).params_total, preset);
    m.dispose();
  }
  assert.throws(() => ernie3Config({ universal: { num_layers: 2, hidden_size: 10, num_heads: 3, intermediate_size: 8 } }), /not divisible/);
});
