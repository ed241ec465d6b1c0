/**
 * The typed config of the released ERNIE 3.0 small models as Hugging Face ships them (`model_type: ernie`,
 * transformers' `ErnieConfig`): BERT-style post-LN encoders with an extra task-type embedding when `use_task_id`.
 * Keys are the HF `config.json` names so a released config file loads as it is; unknown keys are ignored.
 * `ernieParamCount(c)` counts every parameter of `ErnieModel` exactly (with or without the pooler).
 */
import { KilnError } from '../../errors.js';

export type ErnieHiddenAct = 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'relu';

export interface ErnieConfig {
  model_type: 'ernie';
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: ErnieHiddenAct;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  task_type_vocab_size: number;
  use_task_id: boolean;
  initializer_range: number;
  layer_norm_eps: number;
  pad_token_id: number | null;
}

/** transformers' ErnieConfig defaults (BERT-base shaped). */
export const ERNIE_DEFAULTS: ErnieConfig = {
  model_type: 'ernie',
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  task_type_vocab_size: 3,
  use_task_id: false,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
};

export const ERNIE_PRESETS: Record<string, Partial<ErnieConfig>> = {
  /**
   * ERNIE 3.0 Base (zh), the shape of nghuyong/ernie-3.0-base-zh's config.json (vocab 40000, 2048 positions, 4 token
   * types, 3 task types with use_task_id, LayerNorm eps 1e-5): ~118M parameters. Written from the published config
   * as remembered (no hub access here): a loaded config.json always wins.
   */
  'ernie-3.0-base-zh': {
    vocab_size: 40000, max_position_embeddings: 2048, type_vocab_size: 4, task_type_vocab_size: 3, use_task_id: true, layer_norm_eps: 1e-5,
  },
  /** A tiny encoder for tests. */
  'ernie-tiny': {
    vocab_size: 64, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 64,
    type_vocab_size: 2, use_task_id: true,
  },
};

function fail(msg: string): never {
  throw new KilnError('E_CONFIG', `ERNIE config: ${msg}`);
}

/** A validated config from a preset name, an HF config.json object, or overrides of the defaults. */
export function ernieConfig(src: string | Partial<ErnieConfig> | Record<string, unknown> = {}): ErnieConfig {
  let o: Record<string, unknown>;
  if (typeof src === 'string') {
    const p = ERNIE_PRESETS[src];
    if (!p) fail(`unknown preset '${src}'; known: ${Object.keys(ERNIE_PRESETS).join(', ')}`);
    o = p as Record<string, unknown>;
  } else o = src as Record<string, unknown>;
  if (o.model_type !== undefined && o.model_type !== 'ernie')
    fail(`model_type is '${String(o.model_type)}', expected 'ernie' (the HF layout of the ERNIE 1.0/2.0/3.0 encoders)`);
  const c = { ...ERNIE_DEFAULTS } as ErnieConfig & Record<string, unknown>;
  for (const k of Object.keys(ERNIE_DEFAULTS)) if (o[k] !== undefined) c[k] = o[k];
  if (o.is_decoder === true) fail('is_decoder = true (causal ERNIE decoder) is not supported; Kiln loads the encoder');
  if (o.position_embedding_type !== undefined && o.position_embedding_type !== 'absolute')
    fail(`position_embedding_type '${String(o.position_embedding_type)}' is not supported; ERNIE checkpoints use 'absolute'`);
  if (o.add_cross_attention === true) fail('add_cross_attention = true is not supported; Kiln loads the encoder');
  for (const k of ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings', 'type_vocab_size', 'task_type_vocab_size'] as const)
    if (!Number.isInteger(c[k]) || c[k] <= 0) fail(`${k} must be a positive integer, got ${JSON.stringify(c[k])}`);
  if (c.hidden_size % c.num_attention_heads !== 0) fail(`hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${c.num_attention_heads}`);
  if (!['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu'].includes(c.hidden_act))
    fail(`hidden_act '${c.hidden_act}' is not supported; use gelu, gelu_new, gelu_pytorch_tanh or relu`);
  if (!(c.layer_norm_eps > 0)) fail(`layer_norm_eps must be > 0, got ${c.layer_norm_eps}`);
  return c;
}

/** Exact parameter count of `ErnieModel` (embeddings, encoder layers, and the pooler unless `pooler` is false). */
export function ernieParamCount(c: ErnieConfig, { pooler = true } = {}): number {
  const d = c.hidden_size;
  const f = c.intermediate_size;
  const emb = (c.vocab_size + c.max_position_embeddings + c.type_vocab_size + (c.use_task_id ? c.task_type_vocab_size : 0)) * d + 2 * d;
  const layer = 4 * (d * d + d) + 2 * d + (d * f + f) + (f * d + d) + 2 * d; // q, k, v, o; LN; intermediate; output; LN
  return emb + c.num_hidden_layers * layer + (pooler ? d * d + d : 0);
}
