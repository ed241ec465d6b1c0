/** SGD with optional (Nesterov) momentum and L2 weight decay, as torch.optim.SGD. */
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer, type ParamGroup } from './optimizer.js';

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  private readonly buf = new Map<Tensor, Float32Array>();

  constructor(params: Tensor[] | Partial<ParamGroup>[], opts: SGDOptions = {}) {
    super(params, { lr: opts.lr ?? 1e-2, weightDecay: opts.weightDecay ?? 0 });
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
  }

  protected update(p: Tensor, w: Float32Array, g: Float32Array, group: ParamGroup): void {
    const { lr, weightDecay: wd } = group;
    const mu = this.momentum;
    let b = this.buf.get(p);
    const first = !b;
    if (mu !== 0 && !b) this.buf.set(p, (b = new Float32Array(p.size)));
    for (let i = 0; i < w.length; i++) {
      let d = g[i] + wd * w[i];
      if (b) {
        b[i] = first ? d : mu * b[i] + (1 - this.dampening) * d;
        d = this.nesterov ? d + mu * b[i] : b[i];
      }
      w[i] -= lr * d;
    }
  }

  dispose(): void {
    this.buf.clear();
  }
}
