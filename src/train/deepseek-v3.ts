/**
 * DeepSeek-V3 pre-training loop (arXiv 2412.19437 §3.5 / §4.2), for the family in src/models/deepseek-v3/:
 *   loss = CE(main) + λ(step)·mean_k CE(MTP k) + α·Σ_layers sequence-wise balance term     (α default 1e-4)
 *   λ schedule: 0.3 for the first 2/3 of the run, then 0.1 (the report: 0.3 for the first 10T of 14.8T tokens)
 *   AdamW(β 0.9, 0.95, weight decay 0.1; no decay on 1-D tensors), global-norm clip 1.0
 *   LR: `deepseekV3Schedule` — linear warmup (5 % of the steps), constant until 2/3 of the run, cosine decay to 10 %
 *   after every optimizer step: aux-loss-free bias update b_i += γ·sign(mean load − load_i)   (γ default 0.001)
 * Each step logs the loss parts, MaxVio of every MoE layer (and their mean) and the per-expert loads.
 *
 * Reproducibility: the batch of step s is drawn by a generator seeded from (seed, s) alone, so a run resumed from a
 * checkpoint sees exactly the batches the uninterrupted run would have. A training checkpoint is a Hugging Face
 * directory (`savePretrained`, f32) plus `optimizer.safetensors` (AdamW moments named `<param>.exp_avg` /
 * `<param>.exp_avg_sq`) and `trainer_state.json` (the step and the options); resuming from it continues bit-exactly.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { maxViolation } from '../models/deepseek-v3/moe.js';
import type { DeepseekV3ForCausalLM } from '../models/deepseek-v3/model.js';
import { loadPretrained, savePretrained } from '../models/deepseek-v3/hf.js';
import { readSafetensors, writeSafetensors, type RawTensor } from '../io/safetensors.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { deepseekV3Schedule, type Schedule } from '../optim/schedules.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { sampleBatch } from './lm.js';
import { setLinearPrecision, type Precision } from './precision/index.js';

export interface DeepseekTrainOptions {
  /** Total optimizer steps of the run (the schedules are laid out over these). */
  steps: number;
  batchSize: number;
  seqLen: number;
  /** Peak learning rate. Default 3e-3 (tiny models; the report's 2.2e-4 is for 671B). */
  lr?: number;
  /** Overrides the report-shaped LR schedule. */
  schedule?: Schedule;
  /** λ: a constant, or a function of (step, steps). Default: 0.3, then 0.1 from 2/3 of the run. */
  mtpWeight?: number | ((step: number, steps: number) => number);
  /** α of the sequence-wise balance loss. Default 1e-4. */
  balanceAlpha?: number;
  /** γ of the aux-loss-free bias update. Default 0.001. */
  gamma?: number;
  weightDecay?: number;
  betas?: [number, number];
  clip?: number;
  seed?: number;
  /** Write a training checkpoint to `<out>/checkpoint-<step>` every this many steps (and the final one to `out`). */
  checkpointEvery?: number;
  out?: string;
  /** Stop after this step (as if interrupted; the schedules still follow `steps`). */
  untilStep?: number;
  /** Simulated precision of every Linear but the head (src/train/precision): 'fp32' (default), 'bf16' or 'fp8'. */
  precision?: Precision;
  onStep?: (s: DeepseekStepLog) => void;
}

export interface DeepseekStepLog {
  /** 1-based count of finished steps. */
  step: number;
  loss: number;
  main: number;
  mtp: number | null;
  balance: number | null;
  lr: number;
  mtpWeight: number;
  gradNorm: number;
  /** MaxVio of each MoE layer this step (main layers, then MTP), and their mean. */
  maxVioPerLayer: number[];
  maxVio: number;
  /** Tokens per routed expert, per MoE layer, this step. */
  load: number[][];
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
}

export interface TrainerState {
  /** Steps finished. */
  step: number;
  steps: number;
  seed: number;
  batchSize: number;
  seqLen: number;
  optimizerStep: number;
  precision: Precision;
}

export interface DeepseekTrainResult {
  logs: DeepseekStepLog[];
  tokensPerSecond: number;
}

/** The report's λ: 0.3 for the first two thirds of the run, 0.1 after. */
export const reportMtpWeight = (step: number, steps: number): number => (step < Math.floor((2 * steps) / 3) ? 0.3 : 0.1);

/** The report's LR shape over `steps`: warmup 5 %, constant to 2/3, cosine decay to 10 % over the rest. */
export function reportSchedule(peak: number, steps: number): Schedule {
  const warmup = Math.max(1, Math.round(0.05 * steps));
  const constantSteps = Math.max(0, Math.floor((2 * steps) / 3) - warmup);
  return deepseekV3Schedule({ peak, warmup, constantSteps, decaySteps: Math.max(1, steps - warmup - constantSteps) });
}

function adamW(model: DeepseekV3ForCausalLM, o: DeepseekTrainOptions): AdamW {
  const params = model.parameters();
  return new AdamW(
    [{ params: params.filter((p) => p.ndim >= 2) }, { params: params.filter((p) => p.ndim < 2), weightDecay: 0 }],
    { lr: o.lr ?? 3e-3, betas: o.betas ?? [0.9, 0.95], weightDecay: o.weightDecay ?? 0.1 },
  );
}

/**
 * AdamW keeps its moments in a private map keyed by parameter; checkpointing needs them by name. This is the one
 * place that reaches into it (src/optim has no state export yet).
 */
type AdamMoments = Map<Tensor, { m: Float32Array | Uint16Array; v: Float32Array | Uint16Array }>;
const momentsOf = (opt: AdamW): AdamMoments => (opt as unknown as { state: AdamMoments }).state;

/** Writes a training checkpoint: HF weights (f32), optimizer.safetensors and trainer_state.json. */
export function saveTrainingCheckpoint(dir: string, model: DeepseekV3ForCausalLM, opt: AdamW, state: TrainerState): void {
  mkdirSync(dir, { recursive: true });
  savePretrained(model, dir);
  const moments = momentsOf(opt);
  const tensors = new Map<string, RawTensor>();
  for (const [name, p] of model.namedParameters()) {
    const s = moments.get(p);
    if (!s) continue;
    if (!(s.m instanceof Float32Array)) throw new KilnError('E_ARG', 'saveTrainingCheckpoint: only f32 AdamW moments are supported');
    tensors.set(`${name}.exp_avg`, { dtype: 'f32', shape: p.shape.slice(), data: s.m });
    tensors.set(`${name}.exp_avg_sq`, { dtype: 'f32', shape: p.shape.slice(), data: s.v as Float32Array });
  }
  writeSafetensors(join(dir, 'optimizer.safetensors'), tensors, { format: 'kiln-adamw' });
  const tmp = join(dir, 'trainer_state.json.tmp');
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, join(dir, 'trainer_state.json'));
}

/** The training checkpoint to resume from under `out`: `out` itself or its latest `checkpoint-<step>`; null if none. */
export function latestCheckpoint(out: string): string | null {
  const cands: [number, string][] = [];
  const stateOf = (d: string) => {
    const f = join(d, 'trainer_state.json');
    if (existsSync(f)) cands.push([(JSON.parse(readFileSync(f, 'utf8')) as TrainerState).step, d]);
  };
  if (!existsSync(out)) return null;
  stateOf(out);
  for (const name of readdirSync(out)) if (/^checkpoint-\d+$/.test(name)) stateOf(join(out, name));
  cands.sort((a, b) => b[0] - a[0]);
  return cands[0]?.[1] ?? null;
}

export interface ResumePoint {
  model: DeepseekV3ForCausalLM;
  state: TrainerState;
  dir: string;
}

/** Loads the model and trainer state of a training checkpoint directory. */
export function loadTrainingCheckpoint(dir: string): ResumePoint {
  const f = join(dir, 'trainer_state.json');
  if (!existsSync(f) || !existsSync(join(dir, 'optimizer.safetensors')))
    throw new KilnError('E_CHECKPOINT', `${dir} is not a training checkpoint (needs trainer_state.json and optimizer.safetensors); train without --resume first`);
  const state = JSON.parse(readFileSync(f, 'utf8')) as TrainerState;
  return { model: loadPretrained(dir), state, dir };
}

function restoreOptimizer(opt: AdamW, model: DeepseekV3ForCausalLM, dir: string, optimizerStep: number): void {
  const saved = readSafetensors(join(dir, 'optimizer.safetensors')).tensors;
  const moments = momentsOf(opt);
  for (const [name, p] of model.namedParameters()) {
    const m = saved.get(`${name}.exp_avg`);
    const v = saved.get(`${name}.exp_avg_sq`);
    if (!m || !v) continue; // a parameter without a gradient so far
    if (m.data.length !== p.size) throw new KilnError('E_CHECKPOINT', `${dir}/optimizer.safetensors: '${name}.exp_avg' has ${m.data.length} values, the parameter ${p.size}`);
    moments.set(p, { m: Float32Array.from(m.data as Float32Array), v: Float32Array.from(v.data as Float32Array) });
  }
  opt.stepCount = optimizerStep;
}

/**
 * Trains `model` on the token stream. With `resume` (from `loadTrainingCheckpoint`, whose model must be `model`),
 * continues from its step with its optimizer state.
 */
export function trainDeepseekV3(model: DeepseekV3ForCausalLM, tokens: Int32Array, o: DeepseekTrainOptions, resume?: ResumePoint): DeepseekTrainResult {
  const seed = o.seed ?? 0;
  const schedule = o.schedule ?? reportSchedule(o.lr ?? 3e-3, o.steps);
  const lambda = o.mtpWeight ?? reportMtpWeight;
  const alpha = o.balanceAlpha ?? 1e-4;
  const gamma = o.gamma ?? 0.001;
  const precision = o.precision ?? 'fp32';
  const opt = adamW(model, o);
  const params = model.parameters();
  let start = 0;
  if (resume) {
    const s = resume.state;
    if (s.steps !== o.steps || s.seed !== seed || s.batchSize !== o.batchSize || s.seqLen !== o.seqLen || (s.precision ?? 'fp32') !== precision)
      throw new KilnError('E_ARG', `resume from ${resume.dir}: it was trained with steps ${s.steps}, seed ${s.seed}, batch ${s.batchSize}, seq ${s.seqLen}, precision ${s.precision}; pass the same values to continue bit-exactly`);
    restoreOptimizer(opt, model, resume.dir, s.optimizerStep);
    start = s.step;
  }
  const stateAt = (step: number): TrainerState => ({ step, steps: o.steps, seed, batchSize: o.batchSize, seqLen: o.seqLen, optimizerStep: opt.stepCount, precision });
  const until = Math.min(o.untilStep ?? o.steps, o.steps);
  const logs: DeepseekStepLog[] = [];
  const t0 = performance.now();
  let tokensSeen = 0;
  model.train();
  setLinearPrecision(model, precision);
  try {
    for (let step = start; step < until; step++) {
      const lr = schedule(step);
      const mtpWeight = typeof lambda === 'number' ? lambda : lambda(step, o.steps);
      opt.setLr(lr);
      const r = tidy(() => {
        const { ids, targets } = sampleBatch(tokens, o.batchSize, o.seqLen, new Generator(seed * 1_000_003 + step));
        const parts = model.loss(ids, targets, { mtpWeight, balanceAlpha: alpha });
        parts.loss.backward();
        return { loss: parts.loss.item(), main: parts.main.item(), mtp: parts.mtp?.item() ?? null, balance: parts.balance?.item() ?? null, load: parts.load.map((l) => Array.from(l)) };
      });
      const gradNorm = clipGradNorm(params, o.clip ?? 1.0);
      opt.step();
      opt.zeroGrad();
      model.updateRoutingBiases(gamma);
      tokensSeen += o.batchSize * o.seqLen;
      const seconds = (performance.now() - t0) / 1000;
      const maxVioPerLayer = r.load.map((l) => maxViolation(l));
      const log: DeepseekStepLog = {
        step: step + 1, loss: r.loss, main: r.main, mtp: r.mtp, balance: r.balance, lr, mtpWeight, gradNorm, maxVioPerLayer,
        maxVio: maxVioPerLayer.length ? maxVioPerLayer.reduce((a, b) => a + b, 0) / maxVioPerLayer.length : 0,
        load: r.load, tokens: tokensSeen, seconds, tokensPerSecond: tokensSeen / seconds,
      };
      logs.push(log);
      o.onStep?.(log);
      if (o.out && o.checkpointEvery && (step + 1) % o.checkpointEvery === 0 && step + 1 < o.steps)
        saveTrainingCheckpoint(join(o.out, `checkpoint-${step + 1}`), model, opt, stateAt(step + 1));
    }
    if (o.out && until === o.steps) saveTrainingCheckpoint(o.out, model, opt, stateAt(until));
  } finally {
    opt.dispose();
    setLinearPrecision(model, 'fp32');
    model.eval();
  }
  return { logs, tokensPerSecond: tokensSeen / ((performance.now() - t0) / 1000) };
}
