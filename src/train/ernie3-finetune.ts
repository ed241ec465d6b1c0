/**
 * Fine-tuning ERNIE 3.0's NLU module with a classification head (issue 6 item 5; the paper's NLU fine-tuning):
 * relation classification between two words. Each example is "[CLS] head [SEP] tail [SEP]" (token types 0 | 1),
 * classified from the NLU output at [CLS] by `Ernie3ForSequenceClassification` (a fresh Linear dt → #relations
 * over the pre-trained backbone, or over a randomly initialised one when no checkpoint is given).
 * Training: `steps` AdamW steps (lr 1e-3 with 10 % linear warm-up then linear decay, weight decay 0.01) on batches
 * of `batchSize` examples drawn (seeded) from the training split, dropout off; evaluation: accuracy on the held-out
 * split (word pairs disjoint from training), and the majority-class rate as the trivial baseline.
 * Few-shot (`shotsPerRelation`): the training split cut to exactly k pairs of every relation, chosen by a seeded
 * shuffle of each relation's pairs (a subset of the training split, in its order; the held-out split is untouched).
 * Prompt fine-tuning (`finetuneRelationPrompt`, PET / LM-BFF style, Schick & Schütze 2021, Gao et al. 2021): no new
 * head — the question is asked in the knowledge-text format the relation probe uses (ernie3-score.ts,
 * "[CLS] head [MASK]… tail [SEP]" through the NLU module and the pre-trained MLM head), each relation scored by the
 * mean log-probability of its name's tokens at as many masks, and the scores of the relations are trained as logits
 * (cross-entropy over the relations). Zero steps is the zero-shot relation probe; evaluation is the probe itself.
 */
import { KilnError } from '../errors.js';
import { Ernie3ForPreTraining, Ernie3ForSequenceClassification } from '../models/ernie3/heads.js';
import { collate, type Example } from '../models/ernie3/pretrain-data.js';
import { CLS, MASK, SEP } from '../models/ernie3/synthetic-kg.js';
import { relationProbe } from '../infer/ernie3-score.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { noGrad } from '../tensor/autograd.js';
import { fromArray } from '../tensor/creation.js';
import { crossEntropy } from '../tensor/ops/nn.js';
import type { Tensor } from '../tensor/tensor.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import type { RelationExample } from './ernie3-data.js';

export interface FinetuneOptions {
  steps: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  onStep?: (s: { step: number; loss: number; lr: number }) => void;
}

export interface FinetuneResult {
  trainAccuracy: number;
  testAccuracy: number;
  /** Accuracy of always answering the training split's most frequent relation. */
  majorityAccuracy: number;
  testSize: number;
  trainSize: number;
  firstLoss: number;
  lastLoss: number;
  seconds: number;
}

/** "[CLS] head [SEP] tail [SEP]" with token types 0 | 1. */
export function pairExample(e: RelationExample): Example {
  const inputIds = [CLS, ...e.head, SEP, ...e.tail, SEP];
  return { inputIds, tokenTypeIds: [...new Array<number>(e.head.length + 2).fill(0), ...new Array<number>(e.tail.length + 1).fill(1)], label: e.label };
}

/**
 * Exactly `k` training pairs of each relation 0 … numLabels − 1: per relation, the first k of its pairs after a
 * Fisher–Yates shuffle seeded by `seed` (each relation's own draw from one generator, in label order); returned in the
 * training split's order. Throws when k is not a positive integer or a relation has fewer than k pairs (named by
 * `names`, when given).
 */
export function shotsPerRelation(train: RelationExample[], k: number, numLabels: number, seed: number, names?: string[]): RelationExample[] {
  if (!Number.isInteger(k) || k < 1) throw new KilnError('E_ARG', `few-shot relation fine-tuning: shots per relation must be a positive integer, got ${k}`);
  const byLabel: number[][] = Array.from({ length: numLabels }, () => []);
  train.forEach((e, i) => {
    if (!(Number.isInteger(e.label) && e.label >= 0 && e.label < numLabels)) throw new KilnError('E_ARG', `few-shot relation fine-tuning: training pair ${i} has label ${e.label}, outside [0, ${numLabels})`);
    byLabel[e.label].push(i);
  });
  const short = byLabel.map((xs, l) => [l, xs.length] as const).filter(([, n]) => n < k);
  if (short.length > 0)
    throw new KilnError('E_ARG', `few-shot relation fine-tuning: ${k} shots per relation asked, but relation${short.length > 1 ? 's' : ''} ${short.map(([l, n]) => `${l}${names?.[l] ? ` '${names[l]}'` : ''} (${n} pairs)`).join(', ')} of the training split ha${short.length > 1 ? 've' : 's'} fewer; use at most ${Math.min(...byLabel.map((xs) => xs.length))} shots per relation`);
  const gen = new Generator(seed);
  const keep = new Set<number>();
  for (const xs of byLabel) {
    const idx = xs.slice();
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(gen.uniform() * (i + 1));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    for (const i of idx.slice(0, k)) keep.add(i);
  }
  return train.filter((_, i) => keep.has(i));
}

/** A classifier whose backbone is a copy of the pre-trained model's (or random when `pretrained` is null). */
export function relationClassifier(config: Ernie3ForPreTraining['config'], numLabels: number, pretrained: Ernie3ForPreTraining | null, seed = 0): Ernie3ForSequenceClassification {
  const clf = new Ernie3ForSequenceClassification(config, numLabels, { generator: new Generator(seed) });
  if (pretrained) clf.ernie.loadStateDict(pretrained.ernie.stateDict());
  return clf;
}

export function accuracyOf(model: Ernie3ForSequenceClassification, xs: RelationExample[], batchSize = 64): number {
  const was = model.training;
  model.eval();
  let correct = 0;
  try {
    for (let i = 0; i < xs.length; i += batchSize) {
      const part = xs.slice(i, i + batchSize);
      correct += noGrad(() => tidy(() => {
        const pred = model.forward(collate(part.map(pairExample))).argmax(-1).contiguous().data();
        return part.reduce((n, e, k) => n + (Number(pred[k]) === e.label ? 1 : 0), 0);
      }));
    }
  } finally {
    model.train(was);
  }
  return correct / xs.length;
}

/** Fine-tunes `model` on `train` and measures accuracy on both splits. */
export function finetuneRelations(model: Ernie3ForSequenceClassification, split: { train: RelationExample[]; test: RelationExample[] }, o: FinetuneOptions): FinetuneResult {
  const { train, test } = split;
  if (train.length === 0 || test.length === 0) throw new KilnError('E_ARG', `relation fine-tuning: needs training and test examples, got ${train.length} and ${test.length}`);
  const maxLen = Math.max(...[...train, ...test].map((e) => e.head.length + e.tail.length + 3));
  if (maxLen > model.ernie.config.max_seq_len) throw new KilnError('E_ARG', `relation fine-tuning: a ${maxLen}-token pair exceeds max_seq_len ${model.ernie.config.max_seq_len}`);
  for (const e of [...train, ...test])
    if (!(e.label >= 0 && e.label < model.numLabels)) throw new KilnError('E_ARG', `relation fine-tuning: label ${e.label} is outside [0, ${model.numLabels})`);
  const run = trainOnPairs(model, model.parameters(), train, o, (pairs) => {
    const batch = collate(pairs.map(pairExample));
    return crossEntropy(model.forward(batch), batch.label!);
  });
  return resultOf(split, run, (xs) => accuracyOf(model, xs));
}

/**
 * The loop both fine-tuning methods share: `o.steps` AdamW steps (lr `o.lr` 1e-3 with 10 % linear warm-up then
 * linear decay to 5 %, betas 0.9/0.98, weight decay 0.01 on matrices only), each on `o.batchSize` (32) pairs drawn
 * with replacement from `train` (seeded), loss `lossOf(pairs)`, gradient clip 1.0, dropout off; leaves `model` in
 * eval mode. Returns the losses and the seconds taken.
 */
function trainOnPairs(model: Ernie3ForSequenceClassification | Ernie3ForPreTraining, params: Tensor[], train: RelationExample[], o: FinetuneOptions,
    lossOf: (pairs: RelationExample[]) => Tensor): { losses: number[]; t0: number } {
  const B = o.batchSize ?? 32;
  const peak = o.lr ?? 1e-3;
  const warm = Math.max(1, Math.round(0.1 * o.steps));
  const lrAt = (s: number) => (s < warm ? (peak * (s + 1)) / warm : peak * Math.max(0.05, 1 - (s - warm) / Math.max(1, o.steps - warm)));
  const opt = new AdamW(
    [{ params: params.filter((p) => p.ndim >= 2) }, { params: params.filter((p) => p.ndim < 2), weightDecay: 0 }],
    { lr: peak, betas: [0.9, 0.98], weightDecay: 0.01 },
  );
  const gen = new Generator(o.seed ?? 0);
  const t0 = performance.now();
  const losses: number[] = [];
  model.ernie.setDropout(0);
  model.train();
  try {
    for (let step = 0; step < o.steps; step++) {
      opt.setLr(lrAt(step));
      const loss = tidy(() => {
        const l = lossOf(Array.from({ length: B }, () => train[Math.floor(gen.uniform() * train.length)]));
        l.backward();
        return l.item();
      });
      clipGradNorm(params, 1.0);
      opt.step();
      opt.zeroGrad();
      losses.push(loss);
      o.onStep?.({ step: step + 1, loss, lr: lrAt(step) });
    }
  } finally {
    opt.dispose();
    model.eval();
  }
  return { losses, t0 };
}

/** Accuracy on both splits, the majority-class rate of the test split, and the loss summary. */
function resultOf(split: { train: RelationExample[]; test: RelationExample[] }, run: { losses: number[]; t0: number }, accuracy: (xs: RelationExample[]) => number): FinetuneResult {
  const { train, test } = split;
  const counts = new Map<number, number>();
  for (const e of train) counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
  const majority = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const { losses } = run;
  return {
    trainAccuracy: accuracy(train), testAccuracy: accuracy(test),
    majorityAccuracy: test.filter((e) => e.label === majority).length / test.length,
    testSize: test.length, trainSize: train.length,
    firstLoss: losses.length ? mean(losses.slice(0, 10)) : NaN, lastLoss: losses.length ? mean(losses.slice(-10)) : NaN,
    seconds: (performance.now() - run.t0) / 1000,
  };
}

/**
 * The relation scores [B, #relations] of prompt fine-tuning for a batch of pairs: per pair one row
 * "[CLS] head [MASK]×n tail [SEP]" for each distinct relation-name length n; relation r's score is the mean over its
 * tokens r_k of log softmax(mlm_head(NLU))[mask k of the n = |r| row, r_k] — exactly `relationProbe`'s score.
 */
export function relationPromptScores(model: Ernie3ForPreTraining, pairs: RelationExample[], relations: number[][]): Tensor {
  const lens = [...new Set(relations.map((r) => r.length))];
  const rows = pairs.flatMap((e) => lens.map((n) => ({ inputIds: [CLS, ...e.head, ...new Array<number>(n).fill(MASK), ...e.tail, SEP], tokenTypeIds: new Array<number>(e.head.length + e.tail.length + n + 2).fill(0) })));
  const b = collate(rows);
  const T = b.inputIds.shape[1];
  const pos: number[] = [];
  const tok: number[] = [];
  const R = relations.length;
  const Q = pairs.length * relations.reduce((a, r) => a + r.length, 0);
  const w = new Float32Array(pairs.length * R * Q);
  pairs.forEach((e, i) => relations.forEach((r, j) => r.forEach((t, k) => {
    w[(i * R + j) * Q + pos.length] = 1 / r.length;
    pos.push(((i * lens.length + lens.indexOf(r.length)) * T + 1 + e.head.length + k));
    tok.push(t);
  })));
  const h = model.ernie.forwardNlu(b.inputIds, { tokenTypeIds: b.tokenTypeIds, attentionMask: b.attentionMask }); // [rows, T, dt]
  const at = h.reshape(-1, h.shape[2]).indexSelect(0, fromArray(Int32Array.from(pos), [Q], { dtype: 'i32' })); // [Q, dt]
  const lp = model.mlm_head.forward(at).logSoftmax(-1).gather(1, fromArray(Int32Array.from(tok), [Q, 1], { dtype: 'i32' })); // [Q, 1]
  return fromArray(w, [pairs.length * R, Q]).matmul(lp).reshape(pairs.length, R);
}

/** Prompt fine-tuning (see the header) of a copy of `pretrained` (random weights when null; `seed` draws them). */
export function finetuneRelationPrompt(
  config: Ernie3ForPreTraining['config'], pretrained: Ernie3ForPreTraining | null, relations: number[][], split: { train: RelationExample[]; test: RelationExample[] }, o: FinetuneOptions & { initSeed?: number },
): FinetuneResult {
  const { train, test } = split;
  if (train.length === 0 || test.length === 0) throw new KilnError('E_ARG', `relation prompt fine-tuning: needs training and test examples, got ${train.length} and ${test.length}`);
  if (relations.length === 0 || relations.some((r) => r.length === 0)) throw new KilnError('E_ARG', 'relation prompt fine-tuning: needs non-empty relation names');
  const longest = Math.max(...relations.map((r) => r.length));
  for (const e of [...train, ...test]) {
    if (!(e.label >= 0 && e.label < relations.length)) throw new KilnError('E_ARG', `relation prompt fine-tuning: label ${e.label} is outside [0, ${relations.length})`);
    if (e.head.length + e.tail.length + longest + 2 > config.max_seq_len) throw new KilnError('E_ARG', `relation prompt fine-tuning: a pair with its relation masks exceeds max_seq_len ${config.max_seq_len}`);
  }
  const model = new Ernie3ForPreTraining(config, { generator: new Generator(o.initSeed ?? 0) });
  if (pretrained) model.loadStateDict(pretrained.stateDict());
  // the path the prompt reads: embeddings, universal, NLU, MLM head (NLG and the other heads get no gradient)
  const params = [...model.ernie.embeddings.parameters(), ...model.ernie.universal.parameters(), ...model.ernie.nlu.parameters(), ...model.mlm_head.parameters()];
  try {
    const run = trainOnPairs(model, params, train, o, (pairs) =>
      crossEntropy(relationPromptScores(model, pairs, relations), fromArray(Int32Array.from(pairs.map((e) => e.label)), [pairs.length], { dtype: 'i32' })));
    return resultOf(split, run, (xs) => relationProbe(model, xs, relations).accuracy);
  } finally {
    model.dispose();
  }
}
