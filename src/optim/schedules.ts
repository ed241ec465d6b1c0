/**
 * Learning-rate schedules: functions from a step (0-based) to a learning rate. Compose them with `piecewise`,
 * e.g. DeepSeek-V3's warmup → constant → cosine decay → constant shape (`deepseekV3Schedule`).
 */
import { KilnError } from '../errors.js';

export type Schedule = (step: number) => number;

export const constant = (lr: number): Schedule => () => lr;

/** Linear from `from` to `to` over `steps` steps, then `to`. */
export const linear = (from: number, to: number, steps: number): Schedule => (s) =>
  s >= steps ? to : from + ((to - from) * s) / Math.max(steps, 1);

/** Linear warmup from 0 to `lr` over `warmup` steps, then `after` (default: constant lr). */
export const linearWarmup = (lr: number, warmup: number, after: Schedule = constant(lr)): Schedule => (s) =>
  s < warmup ? (lr * (s + 1)) / warmup : after(s - warmup);

/** Cosine from `from` to `to` over `steps` steps, then `to`. */
export const cosine = (from: number, to: number, steps: number): Schedule => (s) =>
  s >= steps ? to : to + 0.5 * (from - to) * (1 + Math.cos((Math.PI * s) / steps));

/** Linear decay from lr to 0 over `steps`. */
export const linearDecay = (lr: number, steps: number): Schedule => linear(lr, 0, steps);

/** Segments run one after another; each sees steps counted from its own start. The last one continues forever. */
export function piecewise(segments: { steps: number; schedule: Schedule }[]): Schedule {
  if (segments.length === 0) throw new KilnError('E_ARG', 'piecewise: needs at least one segment');
  return (s) => {
    let start = 0;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      if (s < start + seg.steps || i === segments.length - 1) return seg.schedule(s - start);
      start += seg.steps;
    }
    return NaN;
  };
}

/**
 * The DeepSeek-V3 pre-training shape, in steps: linear warmup to `peak`, constant, cosine decay to `peak·floor`
 * (0.1 in the report: 2.2e-4 → 2.2e-5), then constant.
 */
export function deepseekV3Schedule(o: { peak: number; warmup: number; constantSteps: number; decaySteps: number; floor?: number }): Schedule {
  const low = o.peak * (o.floor ?? 0.1);
  return piecewise([
    { steps: o.warmup, schedule: (s) => (o.peak * (s + 1)) / o.warmup },
    { steps: o.constantSteps, schedule: constant(o.peak) },
    { steps: o.decaySteps, schedule: cosine(o.peak, low, o.decaySteps) },
    { steps: 1, schedule: constant(low) },
  ]);
}
