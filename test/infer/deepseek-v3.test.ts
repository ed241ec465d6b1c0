/**
 * DeepSeek-V3 generation: cached greedy decode equals uncached greedy; MTP speculative decoding equals plain greedy
 * token for token (with both accepted and rejected drafts); seeded sampling is reproducible and top-k / top-p filter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeepseekV3ForCausalLM } from '../../src/models/deepseek-v3/model.js';
import { Generator } from '../../src/tensor/random.js';
import { fromArray } from '../../src/tensor/creation.js';
import { generate, generateSpeculative, generateUncached, pickToken, truncateCache } from '../../src/infer/deepseek-v3.js';

function tinyModel(seed: number): DeepseekV3ForCausalLM {
  const m = new DeepseekV3ForCausalLM('deepseek-v3-tiny', { generator: new Generator(seed) });
  m.eval();
  return m;
}

const prompt = Int32Array.of(5, 17, 99, 3, 42, 7);

test('cached greedy decode equals uncached greedy (full recompute, expanded attention)', () => {
  const m = tinyModel(1);
  const cached = generate(m, prompt, { maxNewTokens: 12, greedy: true });
  const full = generateUncached(m, prompt, 12);
  assert.deepEqual(Array.from(cached.ids), Array.from(full));
  assert.equal(cached.mainForwards, 11);
  m.dispose();
});

test('MTP speculative decoding is lossless: identical to plain greedy, drafts rejected', () => {
  const m = tinyModel(2);
  const plain = generate(m, prompt, { maxNewTokens: 24, greedy: true });
  const spec = generateSpeculative(m, prompt, { maxNewTokens: 24 });
  assert.deepEqual(Array.from(spec.ids), Array.from(plain.ids));
  assert.equal(spec.ids.length, 24);
  assert.ok(spec.drafted > 0 && spec.accepted <= spec.drafted);
  assert.equal(spec.mainForwards, spec.drafted);
  assert.equal(spec.tokensPerForward, 23 / spec.mainForwards);
  m.dispose();
});

test('MTP speculative decoding is lossless with drafts both accepted and rejected (cache rolled back)', () => {
  // the drafter always proposes id 0 (zero MTP output norm → all-zero logits); the main head's row 0 is a scaled
  // copy of row 160's, so the main model picks 0 some of the time: drafts hit and miss within one run
  const m = tinyModel(3);
  const d = m.config.hidden_size;
  const head = m.lm_head!.weight.storage.data as Float32Array;
  for (let j = 0; j < d; j++) head[j] = head[160 * d + j] * 1.5;
  (m.mtpLayers[0].shared_head.norm.weight.storage.data as Float32Array).fill(0);
  const plain = generate(m, prompt, { maxNewTokens: 24, greedy: true });
  const spec = generateSpeculative(m, prompt, { maxNewTokens: 24 });
  assert.deepEqual(Array.from(spec.ids), Array.from(plain.ids));
  assert.ok(spec.accepted >= 2 && spec.accepted < spec.drafted, `accepted ${spec.accepted} of ${spec.drafted}`);
  assert.ok([24, 25].includes(spec.drafted + spec.accepted + 1)); // the last round's bonus token may fall past the limit
  assert.ok(spec.tokensPerForward > 1);
  m.dispose();
});

test('speculative decoding with an always-right drafter commits two tokens per forward and stays lossless', () => {
  // zero final norms (main and MTP): every logit is 0, so the main model and the drafter both pick id 0 every time
  const m = tinyModel(3);
  (m.model.norm.weight.storage.data as Float32Array).fill(0);
  (m.mtpLayers[0].shared_head.norm.weight.storage.data as Float32Array).fill(0);
  const plain = generate(m, prompt, { maxNewTokens: 9, greedy: true });
  const spec = generateSpeculative(m, prompt, { maxNewTokens: 9 });
  assert.deepEqual(Array.from(spec.ids), Array.from(plain.ids));
  assert.deepEqual(Array.from(spec.ids), new Array(9).fill(0));
  assert.equal(spec.acceptanceRate, 1);
  assert.equal(spec.mainForwards, 4);
  assert.equal(spec.tokensPerForward, 2);
  m.dispose();
});

test('truncateCache rolls positions back: re-feeding the dropped tokens gives the same logits', () => {
  const m = tinyModel(4);
  const cache = m.newCache(1);
  const full = Array.from(m.forwardCached(fromArray(prompt, [1, 6]), cache).logits.data() as Float32Array);
  truncateCache(cache, 4);
  assert.equal(cache.length, 4);
  const again = Array.from(m.forwardCached(fromArray(prompt.slice(4), [1, 2]), cache).logits.data() as Float32Array);
  const V = m.config.vocab_size;
  const want = full.slice(4 * V);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(again[i] - want[i]) < 1e-4, `logit ${i}: ${again[i]} vs ${want[i]}`);
  assert.throws(() => truncateCache(cache, 7), /cannot grow/);
  cache.dispose();
  m.dispose();
});

test('seeded sampling is reproducible; different seeds differ; top-k 1 is greedy', () => {
  const m = tinyModel(5);
  const o = { maxNewTokens: 16, temperature: 1.5, topK: 50, topP: 0.95 };
  const a = generate(m, prompt, { ...o, seed: 11 });
  const b = generate(m, prompt, { ...o, seed: 11 });
  const c = generate(m, prompt, { ...o, seed: 12 });
  assert.deepEqual(Array.from(a.ids), Array.from(b.ids));
  assert.notDeepEqual(Array.from(a.ids), Array.from(c.ids));
  const g = generate(m, prompt, { maxNewTokens: 8, greedy: true });
  const k1 = generate(m, prompt, { maxNewTokens: 8, temperature: 1, topK: 1, seed: 3 });
  assert.deepEqual(Array.from(k1.ids), Array.from(g.ids));
  m.dispose();
});

test('pickToken: top-k and top-p keep only the allowed tokens', () => {
  const logits = Float32Array.of(0, 3, 1, 2.5, -1);
  const gen = new Generator(0);
  const seen = new Set<number>();
  for (let i = 0; i < 300; i++) seen.add(pickToken(logits, { temperature: 1, topK: 2 }, gen));
  assert.deepEqual([...seen].sort(), [1, 3]);
  // p(1) ≈ 0.53, p(3) ≈ 0.32: top-p 0.5 keeps only id 1
  for (let i = 0; i < 50; i++) assert.equal(pickToken(logits, { temperature: 1, topP: 0.5 }, gen), 1);
  assert.equal(pickToken(logits, { greedy: true }, gen), 1);
});
