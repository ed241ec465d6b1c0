/**
 * The zero-shot relation probe (src/infer/ernie3-score.ts, `relationProbe`): each pair's pick is the relation whose
 * tokens have the highest mean log-probability at |r| masks in "[CLS] head [MASK]… tail [SEP]", recomputed here from
 * single-row forwards; and a model trained on the knowledge-text format alone (toy triples) answers the probe.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, noGrad, tidy } from '../../src/index.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Ernie3ForPreTraining, idsTensor } from '../../src/models/ernie3/heads.js';
import { collate, universalKnowledgeText } from '../../src/models/ernie3/pretrain-data.js';
import { CLS, MASK, SEP } from '../../src/models/ernie3/synthetic-kg.js';
import { relationProbe } from '../../src/infer/ernie3-score.js';
import type { RelationExample } from '../../src/train/ernie3-data.js';

const config = { vocab_size: 40, universal: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, nlu: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, nlg: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, max_seq_len: 16, mem_len: 4, hidden_dropout_prob: 0 };
const relations = [[30], [31, 32], [33]];

test('relation probe: the pick is the relation with the best mean token log-probability at its masks', () => {
  const m = new Ernie3ForPreTraining(config, { generator: new Generator(5) });
  const pairs: RelationExample[] = [{ head: [6], tail: [7, 8], label: 0 }, { head: [9, 10], tail: [11], label: 1 }, { head: [12], tail: [13], label: 2 }, { head: [14], tail: [15], label: 1 }];
  const r = relationProbe(m, pairs, relations);
  m.eval();
  let correct = 0;
  pairs.forEach((e, i) => {
    const scores = relations.map((rel) => noGrad(() => tidy(() => {
      const ids = [CLS, ...e.head, ...rel.map(() => MASK), ...e.tail, SEP];
      const lp = m.mlm_head.forward(m.ernie.forwardNlu(idsTensor(ids))).logSoftmax(-1).contiguous().data() as Float32Array;
      return rel.reduce((a, tok, k) => a + lp[(1 + e.head.length + k) * config.vocab_size + tok], 0) / rel.length;
    })));
    const best = scores.indexOf(Math.max(...scores));
    assert.equal(r.predictions[i], best, `pair ${i}: ${scores.map((x) => x.toFixed(4)).join(' ')}`);
    if (best === e.label) correct++;
  });
  assert.equal(r.accuracy, correct / pairs.length);
  assert.throws(() => relationProbe(m, [], relations), /needs pairs/);
});

test('relation probe: a model trained on triples alone (knowledge-text format) answers them', () => {
  const m = new Ernie3ForPreTraining(config, { generator: new Generator(1) });
  const triples = Array.from({ length: 6 }, (_, i) => ({ head: [6 + i], tail: [20 + i], label: i % 3 }));
  const gen = new Generator(2);
  const opt = new AdamW(m.parameters(), { lr: 3e-3, weightDecay: 0 });
  const before = relationProbe(m, triples, relations).accuracy;
  m.train();
  for (let step = 0; step < 60; step++)
    tidy(() => {
      const b = collate(triples.map((t) => universalKnowledgeText({ head: t.head, relation: relations[t.label], tail: t.tail }, null, gen, { vocabSize: 40 })));
      m.maskedLm(b).loss.backward();
      opt.step();
      opt.zeroGrad();
    });
  opt.dispose();
  const after = relationProbe(m, triples, relations).accuracy;
  assert.equal(after, 1, `probe accuracy ${before} → ${after}`);
});
