/**
 * The calibrated cloze score (domain-conditional PMI, src/infer/ernie3-score.ts): each item's PMI pick is the argmax
 * of log p(c | context) − log p(c | last context token), recomputed here from `scoreCandidates` (and the summed and
 * per-token picks likewise).
 * Also the sample standard deviation used for the fine-tuning spread of `kiln ernie compare`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/index.js';
import { Ernie3ForPreTraining } from '../../src/models/ernie3/heads.js';
import { clozeAccuracy, scoreCandidates } from '../../src/infer/ernie3-score.js';
import { std } from '../../src/train/ernie3-compare.js';
import type { ClozeItem } from '../../src/train/ernie3-data.js';

const config = { vocab_size: 40, universal: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, nlu: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, nlg: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, max_seq_len: 16, mem_len: 4, hidden_dropout_prob: 0 };

test('cloze PMI: the pick is argmax of log p(c | x) − log p(c | last token of x), beside sum and per token', () => {
  const m = new Ernie3ForPreTraining(config, { generator: new Generator(11) });
  const items: ClozeItem[] = [
    { context: [6, 7, 9], candidates: [[20, 21], [22], [23, 24, 25]], answer: 0 },
    { context: [8, 9], candidates: [[26], [27, 28], [29]], answer: 2 },
    { context: [10, 11, 9], candidates: [[30, 31], [32, 33]], answer: 1 },
    { context: [12, 9], candidates: [[34], [35], [36], [37, 38]], answer: 3 },
  ];
  const r = clozeAccuracy(m, items);
  const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
  let pmi = 0, sum = 0, per = 0;
  for (const it of items) {
    const s = scoreCandidates(m, it.context, it.candidates);
    const p = scoreCandidates(m, it.context.slice(-1), it.candidates);
    if (argmax(s.map((x, j) => x - p[j])) === it.answer) pmi++;
    if (argmax(s) === it.answer) sum++;
    if (argmax(s.map((x, j) => x / it.candidates[j].length)) === it.answer) per++;
  }
  assert.equal(r.accuracyPmi, pmi / items.length);
  assert.equal(r.accuracy, sum / items.length);
  assert.equal(r.accuracyPerToken, per / items.length);
  assert.ok(r.accuracyPmi >= 0 && r.accuracyPmi <= 1);
});

test('compare: sample standard deviation', () => {
  assert.equal(std([0.5]), 0);
  assert.ok(Math.abs(std([0.4, 0.5, 0.6]) - 0.1) < 1e-12);
  assert.ok(Math.abs(std([1, 2, 3, 4]) - Math.sqrt(5 / 3)) < 1e-12);
});
