/**
 * ERNIE 3.0 training commands, wired into `kiln` by src/cli/main.ts through
 * `registerErnieTrainCommands(program, train)`:
 *   kiln train ernie --config <preset> --steps N --out <dir> [--data data/ernie|synthetic|<dir>] [--no-knowledge]
 *                    [--resume] [--warmup W] [--progressive linear|stepwise] [--stages k] [--seq a:b] [--batch a:b]
 *                    [--lr a:b] [--dropout a:b] [--weights task=w,...] [--checkpoint-every K] [--seed s] [--json]
 *     pre-trains Ernie3ForPreTraining on the five tasks (src/train/ernie3.ts) with progressive learning; progress bar
 *     on stderr, a log line every tenth of the run (task loss/accuracy, phase, shape, lr, dropout) and a per-task
 *     table; --json: one summary object. The vocabulary size is the data's (the preset's vocab_size is replaced).
 *   kiln finetune ernie --model <dir> --steps N [--data …] [--batch B] [--lr] [--seed] [--shots-per-relation k] [--json]
 *     fine-tunes the NLU module with a relation-classification head ("[CLS] head [SEP] tail [SEP]") and prints the
 *     held-out accuracy (with --shots-per-relation k: trained on k pairs of each relation, chosen with --seed); it also prints the zero-shot cloze accuracy of the pre-trained NLG module (measured before
 *     fine-tuning; fine-tuning never touches the NLG path).
 *   kiln eval ernie --model <dir> --cloze [--split held-out|seen] [--shots k] [--data …] [--json]   zero-/few-shot cloze
 *     accuracy only; --split seen scores the items from train pairs (facts pre-training read) instead of the held-out
 *     ones (the default), to tell recall from generalisation. The JSON names the split.
 *   kiln ernie compare --steps N [--finetune-steps M] [--finetune-seeds K] [--config <preset>] [--seeds 1,2] [--data …]
 *                      [--knowledge-weights task=w,...] [--protocol strict|full-kg] [--from <dir>]
 *                      [--finetune-shots 4,8,all] [--finetune-method head,prompt] [--few-shot-steps M] [--cloze-shots 1,4] [--json]
 *     knowledge vs no-knowledge pre-training on the same budget (src/train/ernie3-compare.ts); --from reads saved
 *     backbones (<dir>/<kind>-seed<s>) instead of pre-training; --finetune-shots adds few-shot fine-tuning, and
 *     --finetune-method prompt fine-tunes in the relation-probe format through the MLM head (no new head).
 * Knowledge-text options of train and compare (multitask.ts): --kt-sentences all|first, --no-kt-alone,
 * --relation-mask-rate p; --protocol full-kg lets pre-training read the held-out triples too (the second,
 * clearly labelled protocol; strict — the default — never shows pre-training a held-out pair's triple).
 */
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { KilnError } from '../errors.js';
import { ernie3Config, ERNIE3_PRESETS, type Ernie3Config } from '../models/ernie3/config.js';
import { Ernie3ForPreTraining } from '../models/ernie3/heads.js';
import { ERNIE3_TASKS, type Ernie3Task, type KnowledgeTextOptions } from '../models/ernie3/multitask.js';
import { Generator } from '../tensor/random.js';
import { clozeAccuracy } from '../infer/ernie3-score.js';
import { loadErnieData, type ErnieTaskData } from '../train/ernie3-data.js';
import { compareKnowledge } from '../train/ernie3-compare.js';
import { finetuneRelations, relationClassifier, shotsPerRelation } from '../train/ernie3-finetune.js';
import type { ProgressiveSpec } from '../train/ernie3-progressive.js';
import {
  latestErnie3Checkpoint, loadErnie3, loadErnie3Checkpoint, loadVocab, trainErnie3, type Ernie3ResumePoint, type Ernie3StepLog, type TaskStats,
} from '../train/ernie3.js';
import { finiteNumber, positiveInt } from './options.js';

/** "a:b" → [a, b]; "b" → [b, b]. */
function range(v: string): [number, number] {
  const parts = v.split(':').map(Number);
  if (parts.length > 2 || parts.some((x) => !Number.isFinite(x))) throw new InvalidArgumentError('expected <start>:<final> or one number');
  return parts.length === 1 ? [parts[0], parts[0]] : [parts[0], parts[1]];
}

function weightsOf(v: string): Partial<Record<Ernie3Task, number>> {
  const out: Partial<Record<Ernie3Task, number>> = {};
  for (const kv of v.split(',')) {
    const [k, w] = kv.split('=');
    if (!(ERNIE3_TASKS as readonly string[]).includes(k) || !Number.isFinite(Number(w))) throw new InvalidArgumentError(`expected task=weight pairs over ${ERNIE3_TASKS.join(', ')}`);
    out[k as Ernie3Task] = Number(w);
  }
  return out;
}

function seedList(v: string): number[] {
  const xs = v.split(',').map(Number);
  if (xs.some((x) => !Number.isInteger(x) || x < 0)) throw new InvalidArgumentError('expected comma-separated non-negative integers');
  return xs;
}

/** A positive integer count of shots per relation (commander option parser). */
function shotCount(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer number of pairs per relation, got '${v}'`);
  return n;
}

/** "4,8,all" → [4, 8, 'all']: positive integers (pairs per relation) and/or 'all'. */
function shotList(v: string): (number | 'all')[] {
  const xs = v.split(',').map((x) => x.trim());
  if (xs.some((x) => x !== 'all' && !/^[1-9]\d*$/.test(x))) throw new InvalidArgumentError(`expected a comma-separated list of positive integers and/or 'all', got '${v}'`);
  if (new Set(xs).size !== xs.length) throw new InvalidArgumentError(`'${v}' repeats a value`);
  return xs.map((x) => (x === 'all' ? 'all' : Number(x)));
}

/** "1,4" → [1, 4]: non-negative integers. */
function shotList0(v: string): number[] {
  const xs = v.split(',').map((x) => x.trim());
  if (xs.some((x) => !/^\d+$/.test(x))) throw new InvalidArgumentError(`expected a comma-separated list of non-negative integers, got '${v}'`);
  return xs.map(Number);
}

interface ProgressiveOpts {
  warmup?: number;
  progressive: string;
  stages: number;
  seq?: [number, number];
  batch?: [number, number];
  lr?: [number, number];
  dropout?: [number, number];
}

/** The progressive spec from the options; defaults scale with the model and the run. */
function progressiveOf(o: ProgressiveOpts, c: Ernie3Config, steps: number): Omit<ProgressiveSpec, 'totalSteps'> {
  if (o.progressive !== 'linear' && o.progressive !== 'stepwise') throw new KilnError('E_ARG', `--progressive must be linear or stepwise, got ${o.progressive}`);
  const T = c.max_seq_len;
  return {
    warmupSteps: o.warmup ?? Math.max(1, Math.round(steps / 5)),
    mode: o.progressive,
    stages: o.stages,
    seqLen: o.seq ?? [Math.max(8, Math.round(T / 4)), T],
    batchSize: o.batch ?? [4, 16],
    lr: o.lr ?? [2e-4, 2e-3],
    dropout: o.dropout ?? [0, 0.1],
  };
}

function withProgressive(c: Command): Command {
  return c
    .option('--warmup <W>', 'progressive warm-up steps (default: a fifth of the run)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
      return n;
    })
    .option('--progressive <mode>', 'linear or stepwise', 'linear')
    .option('--stages <k>', 'phases of the stepwise warm-up', positiveInt, 4)
    .option('--seq <a:b>', 'sequence length, start:final (default max_seq_len/4 : max_seq_len)', range)
    .option('--batch <a:b>', 'batch size, start:final (default 4:16)', range)
    .option('--lr <a:b>', 'learning rate, start:final (default 2e-4:2e-3; decays linearly to a tenth after the warm-up)', range)
    .option('--dropout <a:b>', 'dropout, start:final (default 0:0.1)', range)
    .option('--weights <task=w,...>', `task weights over ${ERNIE3_TASKS.join(', ')} (default 1 each, knowledge_text_lm 0)`, weightsOf)
    .option('--data <dir>', "a prepared knowledge corpus directory, or 'synthetic' (default: the shipped data/ernie)");
}

function dataOf(source: string | undefined, protocol: Protocol = 'strict'): ErnieTaskData {
  return loadErnieData(source, { pretrainTriples: protocol === 'full-kg' ? 'all' : 'train' });
}

type Protocol = 'strict' | 'full-kg';
/** Which cloze set `eval ernie` scores: the held-out pairs' items or the train ("seen") pairs'. */
type ClozeSplit = 'held-out' | 'seen';
interface KnowledgeTextOpts {
  ktSentences: 'all' | 'first';
  ktAlone: boolean;
  relationMaskRate: number;
  protocol: Protocol;
}

function withKnowledgeText(c: Command): Command {
  return c
    .option('--kt-sentences <which>', "knowledge text: 'all' sentences of a triple or only its 'first'", (v) => {
      if (v !== 'all' && v !== 'first') throw new InvalidArgumentError("expected 'all' or 'first'");
      return v;
    }, 'all')
    .option('--no-kt-alone', 'knowledge text: skip triples no sentence expresses (default: use them alone, relation masked)')
    .option('--relation-mask-rate <p>', 'knowledge text: probability of masking the relation (else sentence units)', (v) => {
      const p = Number(v);
      if (!(p >= 0 && p <= 1)) throw new InvalidArgumentError('expected a probability in [0, 1]');
      return p;
    }, 0.5)
    .option('--protocol <p>', "'strict' (pre-training never sees a held-out pair's triple) or 'full-kg' (pre-training reads every triple; fine-tuning still never sees a test label)", (v) => {
      if (v !== 'strict' && v !== 'full-kg') throw new InvalidArgumentError("expected 'strict' or 'full-kg'");
      return v;
    }, 'strict');
}

function knowledgeTextOf(o: KnowledgeTextOpts): KnowledgeTextOptions | undefined {
  const kt: KnowledgeTextOptions = {};
  if (o.ktSentences !== 'all') kt.sentences = o.ktSentences;
  if (o.ktAlone === false) kt.alone = false;
  if (o.relationMaskRate !== 0.5) kt.relationMaskRate = o.relationMaskRate;
  return Object.keys(kt).length ? kt : undefined;
}

/** The model config of a preset, with the data's vocabulary size. */
function configFor(preset: string, data: ErnieTaskData): Ernie3Config {
  if (!ERNIE3_PRESETS[preset]) throw new KilnError('E_CONFIG', `kiln train ernie: unknown preset '${preset}'; known: ${Object.keys(ERNIE3_PRESETS).join(', ')}`);
  return ernie3Config({ ...ERNIE3_PRESETS[preset], vocab_size: Math.max(data.vocab.length, 8) });
}

function taskJson(p: Record<Ernie3Task, TaskStats>): Record<string, unknown> {
  return Object.fromEntries(ERNIE3_TASKS.map((t) => [t, { draws: p[t].draws, mean_loss: p[t].draws ? p[t].meanLoss : null, last_loss: p[t].lastLoss, accuracy: p[t].accuracy }]));
}

function taskTable(p: Record<Ernie3Task, TaskStats>): string[] {
  const rows = [`  ${'task'.padEnd(18)} draws  mean loss  last loss  accuracy`];
  for (const t of ERNIE3_TASKS) {
    const s = p[t];
    rows.push(`  ${t.padEnd(18)} ${String(s.draws).padStart(5)}  ${s.draws ? s.meanLoss.toFixed(3).padStart(9) : '        -'}  ${s.lastLoss?.toFixed(3).padStart(9) ?? '        -'}  ${s.accuracy === null ? '       -' : (100 * s.accuracy).toFixed(1).padStart(7) + '%'}`);
  }
  return rows;
}

function progressBar(json: boolean | undefined, label: string): cliProgress.SingleBar | null {
  return json ? null : new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} |{bar}| {value}/{total} steps · {phase} · {task} {loss} · {tps} tok/s · eta {eta_formatted}`, hideCursor: true, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 10000 },
    cliProgress.Presets.shades_classic,
  );
}

const fmtStep = (s: Ernie3StepLog) =>
  `  step ${String(s.step).padStart(5)}  ${s.phase.padEnd(12)} ${String(s.batchSize).padStart(3)} × ${String(s.seqLen).padEnd(4)} lr ${s.lr.toExponential(2)}  dropout ${s.dropout.toFixed(3)}` +
  `  ${s.task.padEnd(17)} loss ${s.loss.toFixed(3)}  acc ${s.accuracy === null ? '-' : (100 * s.accuracy).toFixed(1) + '%'}  |g| ${s.gradNorm.toFixed(2)}  ${Math.round(s.tokensPerSecond)} tok/s`;

interface TrainOpts extends ProgressiveOpts, KnowledgeTextOpts {
  config: string;
  steps: number;
  out: string;
  data?: string;
  knowledge: boolean;
  resume?: boolean;
  weights?: Partial<Record<Ernie3Task, number>>;
  checkpointEvery?: number;
  seed: number;
  maskRate: number;
  json?: boolean;
}

export function runTrainErnie(o: TrainOpts, log: (s: string) => void = console.log): Record<string, unknown> {
  const data = dataOf(o.data, o.protocol);
  let model: Ernie3ForPreTraining;
  let resume: Ernie3ResumePoint | undefined;
  if (o.resume) {
    const dir = latestErnie3Checkpoint(o.out);
    if (!dir) throw new KilnError('E_CHECKPOINT', `kiln train ernie --resume: no training checkpoint under ${o.out}; run without --resume first`);
    resume = loadErnie3Checkpoint(dir);
    model = resume.model;
    if (!o.json) log(`resuming from ${dir} at step ${resume.state.step}`);
  } else model = new Ernie3ForPreTraining(configFor(o.config, data), { generator: new Generator(o.seed) });
  const c = model.config;
  const progressive = progressiveOf(o, c, o.steps);
  if (!o.json) {
    log(`kiln train ernie: ${o.config} (${(model.numParameters() / 1e6).toFixed(2)}M parameters incl. heads; universal ${c.universal.num_layers} × ${c.universal.hidden_size}, NLU/NLG ${c.nlu.num_layers} × ${c.nlu.hidden_size}, vocab ${c.vocab_size})`);
    log(`data: ${o.data ?? 'data/ernie'} · ${data.documents.length} documents · ${data.triples.length} triples · knowledge tasks ${o.knowledge ? 'on' : 'OFF (ablation)'} · ${o.steps} steps`);
    log(`progressive (${progressive.mode}, ${progressive.warmupSteps} warm-up steps): seq ${progressive.seqLen.join(' → ')}, batch ${progressive.batchSize.join(' → ')}, lr ${progressive.lr.join(' → ')}, dropout ${progressive.dropout.join(' → ')}`);
  }
  const bar = progressBar(o.json, 'training');
  const start = resume?.state.step ?? 0;
  bar?.start(o.steps, start, { phase: '-', task: '-', loss: '-', tps: '-' });
  const every = Math.max(1, Math.floor(o.steps / 10));
  const lines: string[] = [];
  const schedule: Record<string, unknown>[] = [];
  const r = trainErnie3(model, data, {
    steps: o.steps, progressive, weights: o.weights, knowledge: o.knowledge, knowledgeText: knowledgeTextOf(o), seed: o.seed, maskRate: o.maskRate,
    out: o.out, checkpointEvery: o.checkpointEvery, dataSource: o.data ?? 'data/ernie',
    onStep: (s) => {
      bar?.update(s.step, { phase: s.phase, task: s.task, loss: s.loss.toFixed(3), tps: Math.round(s.tokensPerSecond) });
      if (s.step === start + 1 || s.step % every === 0 || s.step === o.steps) {
        schedule.push({ step: s.step, phase: s.phase, seq_len: s.seqLen, batch_size: s.batchSize, lr: s.lr, dropout: s.dropout, task: s.task, loss: s.loss, accuracy: s.accuracy });
        if (bar && !process.stderr.isTTY) log(fmtStep(s));
        else lines.push(fmtStep(s));
      }
    },
  }, resume);
  bar?.stop();
  const last = r.logs[r.logs.length - 1];
  const summary = {
    steps: o.steps, start_step: start, knowledge: o.knowledge, out: resolve(o.out), params: model.numParameters(), tokens: last?.tokens ?? null,
    tokens_per_s: r.tokensPerSecond, per_task: taskJson(r.perTask), schedule,
  };
  model.dispose();
  if (o.json) {
    console.log(JSON.stringify(summary));
    return summary;
  }
  if (bar && process.stderr.isTTY) for (const l of lines) log(l);
  for (const l of taskTable(r.perTask)) log(l);
  log(`throughput: ${Math.round(r.tokensPerSecond)} tokens/s · saved ${o.out} (config.json, model.safetensors, optimizer.safetensors, trainer_state.json, vocab.txt)`);
  return summary;
}

function checkVocab(dir: string, data: ErnieTaskData): void {
  const v = loadVocab(dir);
  if (v && (v.length !== data.vocab.length || v.some((w, i) => w !== data.vocab[i])))
    throw new KilnError('E_ARG', `${dir}/vocab.txt differs from the data's vocabulary; pass the --data the model was trained on`);
}

interface FinetuneOpts {
  model: string;
  steps: number;
  data?: string;
  batch: number;
  lr: number;
  seed: number;
  shotsPerRelation?: number;
  json?: boolean;
}

export function runFinetuneErnie(o: FinetuneOpts, log: (s: string) => void = console.log): Record<string, unknown> {
  const data = dataOf(o.data);
  checkVocab(o.model, data);
  const pre = loadErnie3(o.model);
  const cloze = clozeAccuracy(pre, data.cloze);
  const train = o.shotsPerRelation === undefined ? data.relationDataset.train : shotsPerRelation(data.relationDataset.train, o.shotsPerRelation, data.relations.length, o.seed, data.relations);
  const clf = relationClassifier(pre.config, data.relations.length, pre, o.seed);
  const bar = progressBar(o.json, 'fine-tuning');
  bar?.start(o.steps, 0, { phase: 'finetune', task: 'relations', loss: '-', tps: '-' });
  const f = finetuneRelations(clf, { train, test: data.relationDataset.test }, { steps: o.steps, batchSize: o.batch, lr: o.lr, seed: o.seed, onStep: (s) => bar?.update(s.step, { loss: s.loss.toFixed(3) }) });
  bar?.stop();
  const out = {
    model: resolve(o.model), steps: o.steps, shots_per_relation: o.shotsPerRelation ?? null, relations: data.relations, relation_accuracy: f.testAccuracy, relation_train_accuracy: f.trainAccuracy,
    relation_majority: f.majorityAccuracy, test_pairs: f.testSize, train_pairs: f.trainSize, loss: [f.firstLoss, f.lastLoss],
    cloze_accuracy: cloze.accuracy, cloze_accuracy_per_token: cloze.accuracyPerToken, cloze_chance: cloze.chance, cloze_items: cloze.total,
  };
  pre.dispose();
  clf.dispose();
  if (o.json) console.log(JSON.stringify(out));
  else {
    log(`relation classification (${data.relations.length} relations; ${f.trainSize} train${o.shotsPerRelation === undefined ? '' : ` (${o.shotsPerRelation} per relation, seed ${o.seed})`} / ${f.testSize} held-out pairs, disjoint): held-out accuracy ${(100 * f.testAccuracy).toFixed(1)}% (train ${(100 * f.trainAccuracy).toFixed(1)}%, majority class ${(100 * f.majorityAccuracy).toFixed(1)}%); loss ${f.firstLoss.toFixed(3)} → ${f.lastLoss.toFixed(3)}`);
    log(`zero-shot cloze through the NLG module (before fine-tuning): ${(100 * cloze.accuracy).toFixed(1)}% of ${cloze.total} items by summed log-probability, ${(100 * cloze.accuracyPerToken).toFixed(1)}% per token (chance ${(100 * cloze.chance).toFixed(1)}%)`);
  }
  return out;
}

export function runEvalErnie(o: { model: string; data?: string; shots: number; split?: ClozeSplit; json?: boolean }, log: (s: string) => void = console.log): Record<string, unknown> {
  const split = o.split ?? 'held-out';
  const data = dataOf(o.data);
  const items = split === 'seen' ? data.clozeSeen : data.cloze;
  if (items.length === 0)
    throw new KilnError('E_ARG', `eval ernie --split ${split}: ${o.data ?? 'data/ernie'} has no ${split} cloze items${split === 'seen' ? ' (no cloze-seen.jsonl: prepared before it existed; re-run kiln ernie prepare --out <dir>)' : ''}`);
  checkVocab(o.model, data);
  const model = loadErnie3(o.model);
  const c = clozeAccuracy(model, items, { shots: o.shots, separator: [data.id('.')] });
  model.dispose();
  const out = { model: resolve(o.model), split, shots: o.shots, cloze_accuracy: c.accuracy, cloze_accuracy_per_token: c.accuracyPerToken, cloze_accuracy_pmi: c.accuracyPmi, cloze_correct: c.correct, cloze_items: c.total, cloze_chance: c.chance };
  if (o.json) console.log(JSON.stringify(out));
  else log(`${o.shots === 0 ? 'zero-shot' : `${o.shots}-shot`} ${split === 'seen' ? 'seen (train-pair) ' : ''}cloze through the NLG module: ${(100 * c.accuracy).toFixed(1)}% (${c.correct}/${c.total}) by summed log-probability, ${(100 * c.accuracyPerToken).toFixed(1)}% per token, ${(100 * c.accuracyPmi).toFixed(1)}% by PMI; chance ${(100 * c.chance).toFixed(1)}%`);
  return out;
}

interface CompareOpts extends ProgressiveOpts, KnowledgeTextOpts {
  knowledgeWeights?: Partial<Record<Ernie3Task, number>>;
  models: ('knowledge' | 'baseline' | 'scratch')[];
  config: string;
  out?: string;
  steps: number;
  finetuneSteps: number;
  finetuneSeeds: number;
  seeds: number[];
  data?: string;
  weights?: Partial<Record<Ernie3Task, number>>;
  maskRate: number;
  from?: string;
  finetuneShots: (number | 'all')[];
  finetuneMethod: ('head' | 'prompt')[];
  fewShotSteps?: number;
  clozeShots: number[];
  json?: boolean;
}

export function runCompareErnie(o: CompareOpts, log: (s: string) => void = console.log): Record<string, unknown> {
  const data = dataOf(o.data, o.protocol);
  const config = configFor(o.config, data);
  const progressive = progressiveOf(o, config, o.steps);
  if (o.from) for (const m of o.models) if (m !== 'scratch') for (const s of o.seeds) checkVocab(resolve(o.from, `${m}-seed${s}`), data);
  const finetunings = o.seeds.length * o.models.length * o.finetuneShots.length * o.finetuneMethod.length * o.finetuneSeeds;
  const total = o.from ? finetunings : o.seeds.length * o.models.filter((m) => m !== 'scratch').length * o.steps;
  const bar = progressBar(o.json, 'compare');
  bar?.start(total, 0, { phase: '-', task: '-', loss: '-', tps: '-' });
  let done = 0;
  const r = compareKnowledge(data, {
    from: o.from, finetuneShots: o.finetuneShots, finetuneMethods: o.finetuneMethod, fewShotSteps: o.fewShotSteps, clozeShots: o.clozeShots, clozeSeparator: [data.id('.')],
    onFinetune: (run, shots, k, acc) => {
      if (o.from) bar?.update(++done, { phase: `${run} · ${shots} shots · ft seed ${k}`, task: 'relations', loss: `acc ${(100 * acc).toFixed(1)}%`, tps: '-' });
    },
    config, steps: o.steps, finetuneSteps: o.finetuneSteps, kinds: o.models, finetuneSeeds: o.finetuneSeeds, seeds: o.seeds, knowledgeWeights: o.knowledgeWeights,
    train: { progressive, weights: o.weights, knowledgeText: knowledgeTextOf(o), maskRate: o.maskRate, dataSource: o.data ?? 'data/ernie' }, out: o.out,
    onStep: (run, s) => bar?.update(++done, { phase: `${run} ${s.phase}`, task: s.task, loss: s.loss.toFixed(3), tps: Math.round(s.tokensPerSecond) }),
  });
  bar?.stop();
  const sd = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
  };
  const shotsJson = (xs: typeof r.knowledge) => o.finetuneMethod.flatMap((method) => o.finetuneShots.map((k) => {
    const accs = xs.flatMap((x) => x.byShots.find((b) => b.method === method && b.shots === k)?.accuracies ?? []);
    return { method, shots: k, mean: accs.reduce((a, b) => a + b, 0) / accs.length, sd: sd(accs), n: accs.length };
  }));
  const clozeShotsJson = (xs: typeof r.knowledge) => o.clozeShots.map((k) => {
    const c = xs.map((x) => x.clozeByShots.find((b) => b.shots === k)!);
    const m = (f: (b: (typeof c)[number]) => number) => c.reduce((a, b) => a + f(b), 0) / c.length;
    return { shots: k, accuracy: m((b) => b.accuracy), per_token: m((b) => b.perToken), pmi: m((b) => b.pmi), pmi_sd: sd(c.map((b) => b.pmi)) };
  });
  const runJson = (xs: typeof r.knowledge) => xs.map((x) => ({ seed: x.seed, by_shots: x.byShots.map((b) => ({ method: b.method, shots: b.shots, steps: b.steps, train_pairs: b.trainPairs, accuracies: b.accuracies, train_accuracies: b.trainAccuracies })), cloze_by_shots: x.clozeByShots, relation_accuracy: x.relationAccuracy, relation_train_accuracy: x.relationTrainAccuracy, cloze_accuracy: x.clozeAccuracy, cloze_accuracy_per_token: x.clozePerTokenAccuracy, cloze_accuracy_pmi: x.clozePmiAccuracy, cloze_seen_pmi: x.clozeSeenPmiAccuracy, relation_probe_accuracy: x.relationProbeAccuracy, relation_accuracies: x.relationAccuracies, tokens: x.tokens, pretrain_s: x.pretrainSeconds, per_task: x.perTask ? taskJson(x.perTask) : null }));
  const out = {
    config: o.config, steps: o.steps, from: o.from ? resolve(o.from) : null, finetune_steps: o.finetuneSteps, few_shot_steps: o.fewShotSteps ?? o.finetuneSteps, finetune_shots: o.finetuneShots, finetune_method: o.finetuneMethod, cloze_shots: o.clozeShots, finetune_seeds: o.finetuneSeeds, seeds: o.seeds, data: o.data ?? 'data/ernie',
    protocol: o.protocol, weights: o.weights ?? null, knowledge_weights: o.knowledgeWeights ?? o.weights ?? null, knowledge_text: knowledgeTextOf(o) ?? null,
    knowledge: { relation_accuracy: r.mean.knowledge.relationAccuracy, cloze_accuracy: r.mean.knowledge.clozeAccuracy, cloze_accuracy_per_token: r.mean.knowledge.clozePerTokenAccuracy, cloze_accuracy_pmi: r.mean.knowledge.clozePmiAccuracy, cloze_seen_pmi: r.mean.knowledge.clozeSeenPmiAccuracy, relation_probe_accuracy: r.mean.knowledge.relationProbeAccuracy, relation_spread: r.mean.knowledge.relationSpread, by_shots: shotsJson(r.knowledge), cloze_by_shots: clozeShotsJson(r.knowledge), tokens: r.mean.knowledge.tokens, runs: runJson(r.knowledge) },
    baseline: { relation_accuracy: r.mean.baseline.relationAccuracy, cloze_accuracy: r.mean.baseline.clozeAccuracy, cloze_accuracy_per_token: r.mean.baseline.clozePerTokenAccuracy, cloze_accuracy_pmi: r.mean.baseline.clozePmiAccuracy, cloze_seen_pmi: r.mean.baseline.clozeSeenPmiAccuracy, relation_probe_accuracy: r.mean.baseline.relationProbeAccuracy, relation_spread: r.mean.baseline.relationSpread, by_shots: shotsJson(r.baseline), cloze_by_shots: clozeShotsJson(r.baseline), tokens: r.mean.baseline.tokens, runs: runJson(r.baseline) },
    scratch: { relation_accuracy: r.mean.scratch.relationAccuracy, cloze_accuracy: r.mean.scratch.clozeAccuracy, cloze_accuracy_per_token: r.mean.scratch.clozePerTokenAccuracy, cloze_accuracy_pmi: r.mean.scratch.clozePmiAccuracy, cloze_seen_pmi: r.mean.scratch.clozeSeenPmiAccuracy, relation_probe_accuracy: r.mean.scratch.relationProbeAccuracy, relation_spread: r.mean.scratch.relationSpread, by_shots: shotsJson(r.scratch), cloze_by_shots: clozeShotsJson(r.scratch), runs: runJson(r.scratch) },
    relation_majority: r.relationMajority, cloze_chance: r.clozeChance, test_pairs: r.testPairs, cloze_items: r.clozeItems, cloze_seen_items: r.clozeSeenItems,
    knowledge_beats_baseline: {
      relation: r.mean.knowledge.relationAccuracy > r.mean.baseline.relationAccuracy, cloze: r.mean.knowledge.clozeAccuracy > r.mean.baseline.clozeAccuracy,
      cloze_per_token: r.mean.knowledge.clozePerTokenAccuracy > r.mean.baseline.clozePerTokenAccuracy,
      cloze_pmi: r.mean.knowledge.clozePmiAccuracy > r.mean.baseline.clozePmiAccuracy,
    },
  };
  if (o.json) console.log(JSON.stringify(out));
  else {
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    log(`knowledge vs no-knowledge, ${o.config}, ${o.steps} pre-training steps, ${o.finetuneSteps} fine-tuning steps × ${o.finetuneSeeds}, seeds ${o.seeds.join(',')}, protocol ${o.protocol}${o.protocol === 'full-kg' ? ' (pre-training reads the held-out triples)' : ''}`);
    log(`  ${'model'.padEnd(28)} relation acc (held-out) ± s.d.  cloze acc (PMI)  (sum)  (per token)  pre-training tokens`);
    // the models this comparison ran (--models), with their means
    const means = ([['with knowledge tasks', r.mean.knowledge, r.knowledge], ['without knowledge tasks', r.mean.baseline, r.baseline], ['no pre-training', r.mean.scratch, r.scratch]] as const)
      .filter(([, , runs]) => runs.length > 0);
    for (const [name, m] of means)
      log(`  ${name.padEnd(28)} ${`${pct(m.relationAccuracy)} ± ${pct(m.relationSpread)}`.padStart(30)}  ${pct(m.clozePmiAccuracy).padStart(15)}  ${pct(m.clozeAccuracy).padStart(5)}  ${pct(m.clozePerTokenAccuracy).padStart(11)}  ${Math.round(m.tokens).toLocaleString('en-US').padStart(19)}`);
    log(`  majority class ${pct(r.relationMajority)} of ${r.testPairs} held-out pairs; cloze chance ${pct(r.clozeChance)} over ${r.clozeItems} items`);
    if (r.clozeSeenItems)
      log(`  seen cloze (${r.clozeSeenItems} items from train pairs), PMI: ${means.map(([name, m]) => `${name} ${pct(m.clozeSeenPmiAccuracy)}`).join(', ')}`);
    if (o.finetuneShots.some((k) => k !== 'all') || o.clozeShots.length) {
      log(`  held-out relation accuracy by fine-tuning set (k pairs per relation, ${o.fewShotSteps ?? o.finetuneSteps} steps; all: ${o.finetuneSteps} steps), mean ± s.d. over seeds × ${o.finetuneSeeds}:`);
      for (const [name, xs] of [['with knowledge tasks', r.knowledge], ['without knowledge tasks', r.baseline], ['no pre-training', r.scratch]] as const) {
        if (xs.length === 0) continue;
        log(`  ${name.padEnd(28)} ${shotsJson(xs).map((b) => `${o.finetuneMethod.length > 1 ? `${b.method} ` : ''}${b.shots}: ${pct(b.mean)} ± ${pct(b.sd)}`).join('  ')}`);
        if (o.clozeShots.length) log(`  ${''.padEnd(28)} cloze PMI ${clozeShotsJson(xs).map((b) => `${b.shots}-shot ${pct(b.pmi)}`).join('  ')}`);
      }
    }
  }
  return out;
}

/** Finds a subcommand by name, or adds it (several files may hang commands under `finetune`, `eval`, `ernie`). */
function sub(parent: Command, name: string, description: string): Command {
  return parent.commands.find((c) => c.name() === name) ?? parent.command(name).description(description);
}

export function registerErnieTrainCommands(program: Command, train: Command): void {
  withKnowledgeText(withProgressive(train.command('ernie').description('pre-train ERNIE 3.0 on the five tasks (and the generative knowledge-text task, when weighted) with progressive learning (WordNet knowledge corpus)')))
    .option('--config <preset>', 'ERNIE 3.0 preset (the vocabulary size comes from the data)', 'ernie3-tiny')
    .requiredOption('--steps <n>', 'training steps', positiveInt)
    .requiredOption('--out <dir>', 'output directory (checkpoints, final model)')
    .option('--no-knowledge', 'ablation: plain token masking, no knowledge-text task')
    .option('--resume', 'continue from the latest checkpoint under --out')
    .option('--checkpoint-every <k>', 'write <out>/checkpoint-<step> every k steps', positiveInt)
    .option('--mask-rate <r>', 'fraction of tokens masked', finiteNumber, 0.15)
    .option('--seed <n>', 'random seed', (v) => Number(v), 0)
    .option('--json', 'print one JSON summary')
    .action((o: TrainOpts) => {
      runTrainErnie(o);
    });

  sub(program, 'finetune', 'fine-tuning commands').command('ernie')
    .description('fine-tune ERNIE 3.0 (NLU module + classification head) on held-out WordNet relation classification; also the zero-shot cloze')
    .requiredOption('--model <dir>', 'a directory written by kiln train ernie')
    .option('--steps <n>', 'fine-tuning steps', positiveInt, 300)
    .option('--data <dir>', "the knowledge corpus the model was trained on, or 'synthetic' (default data/ernie)")
    .option('--batch <n>', 'pairs per step', positiveInt, 32)
    .option('--lr <lr>', 'peak learning rate', finiteNumber, 1e-3)
    .option('--seed <n>', 'random seed (head init, batch order, and the few-shot subset)', (v) => Number(v), 0)
    .option('--shots-per-relation <k>', 'few-shot: train on k pairs of each relation (a seeded subset of the training split; the held-out split is unchanged)', shotCount)
    .option('--json', 'print one JSON object')
    .action((o: FinetuneOpts) => {
      runFinetuneErnie(o);
    });

  sub(program, 'eval', 'evaluation commands').command('ernie')
    .description('zero-shot cloze accuracy of an ERNIE 3.0 model through its NLG module')
    .requiredOption('--model <dir>', 'a directory written by kiln train ernie')
    .option('--cloze', 'the cloze through the NLG module (the only evaluation so far; the default)')
    .option('--split <which>', "which cloze items: held-out (pairs pre-training never read; the default) or seen (train pairs: recall of pre-trained facts)", (v) => {
      if (v !== 'held-out' && v !== 'seen') throw new InvalidArgumentError("expected 'held-out' or 'seen'");
      return v;
    }, 'held-out')
    .option('--shots <k>', 'few-shot: prefix each item with k other solved items, each followed by "."', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
      return n;
    }, 0)
    .option('--data <dir>', "the knowledge corpus, or 'synthetic' (default data/ernie)")
    .option('--json', 'print one JSON object')
    .action((o: { model: string; data?: string; shots: number; split: ClozeSplit; json?: boolean }) => {
      runEvalErnie(o);
    });

  withKnowledgeText(withProgressive(sub(program, 'ernie', 'ERNIE commands').command('compare')
    .description('knowledge vs no-knowledge pre-training on the same budget: held-out relation classification and zero-shot cloze')))
    .option('--models <list>', 'which of knowledge, baseline, scratch to run', (v) => {
      const xs = v.split(',');
      if (xs.length === 0 || xs.some((x) => !['knowledge', 'baseline', 'scratch'].includes(x))) throw new InvalidArgumentError('expected a comma-separated subset of knowledge, baseline, scratch');
      return xs;
    }, ['knowledge', 'baseline', 'scratch'])
    .option('--knowledge-weights <task=w,...>', 'task weights of the knowledge run (default: --weights; the baseline uses --weights)', weightsOf)
    .option('--config <preset>', 'ERNIE 3.0 preset', 'ernie3-tiny')
    .option('--steps <n>', 'pre-training steps of each model', positiveInt, 300)
    .option('--finetune-steps <n>', 'relation fine-tuning steps', positiveInt, 300)
    .option('--seeds <list>', 'seeds (each runs all three models)', seedList, [0])
    .option('--finetune-seeds <n>', 'fine-tunings per pre-trained model (accuracy mean ± s.d. over all of them)', positiveInt, 1)
    .option('--out <dir>', 'also save the pre-trained models as <dir>/<knowledge|baseline>-seed<s>')
    .option('--mask-rate <r>', 'fraction of tokens masked', finiteNumber, 0.15)
    .option('--from <dir>', 'skip pre-training: load the backbones from <dir>/<knowledge|baseline>-seed<s> (as --out writes them)')
    .option('--finetune-shots <list>', "fine-tuning set sizes: k pairs per relation and/or 'all', e.g. 4,8,16,32,all", shotList, ['all'])
    .option('--finetune-method <list>', "'head' (a new classifier over [CLS]) and/or 'prompt' (the relation-probe question through the MLM head, no new head)", (v) => {
      const xs = v.split(',').map((x) => x.trim());
      if (xs.length === 0 || xs.some((x) => x !== 'head' && x !== 'prompt') || new Set(xs).size !== xs.length) throw new InvalidArgumentError(`expected head, prompt or head,prompt, got '${v}'`);
      return xs;
    }, ['head'])
    .option('--few-shot-steps <n>', 'fine-tuning steps of the k-per-relation runs (default --finetune-steps)', positiveInt)
    .option('--cloze-shots <list>', 'also score the cloze few-shot with each k solved items in the context, e.g. 1,4', shotList0, [])
    .option('--json', 'print one JSON object')
    .action((o: CompareOpts) => {
      runCompareErnie(o);
    });
}
