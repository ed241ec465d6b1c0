/**
 * ERNIE 3.0 pre-training loop (arXiv 2107.02137 §3.2–3.3) for `Ernie3ForPreTraining`:
 *   each step: progressive-learning values of the step (src/train/ernie3-progressive.ts: sequence length, batch
 *   size, lr, dropout raised together over the warm-up) → the multi-task sampler draws one of the five tasks by its
 *   weight and builds a batch of that shape → the task's loss (src/models/ernie3/multitask.ts `taskForward`) →
 *   backward → global-norm clip → AdamW (β 0.9, 0.98, weight decay 0.01, none on 1-D tensors).
 * Logs per step: the task, its loss and accuracy (masked tokens / next tokens / classes), lr, dropout, batch shape,
 * the progressive phase, gradient norm, tokens (input positions incl. padding) and throughput; and per task the
 * mean loss/accuracy of its draws so far (`perTask`).
 * `knowledge: false` is the ablation: plain token masking, no knowledge-text task, same steps and schedule.
 *
 * Reproducibility: before step s the sampler's generator and the dropout generator are reseeded from (seed, s), so
 * the draws of a step depend on (seed, s) alone and the RNG state of any step is known from the step; a training
 * checkpoint is a Hugging Face–style directory — `config.json` (the Ernie3Config, `model_type: "ernie3"`),
 * `model.safetensors` (parameter names of the module tree), `optimizer.safetensors` (AdamW moments as
 * `<param>.exp_avg` / `<param>.exp_avg_sq`), `trainer_state.json` (step, optimizer step, seed, options), and
 * `vocab.txt` — and resuming from it continues bit-exactly.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { loadModelWeights, readConfig, saveModel } from '../io/checkpoint.js';
import { readSafetensors, writeSafetensors, type RawTensor } from '../io/safetensors.js';
import { ernie3Config, type Ernie3Config } from '../models/ernie3/config.js';
import { Ernie3ForPreTraining } from '../models/ernie3/heads.js';
import { ERNIE3_TASKS, MultiTaskSampler, taskForward, type Ernie3Task, type KnowledgeTextOptions } from '../models/ernie3/multitask.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ErnieTaskData } from './ernie3-data.js';
import { checkProgressive, progressiveAt, type ProgressiveSpec } from './ernie3-progressive.js';

export interface Ernie3TrainOptions {
  steps: number;
  /** Progressive learning (totalSteps is `steps`). */
  progressive: Omit<ProgressiveSpec, 'totalSteps'>;
  /** Task weights (default: `DEFAULT_TASK_WEIGHTS`; the knowledge-text tasks are dropped when knowledge is false). */
  weights?: Partial<Record<Ernie3Task, number>>;
  /** false: the no-knowledge ablation. Default true. */
  knowledge?: boolean;
  /** How knowledge-text examples are built (multitask.ts; default: all sentences of a triple, triples alone too). */
  knowledgeText?: KnowledgeTextOptions;
  seed?: number;
  maskRate?: number;
  /** Document-LM segments per step (through the memory). Default 2. */
  segments?: number;
  weightDecay?: number;
  betas?: [number, number];
  clip?: number;
  /** Write `<out>/checkpoint-<step>` every this many steps, and the final state to `out`. */
  checkpointEvery?: number;
  out?: string;
  /** Stop after this step (as if interrupted; the schedule still follows `steps`). */
  untilStep?: number;
  /** Where the data came from (recorded in trainer_state.json). */
  dataSource?: string;
  onStep?: (s: Ernie3StepLog) => void;
}

export interface TaskStats {
  draws: number;
  meanLoss: number;
  /** Correct / scored predictions over every draw of the task (null before its first). */
  accuracy: number | null;
  lastLoss: number | null;
}

export interface Ernie3StepLog {
  /** 1-based count of finished steps. */
  step: number;
  task: Ernie3Task;
  loss: number;
  accuracy: number | null;
  lr: number;
  dropout: number;
  batchSize: number;
  seqLen: number;
  phase: string;
  gradNorm: number;
  /** Input positions of the step (B × T, every document-LM segment counted). */
  stepTokens: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  perTask: Record<Ernie3Task, TaskStats>;
}

export interface Ernie3TrainerState {
  step: number;
  steps: number;
  seed: number;
  knowledge: boolean;
  weights: Record<Ernie3Task, number>;
  /** Absent when the defaults were used. */
  knowledgeText?: KnowledgeTextOptions;
  progressive: Omit<ProgressiveSpec, 'totalSteps'>;
  maskRate: number;
  segments: number;
  optimizerStep: number;
  tokens: number;
  perTask: Record<Ernie3Task, TaskStats>;
  data: string | null;
}

export interface Ernie3TrainResult {
  logs: Ernie3StepLog[];
  tokensPerSecond: number;
  perTask: Record<Ernie3Task, TaskStats>;
}

/** AdamW over the model: no weight decay on 1-D tensors (norms, biases, u/v). */
function adamW(model: Ernie3ForPreTraining, o: Ernie3TrainOptions): AdamW {
  const params = model.parameters();
  return new AdamW(
    [{ params: params.filter((p) => p.ndim >= 2) }, { params: params.filter((p) => p.ndim < 2), weightDecay: 0 }],
    { lr: o.progressive.lr[1], betas: o.betas ?? [0.9, 0.98], weightDecay: o.weightDecay ?? 0.01 },
  );
}

/**
 * AdamW keeps its moments in a private map keyed by parameter; checkpointing needs them by name (src/optim has no
 * state export yet — the same reach-in as src/train/deepseek-v3.ts).
 */
type AdamMoments = Map<Tensor, { m: Float32Array | Uint16Array; v: Float32Array | Uint16Array }>;
const momentsOf = (opt: AdamW): AdamMoments => (opt as unknown as { state: AdamMoments }).state;

/** The model's config.json: the Ernie3Config plus the type keys a reader needs. */
export function ernie3ConfigJson(c: Ernie3Config): Record<string, unknown> {
  return { model_type: 'ernie3', architectures: ['Ernie3ForPreTraining'], ...c };
}

/** Writes a training checkpoint (see the file header). */
export function saveErnie3Checkpoint(dir: string, model: Ernie3ForPreTraining, opt: AdamW, state: Ernie3TrainerState, vocab: string[] | null): void {
  mkdirSync(dir, { recursive: true });
  saveModel(model, dir, ernie3ConfigJson(model.config));
  const moments = momentsOf(opt);
  const tensors = new Map<string, RawTensor>();
  for (const [name, p] of model.namedParameters()) {
    const s = moments.get(p);
    if (!s) continue;
    if (!(s.m instanceof Float32Array)) throw new KilnError('E_ARG', 'ERNIE 3.0 checkpoint: only f32 AdamW moments are supported');
    tensors.set(`${name}.exp_avg`, { dtype: 'f32', shape: p.shape.slice(), data: s.m });
    tensors.set(`${name}.exp_avg_sq`, { dtype: 'f32', shape: p.shape.slice(), data: s.v as Float32Array });
  }
  writeSafetensors(join(dir, 'optimizer.safetensors'), tensors, { format: 'kiln-adamw' });
  if (vocab) writeFileSync(join(dir, 'vocab.txt'), vocab.join('\n') + '\n');
  const tmp = join(dir, 'trainer_state.json.tmp');
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, join(dir, 'trainer_state.json'));
}

/** Loads an ERNIE 3.0 pre-training model (config.json + model.safetensors) from a directory. */
export function loadErnie3(dir: string): Ernie3ForPreTraining {
  const raw = readConfig(dir);
  if (raw.model_type !== 'ernie3') throw new KilnError('E_CHECKPOINT', `${dir}/config.json has model_type ${JSON.stringify(raw.model_type)}, expected "ernie3" (a directory written by kiln train ernie)`);
  const { model_type: _t, architectures: _a, ...cfg } = raw;
  const model = new Ernie3ForPreTraining(ernie3Config(cfg as Partial<Ernie3Config>));
  loadModelWeights(model, dir);
  return model;
}

/** The vocabulary saved beside a model (vocab.txt), or null. */
export function loadVocab(dir: string): string[] | null {
  const f = join(dir, 'vocab.txt');
  if (!existsSync(f)) return null;
  const lines = readFileSync(f, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The checkpoint to resume from under `out`: `out` itself or its latest `checkpoint-<step>`; null if none. */
export function latestErnie3Checkpoint(out: string): string | null {
  if (!existsSync(out)) return null;
  const cands: [number, string][] = [];
  const consider = (d: string) => {
    const f = join(d, 'trainer_state.json');
    if (existsSync(f)) cands.push([(JSON.parse(readFileSync(f, 'utf8')) as Ernie3TrainerState).step, d]);
  };
  consider(out);
  for (const name of readdirSync(out)) if (/^checkpoint-\d+$/.test(name)) consider(join(out, name));
  cands.sort((a, b) => b[0] - a[0]);
  return cands[0]?.[1] ?? null;
}

export interface Ernie3ResumePoint {
  model: Ernie3ForPreTraining;
  state: Ernie3TrainerState;
  dir: string;
}

export function loadErnie3Checkpoint(dir: string): Ernie3ResumePoint {
  const f = join(dir, 'trainer_state.json');
  if (!existsSync(f) || !existsSync(join(dir, 'optimizer.safetensors')))
    throw new KilnError('E_CHECKPOINT', `${dir} is not an ERNIE 3.0 training checkpoint (needs trainer_state.json and optimizer.safetensors); train without --resume first`);
  return { model: loadErnie3(dir), state: JSON.parse(readFileSync(f, 'utf8')) as Ernie3TrainerState, dir };
}

function restoreOptimizer(opt: AdamW, model: Ernie3ForPreTraining, dir: string, optimizerStep: number): void {
  const saved = readSafetensors(join(dir, 'optimizer.safetensors')).tensors;
  const moments = momentsOf(opt);
  for (const [name, p] of model.namedParameters()) {
    const m = saved.get(`${name}.exp_avg`);
    const v = saved.get(`${name}.exp_avg_sq`);
    if (!m || !v) continue; // no gradient yet (a head whose task was never drawn)
    if (m.data.length !== p.size) throw new KilnError('E_CHECKPOINT', `${dir}/optimizer.safetensors: '${name}.exp_avg' has ${m.data.length} values, the parameter ${p.size}`);
    moments.set(p, { m: Float32Array.from(m.data as Float32Array), v: Float32Array.from(v.data as Float32Array) });
  }
  opt.stepCount = optimizerStep;
}

const emptyStats = (): Record<Ernie3Task, TaskStats> =>
  Object.fromEntries(ERNIE3_TASKS.map((t) => [t, { draws: 0, meanLoss: 0, accuracy: null, lastLoss: null }])) as Record<Ernie3Task, TaskStats>;

/** Seeds of step s: distinct streams for the sampler and the dropout. */
const stepSeed = (seed: number, step: number, stream: number) => (Math.imul(seed + 1, 1_000_003) + step * 7919 + stream * 104_729) >>> 0;

/**
 * Trains `model` on `data` with the five tasks. With `resume` (from `loadErnie3Checkpoint`, whose model must be
 * `model`), continues from its step with its optimizer state; the options must equal the checkpoint's.
 */
export function trainErnie3(model: Ernie3ForPreTraining, data: ErnieTaskData, o: Ernie3TrainOptions, resume?: Ernie3ResumePoint): Ernie3TrainResult {
  const seed = o.seed ?? 0;
  const knowledge = o.knowledge ?? true;
  const spec: ProgressiveSpec = { ...o.progressive, totalSteps: o.steps };
  checkProgressive(spec);
  if (spec.seqLen[1] > model.config.max_seq_len)
    throw new KilnError('E_ARG', `kiln train ernie: the final sequence length ${spec.seqLen[1]} exceeds the model's max_seq_len ${model.config.max_seq_len}`);
  if (data.vocab.length > model.config.vocab_size)
    throw new KilnError('E_ARG', `kiln train ernie: the data's vocabulary (${data.vocab.length} words) is larger than the model's vocab_size ${model.config.vocab_size}`);
  const maskRate = o.maskRate ?? 0.15;
  const segments = o.segments ?? 2;
  const sampler = new MultiTaskSampler(data, {
    vocabSize: model.config.vocab_size, weights: o.weights, seed, maskRate, segments, knowledge, knowledgeText: o.knowledgeText, reorderMaxSegments: model.config.reorder_max_segments,
  });
  const dropGen = new Generator(0);
  const opt = adamW(model, o);
  const params = model.parameters();
  let start = 0;
  let tokens = 0;
  let perTask = emptyStats();
  const stateAt = (step: number): Ernie3TrainerState => ({
    step, steps: o.steps, seed, knowledge, weights: sampler.weights, knowledgeText: o.knowledgeText, progressive: o.progressive, maskRate, segments,
    optimizerStep: opt.stepCount, tokens, perTask, data: o.dataSource ?? null,
  });
  if (resume) {
    const s = resume.state;
    const want = stateAt(s.step);
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    // checkpoints from before the generative knowledge-text task have no weight for it: it was 0
    const saved = { ...s, weights: { ...s.weights, knowledge_text_lm: s.weights.knowledge_text_lm ?? 0 } };
    for (const k of ['steps', 'seed', 'knowledge', 'weights', 'knowledgeText', 'progressive', 'maskRate', 'segments'] as const)
      if (!same(saved[k], want[k]))
        throw new KilnError('E_ARG', `resume from ${resume.dir}: it was trained with ${k} = ${JSON.stringify(saved[k])}, this run asks for ${JSON.stringify(want[k])}; pass the same options to continue bit-exactly`);
    restoreOptimizer(opt, model, resume.dir, s.optimizerStep);
    start = s.step;
    tokens = s.tokens;
    perTask = { ...emptyStats(), ...s.perTask };
  }
  const until = Math.min(o.untilStep ?? o.steps, o.steps);
  const logs: Ernie3StepLog[] = [];
  const t0 = performance.now();
  const tokensAtStart = tokens;
  model.train();
  try {
    for (let step = start; step < until; step++) {
      const ps = progressiveAt(spec, step);
      opt.setLr(ps.lr);
      sampler.reseed(stepSeed(seed, step, 0));
      dropGen.seed(stepSeed(seed, step, 1));
      model.ernie.setDropout(ps.dropout, dropGen);
      const r = tidy(() => {
        const tb = sampler.next(undefined, { batchSize: ps.batchSize, seqLen: ps.seqLen });
        const out = taskForward(model, tb);
        out.loss.backward();
        const stepTokens = tb.batch ? tb.batch.inputIds.size : tb.segments.reduce((n, s) => n + s.inputIds.size, 0);
        return { task: tb.task, loss: out.loss.item(), correct: out.correct, count: out.count, stepTokens };
      });
      const gradNorm = clipGradNorm(params, o.clip ?? 1.0);
      opt.step();
      opt.zeroGrad();
      tokens += r.stepTokens;
      const st = perTask[r.task];
      const acc = r.count > 0 ? r.correct / r.count : null;
      const seenBefore = st.accuracy === null ? 0 : st.draws;
      st.meanLoss = (st.meanLoss * st.draws + r.loss) / (st.draws + 1);
      if (acc !== null) st.accuracy = ((st.accuracy ?? 0) * seenBefore + acc) / (seenBefore + 1);
      st.draws++;
      st.lastLoss = r.loss;
      const seconds = (performance.now() - t0) / 1000;
      const log: Ernie3StepLog = {
        step: step + 1, task: r.task, loss: r.loss, accuracy: acc, lr: ps.lr, dropout: ps.dropout, batchSize: ps.batchSize, seqLen: ps.seqLen,
        phase: ps.phase, gradNorm, stepTokens: r.stepTokens, tokens, seconds, tokensPerSecond: (tokens - tokensAtStart) / Math.max(seconds, 1e-9),
        perTask: structuredClone(perTask),
      };
      logs.push(log);
      o.onStep?.(log);
      if (o.out && o.checkpointEvery && (step + 1) % o.checkpointEvery === 0 && step + 1 < o.steps)
        saveErnie3Checkpoint(join(o.out, `checkpoint-${step + 1}`), model, opt, stateAt(step + 1), data.vocab);
    }
    if (o.out && until === o.steps) saveErnie3Checkpoint(o.out, model, opt, stateAt(until), data.vocab);
  } finally {
    opt.dispose();
    model.eval();
  }
  return { logs, tokensPerSecond: (tokens - tokensAtStart) / ((performance.now() - t0) / 1000), perTask };
}
