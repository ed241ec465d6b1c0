/**
 * Using a pre-trained ERNIE 3.0: the NLU classification head learns a tiny separable relation set (held-out pairs
 * with unseen heads); the zero-shot cloze scorer sums the candidate tokens' log-probabilities exactly (batched and
 * padded = one at a time) and picks the right completion on a toy NLG trained on one fact per subject.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, noGrad, tidy, fromArray } from '../../src/index.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Ernie3ForPreTraining } from '../../src/models/ernie3/heads.js';
import { relationClassifier, finetuneRelations } from '../../src/train/ernie3-finetune.js';
import { clozeAccuracy, scoreCandidates } from '../../src/infer/ernie3-score.js';
import type { RelationExample } from '../../src/train/ernie3-data.js';

const config = { vocab_size: 40, universal: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, nlu: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, nlg: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, max_seq_len: 16, mem_len: 4, hidden_dropout_prob: 0 };

test('fine-tuning: the classification head over [CLS] learns a separable set and generalises to unseen heads', () => {
  // label = the group of the tail word (tails 5–7 → 0, 8–10 → 1, 11–13 → 2); heads 14–33 train, 34–39 test
  const ex = (h: number, t: number): RelationExample => ({ head: [h], tail: [t], label: Math.floor((t - 5) / 3) });
  const train: RelationExample[] = [];
  for (let h = 14; h < 34; h++) train.push(ex(h, 5 + (h % 9)));
  const test: RelationExample[] = [];
  for (let h = 34; h < 40; h++) test.push(ex(h, 5 + ((h * 2) % 9)));
  const pre = new Ernie3ForPreTraining(config, { generator: new Generator(3) });
  const clf = relationClassifier(pre.config, 3, pre, 1);
  // the backbone is copied from the pre-trained model
  assert.deepEqual(Array.from(clf.ernie.nlu.in_proj.weight.data() as Float32Array), Array.from(pre.ernie.nlu.in_proj.weight.data() as Float32Array));
  const r = finetuneRelations(clf, { train, test }, { steps: 120, batchSize: 16, lr: 3e-3, seed: 2 });
  assert.ok(r.lastLoss < 0.3 * r.firstLoss, `loss ${r.firstLoss} → ${r.lastLoss}`);
  assert.equal(r.trainAccuracy, 1);
  assert.equal(r.testAccuracy, 1);
  assert.throws(() => finetuneRelations(clf, { train: [{ head: [14], tail: [5], label: 7 }], test }, { steps: 1 }), /label 7/);
});

test('cloze: exact batched scores, and the right completion after training on the facts', () => {
  const m = new Ernie3ForPreTraining(config, { generator: new Generator(5) });
  // the scorer's sum equals log-softmax picked by hand from a batch-of-one forward
  const ctx = [1, 6, 7];
  const cands = [[20, 21, 22], [23], [24, 25]];
  const s = scoreCandidates(m, ctx, cands);
  cands.forEach((c, i) => {
    const ids = [...ctx, ...c];
    const manual = noGrad(() => tidy(() => {
      const h = m.ernie.forwardNlg(fromArray(Int32Array.from(ids), [1, ids.length], { dtype: 'i32' }), null);
      for (const t of [...h.memory.universal, ...h.memory.nlg]) t.dispose();
      const lp = m.lm_head.forward(h.hidden).logSoftmax(-1).data() as Float32Array;
      return c.reduce((a, tok, k) => a + lp[(ctx.length + k - 1) * 40 + tok], 0);
    }));
    assert.ok(Math.abs(manual - s[i]) < 1e-4, `candidate ${i}: ${s[i]} vs ${manual}`);
  });
  // facts "[CLS] subject is a kind of object ." with multi-token objects; train the NLG on them
  const facts: [number, number[]][] = [[10, [30, 31]], [11, [32]], [12, [33, 34]], [13, [35]]];
  const seqs = facts.map(([sub, obj]) => [1, sub, 6, 7, 8, 9, ...obj, 2]);
  const L = Math.max(...seqs.map((x) => x.length));
  const ids = new Int32Array(seqs.length * L);
  const labels = new Int32Array(seqs.length * L).fill(-100);
  seqs.forEach((x, b) => x.forEach((t, i) => {
    ids[b * L + i] = t;
    if (i + 1 < x.length) labels[b * L + i] = x[i + 1];
  }));
  const opt = new AdamW(m.parameters(), { lr: 1e-2, weightDecay: 0 });
  m.train();
  for (let step = 0; step < 120; step++)
    tidy(() => {
      const r = m.documentLmLoss(fromArray(ids, [seqs.length, L], { dtype: 'i32' }), fromArray(labels, [seqs.length, L], { dtype: 'i32' }), null);
      for (const t of [...r.memory.universal, ...r.memory.nlg]) t.dispose();
      r.loss.backward();
      opt.step();
      opt.zeroGrad();
    });
  const objs = facts.map(([, o]) => o);
  const items = facts.map(([sub], i) => ({ context: [1, sub, 6, 7, 8, 9], candidates: objs, answer: i }));
  const c = clozeAccuracy(m, items);
  assert.equal(c.chance, 0.25);
  assert.deepEqual(c.predictions, [0, 1, 2, 3]);
  assert.equal(c.accuracy, 1);
  // few-shot: each item's context is prefixed by two other items, solved
  const few = clozeAccuracy(m, items, { shots: 2, separator: [2] });
  assert.equal(few.total, 4);
  assert.ok(few.accuracy >= 0.75, `2-shot accuracy ${few.accuracy}`);
  assert.throws(() => clozeAccuracy(m, items, { shots: 4 }), /shots must be/);
  assert.throws(() => scoreCandidates(m, [], [[3]]), /context is empty/);
});
