/**
 * MTP speculative decoding (src/infer/deepseek-v3.ts): greedy with 1 … 3 drafted tokens per round is token-identical
 * to plain greedy decoding (drafts both accepted and rejected); the accept/reject rule turns draws from q into draws
 * from p (chi-square on a toy vocabulary, fixed seed); and speculative sampling end to end gives the same output
 * distribution as plain sampling (two-sample chi-square over seeds on the micro preset, whose random drafter
 * disagrees with the model often).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeepseekV3ForCausalLM } from '../../src/models/deepseek-v3/model.js';
import { acceptOrResample, drawFrom, generate, generateSpeculative } from '../../src/infer/deepseek-v3.js';
import { Generator } from '../../src/tensor/random.js';

const prompt = Int32Array.of(5, 17, 99, 3, 42, 7);

/** The tiny preset with the main head's row 0 a scaled copy of row 160 and a drafter that always proposes 0. */
function riggedTiny(): DeepseekV3ForCausalLM {
  const m = new DeepseekV3ForCausalLM('deepseek-v3-tiny', { generator: new Generator(3) });
  m.eval();
  const d = m.config.hidden_size;
  const head = m.lm_head!.weight.storage.data as Float32Array;
  for (let j = 0; j < d; j++) head[j] = head[160 * d + j] * 1.5;
  (m.mtpLayers[0].shared_head.norm.weight.storage.data as Float32Array).fill(0);
  return m;
}

test('greedy speculative decoding with 1, 2 and 3 drafts per round equals plain greedy', () => {
  for (const m of [riggedTiny(), new DeepseekV3ForCausalLM('deepseek-v3-tiny', { generator: new Generator(5) })]) {
    const plain = generate(m, prompt, { maxNewTokens: 30, greedy: true });
    for (const k of [1, 2, 3]) {
      const spec = generateSpeculative(m, prompt, { maxNewTokens: 30, draftTokens: k });
      assert.deepEqual(Array.from(spec.ids), Array.from(plain.ids), `k = ${k}`);
      assert.equal(spec.drafted, k * spec.mainForwards);
      assert.ok(spec.accepted <= spec.drafted);
      // temperature 0 is greedy too
      const t0 = generateSpeculative(m, prompt, { maxNewTokens: 30, draftTokens: k, temperature: 0, seed: 9 });
      assert.deepEqual(Array.from(t0.ids), Array.from(plain.ids));
    }
    m.dispose();
  }
  const m = riggedTiny();
  const spec = generateSpeculative(m, prompt, { maxNewTokens: 30, draftTokens: 2 });
  assert.ok(spec.accepted >= 2 && spec.accepted < spec.drafted, `rigged drafter: accepted ${spec.accepted} of ${spec.drafted}`);
  m.dispose();
});

/** Pearson's statistic of observed counts against expected probabilities (bins with p = 0 must stay empty). */
function chiSquare(counts: number[], p: number[], n: number): number {
  let x = 0;
  counts.forEach((c, i) => {
    if (p[i] === 0) assert.equal(c, 0, `bin ${i} has probability 0 but ${c} draws`);
    else x += (c - n * p[i]) ** 2 / (n * p[i]);
  });
  return x;
}

test('accept/reject turns draft draws (q) into target draws (p): chi-square on a toy vocabulary', () => {
  const p = Float64Array.of(0.4, 0.05, 0.3, 0, 0.25);
  const q = Float64Array.of(0.1, 0.5, 0.1, 0.2, 0.1);
  const gen = new Generator(123);
  const n = 20000;
  const counts = [0, 0, 0, 0, 0];
  let accepted = 0;
  for (let i = 0; i < n; i++) {
    const d = drawFrom(q, gen);
    const [ok, tok] = acceptOrResample(p, q, d, gen);
    counts[tok]++;
    if (ok) accepted++;
  }
  // 4 degrees of freedom (3 with the empty bin): the 99.9 % quantile is 18.5
  assert.ok(chiSquare(counts, Array.from(p), n) < 18.5, `chi-square ${chiSquare(counts, Array.from(p), n)}: ${counts}`);
  // acceptance probability = Σ min(p, q) = 0.1 + 0.05 + 0.1 + 0 + 0.1 = 0.35
  assert.ok(Math.abs(accepted / n - 0.35) < 0.015, `acceptance ${accepted / n}`);
});

test('speculative sampling has the output distribution of plain sampling (micro preset, over seeds)', () => {
  const m = new DeepseekV3ForCausalLM('deepseek-v3-micro', { generator: new Generator(21) });
  m.eval();
  const V = m.config.vocab_size;
  const o = { maxNewTokens: 3, temperature: 0.7, topK: 12 };
  const runs = 700;
  const hist = (spec: boolean) => {
    // the joint of the 2nd and 3rd new tokens folded to one bin each: h[pos][token]
    const h = [new Array(V).fill(0), new Array(V).fill(0)];
    let drafted = 0;
    let accepted = 0;
    for (let s = 0; s < runs; s++) {
      const p = prompt.map((x) => x % V);
      let ids: Int32Array;
      if (spec) {
        const r = generateSpeculative(m, p, { ...o, seed: 1000 + s, draftTokens: 2 });
        drafted += r.drafted;
        accepted += r.accepted;
        ids = r.ids;
      } else ids = generate(m, p, { ...o, seed: 5000 + s }).ids;
      h[0][ids[1]]++;
      h[1][ids[2]]++;
    }
    return { h, drafted, accepted };
  };
  const a = hist(false);
  const b = hist(true);
  assert.ok(b.accepted > 0 && b.accepted < b.drafted, `some drafts accepted, some rejected: ${b.accepted}/${b.drafted}`);
  for (let pos = 0; pos < 2; pos++) {
    // two-sample chi-square over bins seen at least 10 times in all; df ≤ V − 1 = 31 → 99.9 % quantile ≤ 61.1
    let x = 0;
    let df = -1;
    for (let t = 0; t < V; t++) {
      const tot = a.h[pos][t] + b.h[pos][t];
      if (tot < 10) continue;
      df++;
      x += (a.h[pos][t] - b.h[pos][t]) ** 2 / tot;
    }
    assert.ok(df >= 2 && x < 61.1, `position ${pos + 2}: chi-square ${x.toFixed(1)} with ${df} df`);
  }
  m.dispose();
});
