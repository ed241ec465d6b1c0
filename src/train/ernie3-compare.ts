/**
 * The knowledge ablation of issue 6 item 5: the same model, seed, progressive schedule and number of steps
 * pre-trained twice — with the knowledge tasks (knowledge-masked LM over entity/phrase spans + universal
 * knowledge-text prediction) and without them (plain token masking, no knowledge-text task) — then each
 *   (a) fine-tuned for relation classification (same steps, seed, head init) → held-out accuracy, and
 *   (b) used zero-shot through the NLG module on the cloze items → accuracy;
 * plus a control that skips pre-training (random backbone, same fine-tuning; untrained NLG on the cloze).
 * With several seeds every number is reported per seed and as a mean. Fine-tuning is noisy (a few points between
 * fine-tuning seeds of one backbone), so each pre-trained model is fine-tuned `finetuneSeeds` times (fine-tuning
 * seeds k = 0 … n−1: head init seed + 1000 + 100k, batch order seed + 2000 + 100k) and its relation accuracy is the
 * mean over them; `relationAccuracies` keeps each. The cloze is scored three ways (see ernie3-score.ts): summed
 * log-probability, per token, and domain-conditional PMI (the calibrated one, comparing like with like). Before
 * fine-tuning, `relationProbe` (ernie3-score.ts) also asks each backbone zero-shot, in the knowledge-text format,
 * which relation links each held-out pair (`relationProbeAccuracy`). The "seen" cloze (`data.clozeSeen`: items from
 * train pairs, facts the knowledge tasks read) is scored zero-shot by PMI too, before fine-tuning
 * (`clozeSeenPmiAccuracy`; NaN when the data has no seen items): recall beside the held-out cloze's generalisation.
 * `knowledgeWeights` gives the knowledge run its own task weights (default: `train.weights`), e.g. to split the
 * masked-LM share between knowledge MLM and knowledge text so the other tasks get the baseline's draws.
 * Few-shot (`finetuneShots`): each backbone is also fine-tuned on k training pairs per relation (`shotsPerRelation`;
 * fine-tuning seed k draws its subset with seed + 3000 + 100k, so the subset varies with the fine-tuning seed and is
 * the same for every backbone of one pre-training seed — paired), for `fewShotSteps` steps; 'all' is the full split
 * for `finetuneSteps` steps (exactly the fine-tuning above). `clozeShots` adds few-shot cloze scores.
 * `finetuneMethods` ['head', 'prompt'] also runs prompt fine-tuning (`finetuneRelationPrompt`: the relation-probe
 * question through the MLM head, no new head) on the same subsets, steps and seeds.
 * `from` skips pre-training: the backbones are loaded from `<from>/<kind>-seed<s>` (the layout `out` writes).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import type { Ernie3Config } from '../models/ernie3/config.js';
import { Ernie3ForPreTraining } from '../models/ernie3/heads.js';
import type { Ernie3Task } from '../models/ernie3/multitask.js';
import { Generator } from '../tensor/random.js';
import { clozeAccuracy, relationProbe } from '../infer/ernie3-score.js';
import type { ErnieTaskData } from './ernie3-data.js';
import { finetuneRelationPrompt, finetuneRelations, relationClassifier, shotsPerRelation } from './ernie3-finetune.js';
import { loadErnie3, trainErnie3, type Ernie3StepLog, type Ernie3TrainOptions, type TaskStats } from './ernie3.js';

export interface CompareOptions {
  config: Partial<Ernie3Config>;
  steps: number;
  finetuneSteps: number;
  seeds: number[];
  train: Omit<Ernie3TrainOptions, 'steps' | 'knowledge' | 'seed' | 'onStep' | 'out' | 'checkpointEvery' | 'untilStep'>;
  /** Task weights of the knowledge run (default `train.weights`; the baseline always uses `train.weights`). */
  knowledgeWeights?: Partial<Record<Ernie3Task, number>>;
  /** Which models to run (default all three; a mean over none is NaN). */
  kinds?: ('knowledge' | 'baseline' | 'scratch')[];
  finetuneBatch?: number;
  finetuneLr?: number;
  /** Fine-tuning runs per pre-trained model (different head init and batch order). Default 1. */
  finetuneSeeds?: number;
  /** Save each pre-trained model to `<out>/<knowledge|baseline>-seed<s>` (a kiln train ernie directory). */
  out?: string;
  /** Load the pre-trained backbones from `<from>/<kind>-seed<s>` instead of pre-training them. */
  from?: string;
  /** Fine-tuning set sizes: k pairs per relation, or 'all' (the full training split). Default ['all']. */
  finetuneShots?: (number | 'all')[];
  /** 'head': a new classifier over [CLS] (default); 'prompt': the relation-probe format through the MLM head. */
  finetuneMethods?: ('head' | 'prompt')[];
  /** Fine-tuning steps of the k-per-relation runs (default `finetuneSteps`). */
  fewShotSteps?: number;
  /** Few-shot cloze: also score the cloze with k solved items before each (`clozeAccuracy`'s shots), per k. */
  clozeShots?: number[];
  /** Token ids after each solved cloze item (default none). */
  clozeSeparator?: number[];
  onStep?: (run: string, s: Ernie3StepLog) => void;
  onRun?: (run: string) => void;
  onFinetune?: (run: string, shots: number | 'all', finetuneSeed: number, testAccuracy: number) => void;
}

export interface CompareRun {
  seed: number;
  /** Held-out relation accuracy, mean over the fine-tuning seeds. */
  relationAccuracy: number;
  /** Held-out relation accuracy of each fine-tuning seed. */
  relationAccuracies: number[];
  relationTrainAccuracy: number;
  clozeAccuracy: number;
  /** Cloze accuracy of the per-token (length-normalised) score. */
  clozePerTokenAccuracy: number;
  /** Cloze accuracy of the domain-conditional PMI score. */
  clozePmiAccuracy: number;
  /** Zero-shot PMI accuracy on the seen cloze (train pairs); NaN when the data has none. */
  clozeSeenPmiAccuracy: number;
  /** Zero-shot relation accuracy on the held-out pairs through the MLM head ("[CLS] head [MASK] tail [SEP]"). */
  relationProbeAccuracy: number;
  /** Held-out relation accuracy per fine-tuning set size (k per relation or 'all'), one entry per fine-tuning seed. */
  byShots: { method: 'head' | 'prompt'; shots: number | 'all'; steps: number; trainPairs: number; accuracies: number[]; trainAccuracies: number[] }[];
  /** Few-shot cloze accuracies (summed, per token, PMI) per number of solved items in the context. */
  clozeByShots: { shots: number; accuracy: number; perToken: number; pmi: number }[];
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
  mean: Record<'knowledge' | 'baseline' | 'scratch', { relationAccuracy: number; relationSpread: number; clozeAccuracy: number; clozePerTokenAccuracy: number; clozePmiAccuracy: number; clozeSeenPmiAccuracy: number; relationProbeAccuracy: number; tokens: number }>;
  relationMajority: number;
  clozeChance: number;
  testPairs: number;
  clozeItems: number;
  clozeSeenItems: number;
}

const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
/** Sample standard deviation (0 for fewer than two values). */
export function std(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = avg(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

export function compareKnowledge(data: ErnieTaskData, o: CompareOptions): CompareResult {
  const runs = { knowledge: [] as CompareRun[], baseline: [] as CompareRun[], scratch: [] as CompareRun[] };
  const counts = new Map<number, number>();
  for (const e of data.relationDataset.train) counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0];
  const majority = data.relationDataset.test.filter((e) => e.label === top).length / Math.max(1, data.relationDataset.test.length);
  let chance = 0;
  for (const seed of o.seeds)
    for (const kind of o.kinds ?? (['knowledge', 'baseline', 'scratch'] as const)) {
      const name = `${kind} seed ${seed}`;
      o.onRun?.(name);
      let model: Ernie3ForPreTraining;
      let tokens = 0;
      let pretrainSeconds = 0;
      let perTask: Record<Ernie3Task, TaskStats> | null = null;
      if (kind !== 'scratch' && o.from) {
        const dir = join(o.from, `${kind}-seed${seed}`);
        if (!existsSync(join(dir, 'config.json'))) throw new KilnError('E_ARG', `ernie compare --from: no pre-trained model at ${dir} (expected <from>/<knowledge|baseline>-seed<s>, as --out writes)`);
        model = loadErnie3(dir);
      } else {
        model = new Ernie3ForPreTraining(o.config, { generator: new Generator(seed) });
        if (kind !== 'scratch') {
          const out = o.out ? join(o.out, `${kind}-seed${seed}`) : undefined;
          const weights = kind === 'knowledge' ? (o.knowledgeWeights ?? o.train.weights) : o.train.weights;
          const r = trainErnie3(model, data, { ...o.train, weights, steps: o.steps, seed, knowledge: kind === 'knowledge', out, onStep: (s) => o.onStep?.(name, s) });
          const last = r.logs[r.logs.length - 1];
          tokens = last?.tokens ?? 0;
          pretrainSeconds = last?.seconds ?? 0;
          perTask = r.perTask;
        }
      }
      const cloze = clozeAccuracy(model, data.cloze);
      const clozeSeen = data.clozeSeen.length ? clozeAccuracy(model, data.clozeSeen).accuracyPmi : NaN;
      const clozeByShots = (o.clozeShots ?? []).map((k) => {
        const c = clozeAccuracy(model, data.cloze, { shots: k, separator: o.clozeSeparator });
        return { shots: k, accuracy: c.accuracy, perToken: c.accuracyPerToken, pmi: c.accuracyPmi };
      });
      const probe = relationProbe(model, data.relationDataset.test, data.relations.map((r) => r.split(' ').map(data.id)));
      chance = cloze.chance;
      const byShots: CompareRun['byShots'] = [];
      const relNames = data.relations.map((r) => r.split(' ').map(data.id));
      for (const method of o.finetuneMethods ?? ['head'])
        for (const shots of o.finetuneShots ?? ['all']) {
          const steps = shots === 'all' ? o.finetuneSteps : (o.fewShotSteps ?? o.finetuneSteps);
          const entry: CompareRun['byShots'][number] = { method, shots, steps, trainPairs: 0, accuracies: [], trainAccuracies: [] };
          for (let k = 0; k < (o.finetuneSeeds ?? 1); k++) {
            const train = shots === 'all' ? data.relationDataset.train : shotsPerRelation(data.relationDataset.train, shots, data.relations.length, seed + 3000 + 100 * k, data.relations);
            const split = { train, test: data.relationDataset.test };
            const fo = { steps, batchSize: o.finetuneBatch, lr: o.finetuneLr, seed: seed + 2000 + 100 * k };
            let f;
            if (method === 'prompt') f = finetuneRelationPrompt(model.config, kind === 'scratch' ? null : model, relNames, split, { ...fo, initSeed: seed + 1000 + 100 * k });
            else {
              const clf = relationClassifier(model.config, data.relations.length, kind === 'scratch' ? null : model, seed + 1000 + 100 * k);
              f = finetuneRelations(clf, split, fo);
              clf.dispose();
            }
            entry.trainPairs = train.length;
            entry.accuracies.push(f.testAccuracy);
            entry.trainAccuracies.push(f.trainAccuracy);
            o.onFinetune?.(name, shots, k, f.testAccuracy);
          }
          byShots.push(entry);
        }
      const full = byShots.find((b) => b.method === 'head' && b.shots === 'all');
      const accs = full?.accuracies ?? [];
      const trainAccs = full?.trainAccuracies ?? [];
      runs[kind].push({
        seed, relationAccuracy: accs.length ? avg(accs) : NaN, relationAccuracies: accs, relationTrainAccuracy: trainAccs.length ? avg(trainAccs) : NaN, clozeAccuracy: cloze.accuracy,
        clozePerTokenAccuracy: cloze.accuracyPerToken, clozePmiAccuracy: cloze.accuracyPmi, clozeSeenPmiAccuracy: clozeSeen, relationProbeAccuracy: probe.accuracy, byShots, clozeByShots, tokens, pretrainSeconds, perTask,
      });
      model.dispose();
    }
  const mean = (xs: CompareRun[]) => ({
    relationAccuracy: xs.reduce((a, r) => a + r.relationAccuracy, 0) / xs.length,
    relationSpread: std(xs.flatMap((r) => r.relationAccuracies)),
    clozePmiAccuracy: xs.reduce((a, r) => a + r.clozePmiAccuracy, 0) / xs.length,
    clozeSeenPmiAccuracy: xs.reduce((a, r) => a + r.clozeSeenPmiAccuracy, 0) / xs.length,
    relationProbeAccuracy: xs.reduce((a, r) => a + r.relationProbeAccuracy, 0) / xs.length,
    clozeAccuracy: xs.reduce((a, r) => a + r.clozeAccuracy, 0) / xs.length,
    clozePerTokenAccuracy: xs.reduce((a, r) => a + r.clozePerTokenAccuracy, 0) / xs.length,
    tokens: xs.reduce((a, r) => a + r.tokens, 0) / xs.length,
  });
  return {
    steps: o.steps, finetuneSteps: o.finetuneSteps, ...runs,
    mean: { knowledge: mean(runs.knowledge), baseline: mean(runs.baseline), scratch: mean(runs.scratch) },
    relationMajority: majority, clozeChance: chance, testPairs: data.relationDataset.test.length, clozeItems: data.cloze.length,
    clozeSeenItems: data.clozeSeen.length,
  };
}
