/**
 * AdamW (Loshchilov & Hutter): Adam moments with bias correction and decoupled weight decay
 * (w ← w − lr·wd·w, then w ← w − lr·m̂/(√v̂ + eps)). Moments are f32, or bf16 (`momentsDtype: 'bf16'`, rounded to
 * nearest even after each update) to halve optimizer memory as large-model training does.
 */
import { backend } from '../backend/index.js';
import { bf16BitsToF32, f32ToBf16Bits } from '../tensor/convert.js';
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer, type ParamGroup } from './optimizer.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  momentsDtype?: 'f32' | 'bf16';
}

type Moments = { m: Float32Array; v: Float32Array } | { m: Uint16Array; v: Uint16Array };

export class AdamW extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly momentsDtype: 'f32' | 'bf16';
  private readonly state = new Map<Tensor, Moments>();

  constructor(params: Tensor[] | Partial<ParamGroup>[], opts: AdamWOptions = {}) {
    super(params, { lr: opts.lr ?? 1e-3, weightDecay: opts.weightDecay ?? 0.01 });
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.momentsDtype = opts.momentsDtype ?? 'f32';
  }

  protected update(p: Tensor, w: Float32Array, g: Float32Array, group: ParamGroup): void {
    let s = this.state.get(p);
    if (!s) {
      s = this.momentsDtype === 'bf16' ? { m: new Uint16Array(p.size), v: new Uint16Array(p.size) } : { m: new Float32Array(p.size), v: new Float32Array(p.size) };
      this.state.set(p, s);
    }
    const [b1, b2] = this.betas;
    const t = this.stepCount;
    const c1 = 1 / (1 - b1 ** t);
    const c2 = 1 / (1 - b2 ** t);
    const lr = group.lr;
    const decay = 1 - lr * group.weightDecay;
    const eps = this.eps;
    const n = w.length;
    if (s.m instanceof Float32Array) {
      backend().adamwStep(w, g, s.m, s.v as Float32Array, b1, b2, c1, c2, lr, decay, eps);
    } else {
      const m = s.m;
      const v = s.v as Uint16Array;
      for (let i = 0; i < n; i++) {
        const gi = g[i];
        const mi = b1 * bf16BitsToF32(m[i]) + (1 - b1) * gi;
        const vi = b2 * bf16BitsToF32(v[i]) + (1 - b2) * gi * gi;
        m[i] = f32ToBf16Bits(mi);
        v[i] = f32ToBf16Bits(vi);
        w[i] = w[i] * decay - (lr * mi * c1) / (Math.sqrt(vi * c2) + eps);
      }
    }
  }

  dispose(): void {
    this.state.clear();
  }
}
