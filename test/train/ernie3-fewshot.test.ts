/**
 * Few-shot relation fine-tuning (issue 6 item 5): `shotsPerRelation` keeps exactly k training pairs of every
 * relation, a seeded (deterministic) and unbiased subset of the training split that never touches the held-out
 * split; `compareKnowledge` fine-tunes saved backbones (`from`) on such subsets, and its
 * full-split fine-tuning from a saved backbone equals the one right after pre-training.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shotsPerRelation } from '../../src/train/ernie3-finetune.js';
import { compareKnowledge } from '../../src/train/ernie3-compare.js';
import { loadErnieData, syntheticTaskData, type RelationExample } from '../../src/train/ernie3-data.js';

// label counts 10, 7, 12; head [i] makes every pair distinguishable
const labels = [...Array(10).fill(0), ...Array(7).fill(1), ...Array(12).fill(2)] as number[];
const train: RelationExample[] = labels.map((label, i) => ({ head: [100 + ((i * 7) % 29)], tail: [200 + i], label }));
const countsOf = (xs: RelationExample[], n: number) => Array.from({ length: n }, (_, l) => xs.filter((e) => e.label === l).length);

test('shotsPerRelation: exactly k per relation, a subset in training order, deterministic per seed', () => {
  for (const k of [1, 3, 7]) {
    const s = shotsPerRelation(train, k, 3, 11);
    assert.deepEqual(countsOf(s, 3), [k, k, k]);
    // the very objects of the training split, no duplicates, in the split's order
    const idx = s.map((e) => train.indexOf(e));
    assert.ok(idx.every((i) => i >= 0));
    assert.deepEqual(idx, [...new Set(idx)].sort((a, b) => a - b));
    assert.deepEqual(shotsPerRelation(train, k, 3, 11), s, 'same seed → same subset');
  }
  // k = all pairs of the smallest relation takes all of them
  assert.deepEqual(shotsPerRelation(train, 7, 3, 5).filter((e) => e.label === 1), train.filter((e) => e.label === 1));
  // the subset varies with the seed
  const keys = new Set(Array.from({ length: 20 }, (_, seed) => shotsPerRelation(train, 3, 3, seed).map((e) => e.tail[0]).join(',')));
  assert.ok(keys.size >= 15, `only ${keys.size} distinct subsets over 20 seeds`);
});

test('shotsPerRelation: every pair of a relation is about equally likely (not the first k)', () => {
  const hits = new Array<number>(train.length).fill(0);
  const n = 400;
  for (let seed = 0; seed < n; seed++) for (const e of shotsPerRelation(train, 4, 3, 1000 + seed)) hits[train.indexOf(e)]++;
  train.forEach((e, i) => {
    const p = 4 / labels.filter((l) => l === e.label).length;
    assert.ok(Math.abs(hits[i] / n - p) < 0.1, `pair ${i} (label ${e.label}) chosen ${hits[i]}/${n}, expected ≈ ${p.toFixed(2)}`);
  });
});

test('shotsPerRelation: refuses bad k and relations with too few pairs, naming them', () => {
  assert.throws(() => shotsPerRelation(train, 0, 3, 0), /positive integer, got 0/);
  assert.throws(() => shotsPerRelation(train, 2.5, 3, 0), /positive integer, got 2.5/);
  assert.throws(() => shotsPerRelation(train, 8, 3, 0), /relation 1 \(7 pairs\).*at most 7 shots per relation/);
  assert.throws(() => shotsPerRelation(train, 11, 3, 0), /relations 0 \(10 pairs\), 1 \(7 pairs\)/);
  assert.throws(() => shotsPerRelation(train, 1, 4, 0), /relation 3 \(0 pairs\)/);
  assert.throws(() => shotsPerRelation(train, 8, 3, 0, ['is a', 'part of', 'near']), /relation 1 'part of' \(7 pairs\)/);
  assert.throws(() => shotsPerRelation([...train, { head: [1], tail: [2], label: 3 }], 1, 3, 0), /label 3, outside \[0, 3\)/);
});

test('shotsPerRelation on data/ernie: k per relation from the training split, none from the held-out pairs', () => {
  const d = loadErnieData();
  const key = (e: RelationExample) => `${e.head.join(' ')}|${e.tail.join(' ')}|${e.label}`;
  const trainKeys = new Set(d.relationDataset.train.map(key));
  const testPairs = new Set(d.relationDataset.test.map((e) => `${e.head.join(' ')}|${e.tail.join(' ')}`));
  for (const k of [4, 32]) {
    const s = shotsPerRelation(d.relationDataset.train, k, d.relations.length, 3000);
    assert.equal(s.length, k * d.relations.length);
    assert.deepEqual(countsOf(s, d.relations.length), new Array(d.relations.length).fill(k));
    for (const e of s) {
      assert.ok(trainKeys.has(key(e)));
      assert.ok(!testPairs.has(`${e.head.join(' ')}|${e.tail.join(' ')}`));
    }
  }
});

test('compareKnowledge from saved backbones: full fine-tuning reproduces the pre-training run; k-shot runs of k per relation', () => {
  const data = syntheticTaskData();
  const config = { vocab_size: 80, universal: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, nlu: { num_layers: 1, hidden_size: 8, num_heads: 2, intermediate_size: 16 }, nlg: { num_layers: 1, hidden_size: 8, num_heads: 2, intermediate_size: 16 }, max_seq_len: 32, mem_len: 8, hidden_dropout_prob: 0 };
  const base = {
    config, steps: 6, finetuneSteps: 3, finetuneSeeds: 2, seeds: [2], kinds: ['knowledge', 'baseline'] as ('knowledge' | 'baseline')[],
    train: { progressive: { warmupSteps: 2, mode: 'linear' as const, seqLen: [8, 32] as [number, number], batchSize: [2, 4] as [number, number], lr: [1e-3, 1e-3] as [number, number], dropout: [0, 0] as [number, number] } },
  };
  const dir = mkdtempSync(join(tmpdir(), 'ernie3-fewshot-'));
  try {
    const a = compareKnowledge(data, { ...base, out: dir });
    const b = compareKnowledge(data, { ...base, from: dir, finetuneShots: [1, 'all'], finetuneMethods: ['head', 'prompt'], fewShotSteps: 2, clozeShots: [1] });
    for (const kind of ['knowledge', 'baseline'] as const) {
      const [ra, rb] = [a[kind][0], b[kind][0]];
      assert.deepEqual(rb.relationAccuracies, ra.relationAccuracies, `${kind}: full fine-tuning from the saved backbone`);
      assert.equal(rb.clozePmiAccuracy, ra.clozePmiAccuracy);
      assert.equal(rb.relationProbeAccuracy, ra.relationProbeAccuracy);
      assert.equal(rb.perTask, null, 'nothing pre-trained');
      const n = data.relations.length;
      const all = data.relationDataset.train.length;
      assert.deepEqual(rb.byShots.map((x) => [x.method, x.shots, x.steps, x.trainPairs, x.accuracies.length]), [['head', 1, 2, n, 2], ['head', 'all', 3, all, 2], ['prompt', 1, 2, n, 2], ['prompt', 'all', 3, all, 2]]);
      assert.equal(rb.clozeByShots.length, 1);
      assert.equal(rb.clozeByShots[0].shots, 1);
    }
    assert.throws(() => compareKnowledge(data, { ...base, from: join(dir, 'nowhere') }), /no pre-trained model at .*knowledge-seed2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('prompt fine-tuning: scores are the relation probe\'s, zero steps is the probe, and it learns a toy relation set', async () => {
  const { Ernie3ForPreTraining } = await import('../../src/models/ernie3/heads.js');
  const { Generator, noGrad, tidy } = await import('../../src/index.js');
  const { relationProbe } = await import('../../src/infer/ernie3-score.js');
  const { relationPromptScores, finetuneRelationPrompt } = await import('../../src/train/ernie3-finetune.js');
  const config = { vocab_size: 40, universal: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, nlu: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, nlg: { num_layers: 1, hidden_size: 8, num_heads: 2, intermediate_size: 16 }, max_seq_len: 16, mem_len: 4, hidden_dropout_prob: 0 };
  // relation names of 1 and 2 tokens; label = the group of the tail word (tails 9–11 → 0, 12–14 → 1, 15–17 → 2);
  // each head comes with two tails of different groups, so only the tail tells the label; test pairs are new pairs
  const relations = [[5], [6, 7], [8]];
  const ex = (h: number, t: number): RelationExample => ({ head: [h], tail: [t], label: Math.floor((t - 9) / 3) });
  const tr: RelationExample[] = [];
  for (let h = 18; h < 36; h++) for (const d of [0, 4]) tr.push(ex(h, 9 + ((h + d) % 9)));
  const te: RelationExample[] = [];
  for (let h = 18; h < 36; h += 2) te.push(ex(h, 9 + ((h + 7) % 9)));
  const pre = new Ernie3ForPreTraining(config, { generator: new Generator(7) });
  // the batched scores pick what the probe picks, pair by pair
  const picks = noGrad(() => tidy(() => {
    const s = relationPromptScores(pre, tr, relations).contiguous().data() as Float32Array;
    return tr.map((_, i) => { const row = Array.from(s.subarray(i * 3, i * 3 + 3)); return row.indexOf(Math.max(...row)); });
  }));
  assert.deepEqual(picks, relationProbe(pre, tr, relations).predictions);
  const zero = finetuneRelationPrompt(pre.config, pre, relations, { train: tr, test: te }, { steps: 0 });
  assert.equal(zero.testAccuracy, relationProbe(pre, te, relations).accuracy);
  assert.equal(zero.trainAccuracy, relationProbe(pre, tr, relations).accuracy);
  const f = finetuneRelationPrompt(pre.config, pre, relations, { train: tr, test: te }, { steps: 120, batchSize: 16, lr: 3e-3, seed: 2, initSeed: 1 });
  assert.ok(f.lastLoss < 0.3 * f.firstLoss, `loss ${f.firstLoss} → ${f.lastLoss}`);
  assert.equal(f.trainAccuracy, 1);
  assert.ok(f.testAccuracy >= 8 / 9 && zero.testAccuracy <= 5 / 9, `held-out pairs: ${zero.testAccuracy} before, ${f.testAccuracy} after`);
  // the pre-trained model itself is untouched (a copy is fine-tuned)
  assert.deepEqual(relationProbe(pre, tr, relations).predictions, picks);
  assert.throws(() => finetuneRelationPrompt(pre.config, pre, relations, { train: [{ head: [18], tail: [9], label: 3 }], test: te }, { steps: 1 }), /label 3/);
  pre.dispose();
});
