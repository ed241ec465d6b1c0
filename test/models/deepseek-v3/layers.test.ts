/**
 * DeepSeek-V3 building blocks: finite-difference gradients of MLA, the MoE block and MTP; absorbed == expanded
 * attention; cached decoding == full prefill; routing stays inside topk_group groups and never puts the bias into the
 * gate values; the balance term; the aux-loss-free bias update direction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { deepseekV3Config } from '../../../src/models/deepseek-v3/config.js';
import { MultiHeadLatentAttention } from '../../../src/models/deepseek-v3/mla.js';
import { DeepseekMoE, gateValues, maxViolation, selectExperts, sequenceBalanceLoss, sequenceBalanceTerm, sortByExpert } from '../../../src/models/deepseek-v3/moe.js';
import { DeepseekV3ForCausalLM, type MtpLayer } from '../../../src/models/deepseek-v3/model.js';
import { RopeCache } from '../../../src/models/deepseek-v3/rope.js';

const micro = deepseekV3Config({ ...deepseekV3Config('deepseek-v3-micro'), initializer_range: 0.3,
  rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 16, beta_fast: 32, beta_slow: 1, mscale: 0.9, mscale_all_dim: 0.9 } });

function maxAbsDiff(a: k.Tensor, b: k.Tensor): number {
  const x = a.data() as Float32Array, y = b.data() as Float32Array;
  assert.equal(x.length, y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

test('MLA: finite-difference gradients (input and weights), expanded path', () => {
  const g = new k.Generator(1);
  const attn = new MultiHeadLatentAttention(micro, g);
  const rope = new RopeCache(micro);
  const { cos, sin } = rope.tables(0, 5);
  const x = k.randn([2, 5, micro.hidden_size], { generator: g });
  gradcheck((xx) => attn.forward(xx, cos, sin), [x], { eps: 1e-2, atol: 2e-3, rtol: 2e-2 });
  gradcheck((w) => { const old = attn.kv_b_proj.weight; attn.kv_b_proj.weight = w; try { return attn.forward(x, cos, sin); } finally { attn.kv_b_proj.weight = old; } },
    [k.noGrad(() => attn.kv_b_proj.weight.clone())], { eps: 1e-2, atol: 2e-3, rtol: 2e-2 });
  rope.dispose();
});

test('MLA: the absorbed path equals the expanded one (outputs and input gradients); q_proj and rotate_half variants', () => {
  for (const over of [{}, { q_lora_rank: null, rope_interleave: false, rope_scaling: null }]) {
    const c = deepseekV3Config({ ...micro, ...over } as never);
    const g = new k.Generator(2);
    const attn = new MultiHeadLatentAttention(c, g);
    const rope = new RopeCache(c);
    const { cos, sin } = rope.tables(0, 7);
    const x1 = k.randn([2, 7, c.hidden_size], { generator: g }).requiresGrad_();
    const x2 = x1.detach().clone().requiresGrad_();
    const a = attn.forward(x1, cos, sin);
    const b = attn.forwardAbsorbed(x2, cos, sin);
    assert.ok(maxAbsDiff(a, b) < 1e-5, `absorbed vs expanded: ${maxAbsDiff(a, b)}`);
    const w = k.randn(a.shape, { generator: g });
    a.mul(w).sum().backward();
    b.mul(w).sum().backward();
    assert.ok(maxAbsDiff(x1.grad!, x2.grad!) < 1e-5);
    rope.dispose();
  }
});

test('MoE block: gradients w.r.t. the input (routing fixed by the margin) and gate values w.r.t. affinities', () => {
  const g = new k.Generator(3);
  const moe = new DeepseekMoE(micro, g);
  const x = k.randn([1, 3, micro.hidden_size], { generator: g });
  // the routing is discrete; a 1e-3 step keeps these tokens' choices (checked) so the block is smooth there
  const ids0 = k.noGrad(() => Array.from(selectExperts(x.reshape(3, -1).matmul(moe.gate.weight.mT).sigmoid(), moe.gate.e_score_correction_bias, micro).data() as Int32Array));
  gradcheck((xx) => moe.forward(xx).y, [x], { eps: 1e-3, atol: 3e-3, rtol: 3e-2 });
  const ids1 = k.noGrad(() => Array.from(selectExperts(x.reshape(3, -1).matmul(moe.gate.weight.mT).sigmoid(), moe.gate.e_score_correction_bias, micro).data() as Int32Array));
  assert.deepEqual(ids1, ids0);
  const scores = k.rand([4, micro.n_routed_experts], { generator: g });
  const ids = selectExperts(scores, moe.gate.e_score_correction_bias, micro);
  gradcheck((s) => gateValues(s, ids, micro), [scores], { eps: 1e-3, atol: 1e-3, rtol: 1e-2 });
  // the gate weight and every expert that received tokens get gradients
  const y = moe.forward(x).y;
  y.sum().backward();
  assert.ok(moe.gate.weight.grad && moe.shared_experts!.gate_proj.weight.grad);
});

test('MTP module: finite-difference gradients w.r.t. the embedding and the previous hidden state', () => {
  const g = new k.Generator(4);
  const m = new DeepseekV3ForCausalLM({ ...micro, num_nextn_predict_layers: 1 }, { generator: g });
  const layer = m.mtpLayers[0] as MtpLayer;
  const rope = new RopeCache(m.config);
  const { cos, sin } = rope.tables(0, 3);
  const emb = k.randn([1, 3, micro.hidden_size], { generator: g });
  const prev = k.randn([1, 3, micro.hidden_size], { generator: g });
  gradcheck((e, p) => layer.predict(e, p, cos, sin, false).h, [emb, prev], { eps: 1e-3, atol: 3e-3, rtol: 3e-2 });
  // and through the whole model's MTP loss to eh_proj
  const ids = k.randint(0, micro.vocab_size, [2, 6], { dtype: 'i32', generator: g });
  const r = m.loss(ids, ids, { mtpWeight: 1, balanceAlpha: 0 });
  assert.ok(r.mtp && Number.isFinite(r.mtp.item()));
  r.loss.backward();
  assert.ok(layer.eh_proj.weight.grad && layer.enorm.weight.grad);
  rope.dispose();
  m.dispose();
});

test('cached decoding (absorbed, latent cache) equals the full prefill logits', () => {
  const m = new DeepseekV3ForCausalLM('deepseek-v3-tiny', { generator: new k.Generator(5) }).eval();
  const ids = k.randint(0, 256, [2, 20], { dtype: 'i32', generator: new k.Generator(6) });
  const full = k.noGrad(() => m.forward(ids, { mtp: false }).logits);
  const cache = m.newCache(2);
  const parts = [m.forwardCached(ids.slice(1, 0, 9).contiguous(), cache).logits];
  for (let t = 9; t < 20; t++) parts.push(m.forwardCached(ids.slice(1, t, t + 1).contiguous(), cache).logits);
  assert.equal(cache.length, 20);
  assert.equal(cache.numbersPerToken, 3 * (32 + 8));
  const d = maxAbsDiff(k.cat(parts, 1), full);
  assert.ok(d < 1e-4, `cached vs full: ${d}`);
  cache.dispose();
  m.dispose();
});

test('routing: never leaves the topk_group best groups (by biased top-2 sums); gates use unbiased affinities', () => {
  const c = deepseekV3Config({ ...deepseekV3Config('deepseek-v3-micro'), n_routed_experts: 16, n_group: 4, topk_group: 2, num_experts_per_tok: 4, routed_scaling_factor: 2.5 });
  const g = new k.Generator(7);
  const N = 64, E = 16, G = 4, per = 4;
  const scores = k.rand([N, E], { generator: g });
  const bias = k.randn([E], { generator: g }).mul(0.5); // large biases so selection differs from the raw scores
  const ids = selectExperts(scores, bias, c);
  const gates = gateValues(scores, ids, c);
  const s = scores.data() as Float32Array, b = bias.data() as Float32Array, id = ids.data() as Int32Array, gv = gates.data() as Float32Array;
  let differsFromUnbiased = 0;
  for (let n = 0; n < N; n++) {
    const biased = Array.from({ length: E }, (_, e) => s[n * E + e] + b[e]);
    const groupScore = Array.from({ length: G }, (_, gi) => { const v = biased.slice(gi * per, gi * per + per).sort((x, y) => y - x); return v[0] + v[1]; });
    const kept = new Set(groupScore.map((v, gi) => [v, gi]).sort((x, y) => y[0] - x[0]).slice(0, 2).map((x) => x[1]));
    const chosen = Array.from(id.subarray(n * 4, n * 4 + 4));
    for (const e of chosen) assert.ok(kept.has(Math.floor(e / per)), `token ${n}: expert ${e} is outside the kept groups`);
    // the chosen are the top-4 biased affinities among the kept groups
    const cands = biased.map((v, e) => [v, e]).filter(([, e]) => kept.has(Math.floor(e / per))).sort((x, y) => y[0] - x[0]).slice(0, 4).map((x) => x[1]);
    assert.deepEqual([...chosen].sort(), [...cands].sort());
    // gate values: unbiased affinities, normalised, × 2.5
    const sum = chosen.reduce((a, e) => a + s[n * E + e], 0);
    chosen.forEach((e, j) => assert.ok(Math.abs(gv[n * 4 + j] - (2.5 * s[n * E + e]) / sum) < 1e-5));
    const unbiasedTop = Array.from(s.subarray(n * E, n * E + E)).map((v, e) => [v, e]).sort((x, y) => y[0] - x[0]).slice(0, 4).map((x) => x[1]);
    if (unbiasedTop.sort().join() !== [...chosen].sort().join()) differsFromUnbiased++;
  }
  assert.ok(differsFromUnbiased > 0, 'the bias should change some selections');
  const { order, counts } = sortByExpert(id, E);
  assert.equal(counts.reduce((a, x) => a + x, 0), N * 4);
  for (let i = 1; i < order.length; i++) assert.ok(id[order[i - 1]] < id[order[i]] || (id[order[i - 1]] === id[order[i]] && order[i - 1] < order[i]));
});

test('balance term equals Σ f_i·P_i by hand; aux-loss-free update moves biases toward balance and lowers MaxVio', () => {
  const c = deepseekV3Config('deepseek-v3-micro');
  const g = new k.Generator(8);
  const B = 2, T = 5, E = 4, K = 2;
  const scores = k.rand([B, T, E], { generator: g });
  const ids = selectExperts(scores.reshape(B * T, E), k.zeros([E]), c);
  const flat = ids.data() as Int32Array;
  const got = sequenceBalanceTerm(scores, flat, B, T, c).item();
  const s = scores.data() as Float32Array;
  let want = 0;
  for (let b = 0; b < B; b++) for (let i = 0; i < E; i++) {
    let f = 0, P = 0;
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < K; j++) if (flat[(b * T + t) * K + j] === i) f++;
      let z = 0;
      for (let e = 0; e < E; e++) z += s[(b * T + t) * E + e];
      P += s[(b * T + t) * E + i] / z / T;
    }
    want += ((E / (K * T)) * f * P) / B;
  }
  assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
  assert.ok(Math.abs(sequenceBalanceLoss(scores, flat, B, T, c, 1e-4).item() - 1e-4 * want) < 1e-10);

  // a router skewed toward some experts: repeated bias updates lower MaxVio, γ = 0 leaves it
  const cfg = deepseekV3Config({ ...deepseekV3Config('deepseek-v3-micro'), n_routed_experts: 8, n_group: 1, topk_group: 1, num_experts_per_tok: 2, initializer_range: 0.5 });
  const run = (gamma: number) => {
    const moe = new DeepseekMoE(cfg, new k.Generator(9));
    const x = k.randn([4, 16, cfg.hidden_size], { generator: new k.Generator(10) });
    const first = maxViolation(k.noGrad(() => moe.forward(x).load));
    const bias0 = Array.from(moe.gate.e_score_correction_bias.data() as Float32Array);
    const load0 = Array.from(moe.loadSinceUpdate);
    moe.updateBias(gamma);
    const mean = load0.reduce((a, v) => a + v) / load0.length;
    const bias1 = Array.from(moe.gate.e_score_correction_bias.data() as Float32Array);
    bias1.forEach((v, i) => assert.ok(Math.abs(v - (bias0[i] + gamma * Math.sign(mean - load0[i]))) < 1e-7));
    for (let s2 = 0; s2 < 60; s2++) { k.noGrad(() => moe.forward(x)); moe.updateBias(gamma); }
    const last = maxViolation(k.noGrad(() => moe.forward(x).load));
    moe.dispose();
    return { first, last };
  };
  const on = run(0.01), off = run(0);
  assert.equal(off.last, off.first);
  assert.ok(on.first > 0.3, `the skewed router should start unbalanced (MaxVio ${on.first})`);
  assert.ok(on.last < on.first / 2, `MaxVio ${on.first} → ${on.last} with γ = 0.01`);
});
