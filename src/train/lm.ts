/**
 * Language-model training loop: random windows of a token stream, next-token cross-entropy, AdamW with linear
 * warmup + cosine decay, global-norm clipping and gradient accumulation. Each step runs inside a memory scope, so
 * the loop holds RSS flat however long it runs.
 */
import { fromArray } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { cosine, linearWarmup } from '../optim/schedules.js';
import { KilnError } from '../errors.js';

export interface LanguageModel extends Module {
  loss(ids: Tensor, targets: Tensor): Tensor;
}

export interface LmTrainOptions {
  steps: number;
  batchSize: number;
  seqLen: number;
  lr?: number;
  minLr?: number;
  warmup?: number;
  weightDecay?: number;
  betas?: [number, number];
  clip?: number;
  /** Micro-batches per optimizer step (gradients accumulate). */
  accumSteps?: number;
  seed?: number;
  onStep?: (s: StepInfo) => void;
}

export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokens: number;
  seconds: number;
}

/** A batch of `batch` random windows: ids [B, T] and the next tokens as targets [B, T]. */
export function sampleBatch(tokens: Int32Array, batch: number, T: number, gen: Generator): { ids: Tensor; targets: Tensor } {
  if (tokens.length < T + 2) throw new KilnError('E_ARG', `the token stream (${tokens.length} tokens) is shorter than seqLen + 1 = ${T + 1}`);
  const ids = new Int32Array(batch * T);
  const tg = new Int32Array(batch * T);
  for (let b = 0; b < batch; b++) {
    const start = Math.floor(gen.uniform() * (tokens.length - T - 1));
    ids.set(tokens.subarray(start, start + T), b * T);
    tg.set(tokens.subarray(start + 1, start + T + 1), b * T);
  }
  return { ids: fromArray(ids, [batch, T]), targets: fromArray(tg, [batch, T]) };
}

export function trainLanguageModel(model: LanguageModel, tokens: Int32Array, o: LmTrainOptions): { losses: number[]; tokensPerSecond: number } {
  const lr = o.lr ?? 3e-3;
  const warmup = o.warmup ?? Math.min(50, Math.floor(o.steps / 10));
  const schedule = linearWarmup(lr, warmup, cosine(lr, o.minLr ?? lr / 10, Math.max(1, o.steps - warmup)));
  const params = model.parameters();
  // no weight decay on norms and biases (1-D parameters), as usual
  const opt = new AdamW(
    [{ params: params.filter((p) => p.ndim >= 2) }, { params: params.filter((p) => p.ndim < 2), weightDecay: 0 }],
    { lr, betas: o.betas ?? [0.9, 0.95], weightDecay: o.weightDecay ?? 0.1 },
  );
  const gen = new Generator(o.seed ?? 0);
  const accum = o.accumSteps ?? 1;
  const losses: number[] = [];
  const t0 = performance.now();
  let tokensSeen = 0;
  model.train();
  for (let step = 0; step < o.steps; step++) {
    const stepLr = schedule(step);
    opt.setLr(stepLr);
    let loss = 0;
    for (let m = 0; m < accum; m++) {
      loss += tidy(() => {
        const { ids, targets } = sampleBatch(tokens, o.batchSize, o.seqLen, gen);
        const l = model.loss(ids, targets);
        (accum > 1 ? l.div(accum) : l).backward();
        return l.item() / accum;
      });
      tokensSeen += o.batchSize * o.seqLen;
    }
    const gradNorm = clipGradNorm(params, o.clip ?? 1.0);
    opt.step();
    opt.zeroGrad();
    losses.push(loss);
    o.onStep?.({ step, loss, lr: stepLr, gradNorm, tokens: tokensSeen, seconds: (performance.now() - t0) / 1000 });
  }
  opt.dispose();
  return { losses, tokensPerSecond: tokensSeen / ((performance.now() - t0) / 1000) };
}
