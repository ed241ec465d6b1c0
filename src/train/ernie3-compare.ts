/**
 * The knowledge ablation of issue 6 item 5: the same model, seed, progressive schedule and number of steps
 * pre-trained twice — with the knowledge tasks (knowledge-masked LM over entity/phrase spans + universal
 * knowledge-text prediction) and without them (plain token masking, no knowledge-text task) — then each
 *   (a) fine-tuned for relation classification (same steps, seed, head init) → held-out accuracy, and
 *   (b) used zero-shot through the NLG module on the cloze items → accuracy;
 * plus a control that skips pre-training (random backbone, same fine-tuning; untrained NLG on the cloze).
 * With several seeds every number is reported per seed and as a mean.
 */
import { join } from 'node:path';
import type { Ernie3Config } from '../models/ernie3/config.js';
import { Ernie3ForPreTraining } from '../models/ernie3/heads.js';
import type { Ernie3Task } from '../models/ernie3/multitask.js';
import { Generator } from '../tensor/random.js';
import { clozeAccuracy } from '../infer/ernie3-score.js';
import type { ErnieTaskData } from './ernie3-data.js';
import { finetuneRelations, relationClassifier } from './ernie3-finetune.js';
import { trainErnie3, type Ernie3StepLog, type Ernie3TrainOptions, type TaskStats } from './ernie3.js';

export interface CompareOptions {
  config: Partial<Ernie3Config>;
  steps: number;
  finetuneSteps: number;
  seeds: number[];
  train: Omit<Ernie3TrainOptions, 'steps' | 'knowledge' | 'seed' | 'onStep' | 'out' | 'checkpointEvery' | 'untilStep'>;
  finetuneBatch?: number;
  finetuneLr?: number;
  /** Save each pre-trained model to `<out>/<knowledge|baseline>-seed<s>` (a kiln train ernie directory). */
  out?: string;
  onStep?: (run: string, s: Ernie3StepLog) => void;
  onRun?: (run: string) => void;
}

export interface CompareRun {
  seed: number;
  relationAccuracy: number;
  relationTrainAccuracy: number;
  clozeAccuracy: number;
  /** Cloze accuracy of the per-token (length-normalised) score. */
  clozePerTokenAccuracy: number;
  tokens: number;
  pretrainSeconds: number;
  perTask: Record<Ernie3Task, TaskStats> | null;
}

export interface CompareResult {
  steps: number;
  finetuneSteps: number;
  knowledge: CompareRun[];
  baseline: CompareRun[];
  scratch: CompareRun[];
  mean: Record<'knowledge' | 'baseline' | 'scratch', { relationAccuracy: number; clozeAccuracy: number; clozePerTokenAccuracy: number; tokens: number }>;
  relationMajority: number;
  clozeChance: number;
  testPairs: number;
  clozeItems: number;
}

export function compareKnowledge(data: ErnieTaskData, o: CompareOptions): CompareResult {
  const runs = { knowledge: [] as CompareRun[], baseline: [] as CompareRun[], scratch: [] as CompareRun[] };
  let majority = 0;
  let chance = 0;
  for (const seed of o.seeds)
    for (const kind of ['knowledge', 'baseline', 'scratch'] as const) {
      const name = `${kind} seed ${seed}`;
      o.onRun?.(name);
      const model = new Ernie3ForPreTraining(o.config, { generator: new Generator(seed) });
      let tokens = 0;
      let pretrainSeconds = 0;
      let perTask: Record<Ernie3Task, TaskStats> | null = null;
      if (kind !== 'scratch') {
        const out = o.out ? join(o.out, `${kind}-seed${seed}`) : undefined;
        const r = trainErnie3(model, data, { ...o.train, steps: o.steps, seed, knowledge: kind === 'knowledge', out, onStep: (s) => o.onStep?.(name, s) });
        const last = r.logs[r.logs.length - 1];
        tokens = last?.tokens ?? 0;
        pretrainSeconds = last?.seconds ?? 0;
        perTask = r.perTask;
      }
      const cloze = clozeAccuracy(model, data.cloze);
      chance = cloze.chance;
      const clf = relationClassifier(model.config, data.relations.length, kind === 'scratch' ? null : model, seed + 1000);
      const f = finetuneRelations(clf, data.relationDataset, { steps: o.finetuneSteps, batchSize: o.finetuneBatch, lr: o.finetuneLr, seed: seed + 2000 });
      majority = f.majorityAccuracy;
      runs[kind].push({ seed, relationAccuracy: f.testAccuracy, relationTrainAccuracy: f.trainAccuracy, clozeAccuracy: cloze.accuracy, clozePerTokenAccuracy: cloze.accuracyPerToken, tokens, pretrainSeconds, perTask });
      clf.dispose();
      model.dispose();
    }
  const mean = (xs: CompareRun[]) => ({
    relationAccuracy: xs.reduce((a, r) => a + r.relationAccuracy, 0) / xs.length,
    clozeAccuracy: xs.reduce((a, r) => a + r.clozeAccuracy, 0) / xs.length,
    clozePerTokenAccuracy: xs.reduce((a, r) => a + r.clozePerTokenAccuracy, 0) / xs.length,
    tokens: xs.reduce((a, r) => a + r.tokens, 0) / xs.length,
  });
  return {
    steps: o.steps, finetuneSteps: o.finetuneSteps, ...runs,
    mean: { knowledge: mean(runs.knowledge), baseline: mean(runs.baseline), scratch: mean(runs.scratch) },
    relationMajority: majority, clozeChance: chance, testPairs: data.relationDataset.test.length, clozeItems: data.cloze.length,
  };
}
