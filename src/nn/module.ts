/**
 * Module: the base of every layer and model. Parameters and submodules are ordinary fields; `namedParameters()`
 * walks them in definition order and names them by field path (`layers.0.self_attn.q_proj.weight`), so module
 * field names equal Hugging Face checkpoint keys and loading a checkpoint is a mapping, not a translation.
 */
import { KilnError } from '../errors.js';
import { keep } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../tensor/autograd.js';

const PARAM = Symbol('kiln.parameter');

/** Marks `t` as a trainable parameter: requiresGrad, and kept out of every memory scope. */
export function parameter(t: Tensor): Tensor {
  (t as Tensor & { [PARAM]?: boolean })[PARAM] = true;
  t.requiresGrad = true;
  return keep(t);
}

export function isParameter(v: unknown): v is Tensor {
  return v instanceof Tensor && (v as Tensor & { [PARAM]?: boolean })[PARAM] === true;
}

/** Marks `t` as a buffer: state saved in the state dict but not trained (e.g. running statistics). */
export function buffer(t: Tensor): Tensor {
  (t as Tensor & { [PARAM]?: boolean })[PARAM] = false;
  return keep(t);
}

function isBuffer(v: unknown): v is Tensor {
  return v instanceof Tensor && (v as Tensor & { [PARAM]?: boolean })[PARAM] === false;
}

export abstract class Module {
  training = true;

  /** Direct children: [name, module] in definition order (arrays of modules name their items 0, 1, ...). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (v instanceof Module) out.push([k, v]);
      else if (Array.isArray(v)) v.forEach((m, i) => m instanceof Module && out.push([`${k}.${i}`, m]));
    }
    return out;
  }

  private namedTensors(prefix: string, pick: (v: unknown) => v is Tensor, out: [string, Tensor][]): [string, Tensor][] {
    for (const [k, v] of Object.entries(this)) if (pick(v)) out.push([prefix + k, v]);
    for (const [k, m] of this.namedChildren()) m.namedTensors(`${prefix}${k}.`, pick, out);
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    return this.namedTensors(prefix, isParameter, []);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    return this.namedTensors(prefix, isBuffer, []);
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Parameters and buffers by name (shared storage, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies tensors into this module's parameters and buffers by name. `strict` (default) requires the names to match
   * exactly; shapes must always match. Errors name the tensor.
   */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>, { strict = true } = {}): { missing: string[]; unexpected: string[] } {
    const src = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length))
      throw new KilnError('E_CHECKPOINT', `loadStateDict: ${missing.length ? `missing tensors: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}` : ''}${missing.length && unexpected.length ? '; ' : ''}${unexpected.length ? `unexpected tensors: ${unexpected.slice(0, 8).join(', ')}${unexpected.length > 8 ? ', ...' : ''}` : ''}`);
    noGrad(() => {
      for (const [name, dst] of own) {
        const s = src.get(name);
        if (!s) continue;
        if (s.ndim !== dst.ndim || s.shape.some((d, i) => d !== dst.shape[i]))
          throw new KilnError('E_CHECKPOINT', `loadStateDict: tensor '${name}' has shape [${s.shape}] but the model expects [${dst.shape}]`);
        const f = s.dtype === dst.dtype ? s : s.to(dst.dtype);
        const data = f.data();
        (dst.storage.data as Float32Array).set(data as Float32Array, dst.offset);
        if (f !== s) f.dispose();
      }
    });
    return { missing, unexpected };
  }

  train(on = true): this {
    this.training = on;
    for (const [, m] of this.namedChildren()) m.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Clears the gradients of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const t of this.stateDict().values()) t.dispose();
  }
}
