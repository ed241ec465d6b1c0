/**
 * Progressive learning of ERNIE 3.0 (arXiv 2107.02137 §3.3.2, after Zhang & He 2020 / ERNIE 3.0's pre-training
 * setting): during the first `warmupSteps` steps the sequence length, the batch size, the learning rate and the
 * dropout rate are raised TOGETHER from their start values to their final values; afterwards the shape and dropout
 * stay at their final values and the learning rate decays linearly to `finalLrFraction` × lr by the last step.
 *
 *   f(s) = (s + 1) / warmupSteps        (linear; clipped to 1)  — or, with `stages` = k, the stepwise form
 *   f(s) = ⌊s · k / warmupSteps⌋ / (k − 1)   (k equal phases over the warm-up; the last phase is already final)
 *   seqLen(s) = round_to_multiple(seqLen0 + f·(seqLen1 − seqLen0), multiple)     batch(s) = round(b0 + f·(b1 − b0))
 *   lr(s) = lr0 + f·(lr1 − lr0)         dropout(s) = p0 + f·(p1 − p0)
 * `phase` names where the step is: "warmup k/K" (stepwise; k 1-based) or "warmup" (linear), then "stable".
 * `progressiveAt` is a pure function of (spec, step): a resumed run recomputes it without saved state.
 */
import { KilnError } from '../errors.js';

export interface ProgressiveSpec {
  /** Steps of the progressive warm-up (0 = start at the final values). */
  warmupSteps: number;
  /** Total steps of the run (the learning rate decays over the steps after the warm-up). */
  totalSteps: number;
  /** 'linear' (every step) or 'stepwise' (`stages` equal phases). Default 'linear'. */
  mode?: 'linear' | 'stepwise';
  /** Phases of the stepwise form (≥ 2). Default 4. */
  stages?: number;
  /** [start, final] of each quantity. */
  seqLen: [number, number];
  batchSize: [number, number];
  lr: [number, number];
  dropout: [number, number];
  /** Sequence lengths are rounded to a multiple of this (default 8; the start and final values are kept exactly). */
  seqMultiple?: number;
  /** The learning rate at the last step, as a fraction of the final lr. Default 0.1. */
  finalLrFraction?: number;
}

export interface ProgressiveState {
  step: number;
  seqLen: number;
  batchSize: number;
  lr: number;
  dropout: number;
  /** Fraction of the warm-up done: 0 … 1. */
  progress: number;
  phase: string;
}

function checkPair(name: string, [a, b]: [number, number], integer: boolean, lo: number, hi = Infinity): void {
  for (const v of [a, b])
    if (!Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v)))
      throw new KilnError('E_ARG', `progressive learning: ${name} must be ${integer ? 'integers' : 'numbers'} in [${lo}, ${hi}], got [${a}, ${b}]`);
}

export function checkProgressive(p: ProgressiveSpec): void {
  if (!Number.isInteger(p.warmupSteps) || p.warmupSteps < 0) throw new KilnError('E_ARG', `progressive learning: warmupSteps must be a non-negative integer, got ${p.warmupSteps}`);
  if (!Number.isInteger(p.totalSteps) || p.totalSteps < 1) throw new KilnError('E_ARG', `progressive learning: totalSteps must be a positive integer, got ${p.totalSteps}`);
  if (p.mode === 'stepwise' && !(Number.isInteger(p.stages ?? 4) && (p.stages ?? 4) >= 2))
    throw new KilnError('E_ARG', `progressive learning: stepwise mode needs stages ≥ 2, got ${p.stages}`);
  checkPair('seqLen', p.seqLen, true, 1);
  checkPair('batchSize', p.batchSize, true, 1);
  checkPair('lr', p.lr, false, 0);
  checkPair('dropout', p.dropout, false, 0, 0.99);
}

/** The step's sequence length, batch size, learning rate and dropout (0-based step). */
export function progressiveAt(p: ProgressiveSpec, step: number): ProgressiveState {
  const W = p.warmupSteps;
  const stages = p.stages ?? 4;
  let f: number;
  let phase: string;
  if (W === 0 || step >= W) {
    f = 1;
    phase = 'stable';
  } else if (p.mode === 'stepwise') {
    const k = Math.min(stages - 1, Math.floor((step * stages) / W));
    f = k / (stages - 1);
    phase = `warmup ${k + 1}/${stages}`;
  } else {
    f = Math.min(1, (step + 1) / W);
    phase = 'warmup';
  }
  const lerp = ([a, b]: [number, number]) => a + f * (b - a);
  const mult = p.seqMultiple ?? 8;
  let seqLen = Math.round(lerp(p.seqLen));
  if (f > 0 && f < 1) seqLen = Math.max(p.seqLen[0], Math.min(p.seqLen[1], Math.round(seqLen / mult) * mult || mult));
  const batchSize = Math.round(lerp(p.batchSize));
  let lr = lerp(p.lr);
  if (step >= W && p.totalSteps > W + 1) {
    // linear decay after the warm-up: lr1 at step W, finalLrFraction·lr1 at the last step
    const d = (step - W) / (p.totalSteps - 1 - W);
    lr = p.lr[1] * (1 - Math.min(1, d) * (1 - (p.finalLrFraction ?? 0.1)));
  }
  return { step, seqLen, batchSize, lr, dropout: lerp(p.dropout), progress: f, phase };
}
