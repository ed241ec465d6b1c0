/**
 * LoRA (Hu et al. 2021) for Linear layers, with PEFT's names and adapter files.
 *
 *   y = base(x) + (α / r) · B(A(x))      A [r, in] (kaiming-uniform), B [out, r] (zeros)
 *
 * B starts at zero, so a freshly applied adapter changes nothing (bit for bit). `applyLora(model, {rank, alpha,
 * targets})` swaps every Linear whose dotted path matches a target (exact path, a `.`-suffix of the path as PEFT's
 * `target_modules`, or a RegExp) for a `LoraLinear` holding the original as `base_layer` (frozen), and by default
 * freezes every other parameter of the model too, so an optimizer over `loraParameters(model)` trains the adapter only.
 * Parameter names follow PEFT: `<path>.base_layer.weight`, `<path>.lora_A.weight`, `<path>.lora_B.weight`.
 * `mergeLora` folds W ← W + (α / r)·B·A back into plain Linears (same outputs up to rounding). `saveLoraAdapter` writes
 * only the adapter — `adapter_model.safetensors` (`base_model.model.<path>.lora_A.weight` / `lora_B.weight`, as
 * PEFT saves them) + `adapter_config.json` (`peft_type`, `r`, `lora_alpha`, `target_modules`) —, and
 * `loadLoraAdapter` applies the adapter described there to a base model and loads its weights (strict).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { noGrad } from '../tensor/autograd.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { readSafetensors, writeSafetensors, type RawTensor } from '../io/safetensors.js';
import { fromRaw, toRaw } from '../io/checkpoint.js';
import { constant_, kaimingUniform_ } from './init.js';
import { Linear } from './layers.js';
import { Module } from './module.js';

export interface LoraOptions {
  rank: number;
  /** scaling α / r (PEFT's `lora_alpha`); default α = r (scaling 1) */
  alpha?: number;
  /** module paths to adapt: exact path, `.`-suffix of the path (e.g. 'to_q' or 'attn2.to_k'), or a RegExp on the path */
  targets: readonly (string | RegExp)[];
  /** freeze every parameter of the model that is not a LoRA factor (default true) */
  freezeBase?: boolean;
  generator?: Generator;
}

/** A Linear with a low-rank update beside it. */
export class LoraLinear extends Module {
  base_layer: Linear;
  lora_A: Linear; // [r, in]
  lora_B: Linear; // [out, r]
  readonly scaling: number;
  /** false: the adapter is bypassed (the base layer alone) */
  enabled = true;

  constructor(base: Linear, readonly rank: number, readonly alpha: number, generator?: Generator) {
    super();
    if (!Number.isInteger(rank) || rank <= 0) throw new KilnError('E_ARG', `LoraLinear: rank must be a positive integer, got ${rank}`);
    if (!Number.isFinite(alpha)) throw new KilnError('E_ARG', `LoraLinear: alpha must be a finite number, got ${alpha}`);
    this.base_layer = base;
    this.lora_A = new Linear(base.inFeatures, rank, { bias: false, generator });
    kaimingUniform_(this.lora_A.weight, generator);
    this.lora_B = new Linear(rank, base.outFeatures, { bias: false, generator });
    constant_(this.lora_B.weight, 0);
    this.scaling = alpha / rank;
  }

  get inFeatures(): number {
    return this.base_layer.inFeatures;
  }

  get outFeatures(): number {
    return this.base_layer.outFeatures;
  }

  forward(x: Tensor): Tensor {
    const y = this.base_layer.forward(x);
    if (!this.enabled) return y;
    return y.add(this.lora_B.forward(this.lora_A.forward(x)).mul(this.scaling));
  }

  /** The dense update (α / r)·B·A [out, in]. */
  delta(): Tensor {
    return this.lora_B.weight.matmul(this.lora_A.weight).mul(this.scaling);
  }
}

type Slot = { path: string; get: () => unknown; set: (m: Module) => void };

/** Every module-valued slot below `root` (fields and array items), depth first, with its dotted path. */
function slots(root: Module, prefix = ''): Slot[] {
  const out: Slot[] = [];
  const obj = root as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(obj)) {
    if (v instanceof Module) {
      const path = prefix + k;
      out.push({ path, get: () => obj[k], set: (m) => (obj[k] = m) });
      out.push(...slots(v, path + '.'));
    } else if (Array.isArray(v)) {
      v.forEach((m, i) => {
        if (!(m instanceof Module)) return;
        const path = `${prefix}${k}.${i}`;
        out.push({ path, get: () => v[i], set: (n) => (v[i] = n) });
        out.push(...slots(m, path + '.'));
      });
    }
  }
  return out;
}

export function matchesTarget(path: string, targets: readonly (string | RegExp)[]): boolean {
  return targets.some((t) => (typeof t === 'string' ? path === t || path.endsWith('.' + t) : t.test(path)));
}

/** The LoRA layers of a model by path. */
export function loraLayers(model: Module): [string, LoraLinear][] {
  return slots(model)
    .map((s) => [s.path, s.get()] as [string, unknown])
    .filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);
}

/** The trainable LoRA factors (every A then B weight). */
export function loraParameters(model: Module): Tensor[] {
  return loraLayers(model).flatMap(([, l]) => [l.lora_A.weight, l.lora_B.weight]);
}

/** Wraps every matching Linear of `model` in a LoraLinear; returns the adapted paths. Throws when none matches. */
export function applyLora(model: Module, o: LoraOptions): string[] {
  const alpha = o.alpha ?? o.rank;
  const adapted: string[] = [];
  for (const s of slots(model)) {
    const m = s.get();
    if (!(m instanceof Linear) || !matchesTarget(s.path, o.targets)) continue;
    if (s.path.split('.').some((p) => p === 'lora_A' || p === 'lora_B')) continue;
    s.set(new LoraLinear(m, o.rank, alpha, o.generator));
    adapted.push(s.path);
  }
  if (adapted.length === 0)
    throw new KilnError('E_ARG', `applyLora: no Linear layer matches targets [${o.targets.map(String).join(', ')}]; name modules by path or path suffix (e.g. 'to_q', 'attn2.to_k')`);
  if (o.freezeBase ?? true) {
    const lora = new Set(loraParameters(model));
    for (const p of model.parameters()) p.requiresGrad = lora.has(p);
  }
  return adapted;
}

/** Turns every adapter of the model on or off (off = the base model's exact outputs). */
export function setLoraEnabled(model: Module, on: boolean): void {
  for (const [, l] of loraLayers(model)) l.enabled = on;
}

/**
 * Folds every enabled adapter into its base weight (W ← W + (α / r)·B·A; a disabled one is dropped) and puts the plain Linear back; the adapter
 * factors are freed. Base parameters become trainable again. Returns the merged paths.
 */
export function mergeLora(model: Module): string[] {
  const merged: string[] = [];
  for (const s of slots(model)) {
    const l = s.get();
    if (!(l instanceof LoraLinear)) continue;
    const base = l.base_layer;
    if (l.enabled)
      noGrad(() => {
        const d = l.delta();
        const w = base.weight;
        const wd = (w.storage.data as Float32Array).subarray(w.offset, w.offset + w.size);
        const dd = d.contiguous().data() as Float32Array;
        for (let i = 0; i < wd.length; i++) wd[i] += dd[i];
        d.dispose();
      });
    l.lora_A.dispose();
    l.lora_B.dispose();
    s.set(base);
    merged.push(s.path);
  }
  for (const p of model.parameters()) p.requiresGrad = true;
  return merged;
}

export interface AdapterConfig {
  peft_type: 'LORA';
  r: number;
  lora_alpha: number;
  target_modules: string[];
  [k: string]: unknown;
}

const PEFT_PREFIX = 'base_model.model.';

/** The adapter tensors with PEFT's saved names. */
export function loraStateDict(model: Module): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [path, l] of loraLayers(model)) {
    out.set(`${PEFT_PREFIX}${path}.lora_A.weight`, l.lora_A.weight);
    out.set(`${PEFT_PREFIX}${path}.lora_B.weight`, l.lora_B.weight);
  }
  return out;
}

/** Writes adapter_model.safetensors + adapter_config.json (the adapter only) into `dir`. */
export function saveLoraAdapter(model: Module, dir: string, extra: Record<string, unknown> = {}): AdapterConfig {
  const layers = loraLayers(model);
  if (layers.length === 0) throw new KilnError('E_ARG', 'saveLoraAdapter: the model has no LoRA layers; call applyLora first');
  const { rank, alpha } = layers[0][1];
  if (layers.some(([, l]) => l.rank !== rank || l.alpha !== alpha))
    throw new KilnError('E_ARG', 'saveLoraAdapter: all adapters must share one rank and alpha to be described by one adapter_config.json');
  mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, RawTensor>();
  for (const [name, t] of loraStateDict(model)) tensors.set(name, toRaw(t));
  writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  const config: AdapterConfig = { ...extra, peft_type: 'LORA', r: rank, lora_alpha: alpha, target_modules: layers.map(([p]) => p) };
  const tmp = join(dir, 'adapter_config.json.tmp');
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n');
  renameSync(tmp, join(dir, 'adapter_config.json'));
  return config;
}

export function readAdapterConfig(dir: string): AdapterConfig {
  const path = join(dir, 'adapter_config.json');
  let c: Partial<AdapterConfig>;
  try {
    c = JSON.parse(readFileSync(path, 'utf8')) as Partial<AdapterConfig>;
  } catch (e) {
    throw new KilnError('E_IO', `cannot read LoRA adapter config ${path}: ${(e as Error).message}; an adapter directory holds adapter_config.json and adapter_model.safetensors`);
  }
  if (c.peft_type !== 'LORA' || !Number.isInteger(c.r) || typeof c.lora_alpha !== 'number' || !Array.isArray(c.target_modules))
    throw new KilnError('E_FORMAT', `${path}: expected peft_type "LORA", integer r, numeric lora_alpha and a target_modules list`);
  return c as AdapterConfig;
}

/**
 * Applies the adapter in `dir` to `model` (which must not have LoRA layers yet, or must have exactly those) and loads
 * its weights. Every adapted layer must have both factors in the file and nothing else may be there.
 */
export function loadLoraAdapter(model: Module, dir: string, { freezeBase = true } = {}): AdapterConfig {
  const config = readAdapterConfig(dir);
  if (loraLayers(model).length === 0)
    applyLora(model, { rank: config.r, alpha: config.lora_alpha, targets: config.target_modules, freezeBase });
  const own = loraStateDict(model);
  const file = join(dir, 'adapter_model.safetensors');
  const { tensors } = readSafetensors(file);
  const missing = [...own.keys()].filter((k) => !tensors.has(k));
  const unexpected = [...tensors.keys()].filter((k) => !own.has(k));
  if (missing.length || unexpected.length)
    throw new KilnError('E_CHECKPOINT', `${file}: ${missing.length ? `missing ${missing.slice(0, 4).join(', ')}` : ''}${missing.length && unexpected.length ? '; ' : ''}${unexpected.length ? `unexpected ${unexpected.slice(0, 4).join(', ')}` : ''} — the adapter was made for a different model`);
  noGrad(() => {
    for (const [name, dst] of own) {
      const src = fromRaw(tensors.get(name)!);
      if (src.ndim !== dst.ndim || src.shape.some((d, i) => d !== dst.shape[i]))
        throw new KilnError('E_CHECKPOINT', `${file}: '${name}' has shape [${src.shape}] but the model expects [${dst.shape}]`);
      const f = src.dtype === 'f32' ? src : src.to('f32');
      (dst.storage.data as Float32Array).set(f.data() as Float32Array, dst.offset);
      if (f !== src) f.dispose();
      src.dispose();
    }
  });
  return config;
}
