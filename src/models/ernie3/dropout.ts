/**
 * The dropout of ERNIE 3.0's layers, with a rate and a generator that the trainer may change between steps
 * (progressive learning raises the rate from 0 during warm-up, src/train/ernie3-progressive.ts; a resumed run
 * reseeds the generator per step). Applied only in training mode; inverted scaling (kept values × 1/(1 − p)).
 * The mask is drawn by the backend (`seededDropout`, src/tensor/ops/rel-attention.ts: two u32 seeds from the
 * generator per call, a counter-based hash per element), not by a JS loop over the generator. The attention layers
 * also hold one of these for the attention-probability dropout (rate and generator only; the kernel applies it).
 */
import { KilnError } from '../../errors.js';
import { Module } from '../../nn/module.js';
import { seededDropout } from '../../tensor/ops/rel-attention.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';

export class ScheduledDropout extends Module {
  constructor(public p: number, public generator?: Generator) {
    super();
    ScheduledDropout.check(p);
  }

  static check(p: number): void {
    if (!(p >= 0 && p < 1)) throw new KilnError('E_ARG', `ERNIE 3.0 dropout: the rate must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return seededDropout(x, this.p, this.training, this.generator);
  }
}
