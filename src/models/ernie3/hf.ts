/**
 * ERNIE (HF `model_type: ernie`) checkpoint directories ↔ Kiln's `ErnieModel`: config.json + model.safetensors or
 * shards with model.safetensors.index.json, F32/BF16/F16 (widened to f32 exactly), and the tokenizer beside it.
 * The key mapping is the identity up to one prefix: a bare `ErnieModel.save_pretrained` stores
 * `embeddings.word_embeddings.weight`, `encoder.layer.N.attention.self.query.weight`, …; the task models
 * (ErnieForMaskedLM / ForPreTraining / ForSequenceClassification …, and the released nghuyong/ernie-3.0-*-zh
 * checkpoints) store the same under `ernie.`. Other top-level parts of those task models (`cls.*`, `classifier.*`,
 * `qa_outputs.*`) and the derived buffers `embeddings.position_ids` / `embeddings.token_type_ids` are skipped.
 * The pooler is built when the checkpoint has `pooler.dense.*` (ErnieForMaskedLM drops it). Missing, unexpected and
 * mis-shaped tensors are errors naming the tensor.
 * `loadPretrainedMaskedLm` keeps the `cls.predictions.*` MLM head instead (ErnieForMaskedLM); its decoder weight and
 * bias are tied to the word embeddings and `cls.predictions.bias` (transformers' `_tied_weights_keys`), so stored
 * copies `cls.predictions.decoder.{weight,bias}` (older exports) are skipped.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../errors.js';
import { readConfig, saveModel } from '../../io/checkpoint.js';
import type { RawTensor } from '../../io/safetensors.js';
import { openCheckpoint, type SafetensorsCheckpoint } from '../../io/sharded.js';
import type { Module } from '../../nn/module.js';
import { decodeToF32 } from '../../tensor/convert.js';
import { Generator } from '../../tensor/random.js';
import { loadTokenizer } from '../../tokenizers/tokenizer.js';
import type { Tokenizer } from '../../tokenizers/tokenizer.js';
import { ErnieForMaskedLM, ErnieModel } from './ernie-model.js';
import type { ErnieConfig } from './hf-config.js';

const HEAD_PREFIXES = ['cls.', 'classifier.', 'qa_outputs.', 'lm_head.'];
const DERIVED = new Set(['embeddings.position_ids', 'embeddings.token_type_ids']);

function toF32(name: string, raw: RawTensor): Float32Array {
  if (raw.dtype === 'f32') return raw.data as Float32Array;
  if (raw.dtype === 'bf16' || raw.dtype === 'f16') return decodeToF32(raw.dtype, raw.data);
  throw new KilnError('E_DTYPE', `${name}: dtype ${raw.dtype} is not an ERNIE weight dtype (F32, BF16, F16)`);
}

/** The checkpoint's name for a Kiln `ErnieModel` key → that key (strips `ernie.`); null for skipped tensors. */
export function ernieKey(name: string): string | null {
  const k = name.startsWith('ernie.') ? name.slice('ernie.'.length) : name;
  if (DERIVED.has(k)) return null;
  if (k === name && HEAD_PREFIXES.some((p) => name.startsWith(p))) return null;
  return k;
}

export interface ErnieLoadOptions {
  /** Config overrides applied on top of config.json. */
  config?: Partial<ErnieConfig>;
}

/**
 * Copies a checkpoint's tensors into `model` by name: `keyOf(name)` gives the model's key (null = skip). Strict:
 * every model tensor must be found, every kept checkpoint tensor must exist in the model with the same shape.
 */
function loadInto(model: Module, dir: string, names: string[], ckpt: SafetensorsCheckpoint, keyOf: (n: string) => string | null): void {
  const own = model.stateDict();
  const seen = new Set<string>();
  const unexpected: string[] = [];
  for (const name of names) {
    const key = keyOf(name);
    if (key === null) continue;
    const dst = own.get(key);
    if (!dst) {
      unexpected.push(name);
      continue;
    }
    const raw = ckpt.read(name);
    if (raw.shape.length !== dst.shape.length || raw.shape.some((n, i) => n !== dst.shape[i]))
      throw new KilnError('E_CHECKPOINT', `${dir}: tensor '${name}' has shape [${raw.shape}] but config.json makes it [${dst.shape}]`);
    (dst.storage.data as Float32Array).set(toF32(name, raw), dst.offset);
    seen.add(key);
  }
  const missing = [...own.keys()].filter((k) => !seen.has(k));
  if (missing.length || unexpected.length) {
    const list = (xs: string[]) => xs.slice(0, 6).join(', ') + (xs.length > 6 ? `, … (${xs.length} in all)` : '');
    throw new KilnError('E_CHECKPOINT', `${dir}: checkpoint does not match config.json` +
      (missing.length ? `; missing tensors: ${list(missing)}` : '') + (unexpected.length ? `; unexpected tensors: ${list(unexpected)}` : '') +
      ' (check num_hidden_layers, use_task_id and the vocab sizes against the weights)');
  }
}

function withCheckpoint<T extends Module>(dir: string, build: (names: string[]) => T, keyOf: (n: string) => string | null): T {
  const ckpt = openCheckpoint(dir);
  try {
    const names = ckpt.names();
    const model = build(names);
    try {
      loadInto(model, dir, names, ckpt, keyOf);
      return model;
    } catch (e) {
      model.dispose();
      throw e;
    }
  } finally {
    ckpt.close();
  }
}

/** Builds the encoder a HF directory describes and loads its weights (strict; task heads skipped). */
export function loadPretrained(dir: string, opts: ErnieLoadOptions = {}): ErnieModel {
  const json = readConfig(dir);
  return withCheckpoint(dir, (names) => {
    const hasPooler = names.some((n) => ernieKey(n) === 'pooler.dense.weight');
    return new ErnieModel({ ...json, ...opts.config }, { generator: new Generator(0), pooler: hasPooler });
  }, ernieKey);
}

/** MLM-head key mapping: `ernie.*` and `cls.predictions.*` as they are; the tied decoder copies skipped. */
function maskedLmKey(name: string): string | null {
  if (name === 'cls.predictions.decoder.weight' || name === 'cls.predictions.decoder.bias') return null; // tied (see header)
  const k = ernieKey(name);
  if (k === null) return name.startsWith('cls.') ? name : null;
  return `ernie.${k}`;
}

/** Builds ErnieForMaskedLM from a directory whose checkpoint has the `cls.predictions.*` head (e.g. the released models). */
export function loadPretrainedMaskedLm(dir: string, opts: ErnieLoadOptions = {}): ErnieForMaskedLM {
  const json = readConfig(dir);
  return withCheckpoint(dir, (names) => {
    if (!names.includes('cls.predictions.bias'))
      throw new KilnError('E_CHECKPOINT', `${dir}: no MLM head (cls.predictions.*) in this checkpoint; load it as an encoder with loadPretrained`);
    return new ErnieForMaskedLM({ ...json, ...opts.config }, { generator: new Generator(0) });
  }, (n) => (n.endsWith('pooler.dense.weight') || n.endsWith('pooler.dense.bias') ? null : maskedLmKey(n)));
}

/** The tokenizer shipped beside the weights (tokenizer.json, else vocab.txt with tokenizer_config.json's casing). */
export function loadErnieTokenizer(dir: string): Tokenizer {
  if (!existsSync(join(dir, 'tokenizer.json')) && !existsSync(join(dir, 'vocab.txt')))
    throw new KilnError('E_IO', `${dir} has neither tokenizer.json nor vocab.txt; copy the model's tokenizer files next to its weights`);
  return loadTokenizer(dir);
}

/** Writes config.json and model.safetensors with the bare `ErnieModel` names (what ErnieModel.from_pretrained reads). */
export function savePretrained(model: ErnieModel, dir: string): void {
  saveModel(model, dir, { architectures: ['ErnieModel'], ...model.config, torch_dtype: 'float32' });
}
