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
 */
import { KilnError } from '../errors.js';
import { Ernie3ForSequenceClassification, type Ernie3ForPreTraining } from '../models/ernie3/heads.js';
import { collate, type Example } from '../models/ernie3/pretrain-data.js';
import { CLS, SEP } from '../models/ernie3/synthetic-kg.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { noGrad } from '../tensor/autograd.js';
import { crossEntropy } from '../tensor/ops/nn.js';
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
 * training split's order. Throws when k is not a positive integer or a relation has fewer than k pairs.
 */
export function shotsPerRelation(train: RelationExample[], k: number, numLabels: number, seed: number): RelationExample[] {
  if (!Number.isInteger(k) || k < 1) throw new KilnError('E_ARG', `few-shot relation fine-tuning: shots per relation must be a positive integer, got ${k}`);
  const byLabel: number[][] = Array.from({ length: numLabels }, () => []);
  train.forEach((e, i) => {
    if (!(Number.isInteger(e.label) && e.label >= 0 && e.label < numLabels)) throw new KilnError('E_ARG', `few-shot relation fine-tuning: training pair ${i} has label ${e.label}, outside [0, ${numLabels})`);
    byLabel[e.label].push(i);
  });
  const short = byLabel.map((xs, l) => [l, xs.length] as const).filter(([, n]) => n < k);
  if (short.length > 0)
    throw new KilnError('E_ARG', `few-shot relation fine-tuning: ${k} shots per relation asked, but relation${short.length > 1 ? 's' : ''} ${short.map(([l, n]) => `${l} (${n} pairs)`).join(', ')} of the training split ha${short.length > 1 ? 've' : 's'} fewer; use at most ${Math.min(...byLabel.map((xs) => xs.length))} shots per relation`);
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
  const B = o.batchSize ?? 32;
  const peak = o.lr ?? 1e-3;
  const warm = Math.max(1, Math.round(0.1 * o.steps));
  const lrAt = (s: number) => (s < warm ? (peak * (s + 1)) / warm : peak * Math.max(0.05, 1 - (s - warm) / Math.max(1, o.steps - warm)));
  const params = model.parameters();
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
        const batch = collate(Array.from({ length: B }, () => pairExample(train[Math.floor(gen.uniform() * train.length)])));
        const l = crossEntropy(model.forward(batch), batch.label!);
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
  const counts = new Map<number, number>();
  for (const e of train) counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
  const majority = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    trainAccuracy: accuracyOf(model, train), testAccuracy: accuracyOf(model, test),
    majorityAccuracy: test.filter((e) => e.label === majority).length / test.length,
    testSize: test.length, trainSize: train.length,
    firstLoss: mean(losses.slice(0, 10)), lastLoss: mean(losses.slice(-10)), seconds: (performance.now() - t0) / 1000,
  };
}
