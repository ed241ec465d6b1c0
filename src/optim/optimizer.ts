/**
 * Optimizer base: parameter groups with their own hyperparameters, an LR that schedules set per step, in-place
 * updates on parameter storage (no autograd), and zeroGrad. Gradient accumulation is PyTorch's: call backward()
 * several times (gradients add up in .grad), then step() once.
 */
import { KilnError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';

export interface ParamGroup {
  params: Tensor[];
  lr: number;
  weightDecay: number;
}

export abstract class Optimizer {
  readonly groups: ParamGroup[];
  stepCount = 0;

  constructor(params: Tensor[] | Partial<ParamGroup>[], defaults: { lr: number; weightDecay: number }) {
    const list = params as (Tensor | Partial<ParamGroup>)[];
    const asGroups = list.length > 0 && !(list[0] as Tensor).shape ? (list as Partial<ParamGroup>[]) : [{ params: list as Tensor[] }];
    this.groups = asGroups.map((g) => ({ lr: defaults.lr, weightDecay: defaults.weightDecay, ...g, params: g.params ?? [] }));
    for (const g of this.groups)
      for (const p of g.params) if (p.dtype !== 'f32' || !p.isContiguous) throw new KilnError('E_ARG', `optimizer: parameters must be contiguous f32 tensors, got [${p.shape}] ${p.dtype}`);
  }

  /** Sets the learning rate of every group (schedules call this each step). */
  setLr(lr: number): void {
    for (const g of this.groups) g.lr = lr;
  }

  get lr(): number {
    return this.groups[0]?.lr ?? 0;
  }

  /** Applies one update from the accumulated .grad of every parameter (parameters without a grad are skipped). */
  step(): void {
    this.stepCount++;
    for (const g of this.groups)
      for (const p of g.params) {
        if (!p.grad) continue;
        const grad = p.grad.data() as Float32Array;
        const w = (p.storage.data as Float32Array).subarray(p.offset, p.offset + p.size);
        this.update(p, w, grad, g);
      }
  }

  protected abstract update(p: Tensor, w: Float32Array, grad: Float32Array, group: ParamGroup): void;

  zeroGrad(): void {
    for (const g of this.groups)
      for (const p of g.params) {
        p.grad?.dispose();
        p.grad = null;
      }
  }

  /** Frees the optimizer state. */
  abstract dispose(): void;
}
