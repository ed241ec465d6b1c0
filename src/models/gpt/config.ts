/**
 * The small decoder-only transformer Kiln uses for its demo, tests and benchmarks: Llama-style (pre-norm RMSNorm,
 * rotary attention, SwiGLU MLP). Keys follow Hugging Face `config.json` names so a config file loads as is.
 */
import { KilnError } from '../../errors.js';

export interface GptConfig {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
  rope_theta: number;
  rms_norm_eps: number;
  tie_word_embeddings: boolean;
  /** N(0, std) weight init (output projections get std / √(2·layers), as in GPT-2). */
  initializer_range: number;
}

export const GPT_DEFAULTS: GptConfig = {
  vocab_size: 256,
  hidden_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 352,
  max_position_embeddings: 256,
  rope_theta: 10000,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
  initializer_range: 0.02,
};

export const GPT_PRESETS: Record<string, Partial<GptConfig>> = {
  /** The quick-start demo: trains on the bundled sonnets in about a minute on 2 cores. */
  'gpt-tiny': {},
  /** The benchmark model: large enough that GEMMs dominate the step. */
  'gpt-small': { hidden_size: 512, num_hidden_layers: 4, num_attention_heads: 8, intermediate_size: 1408, max_position_embeddings: 512 },
};

export function gptConfig(overrides: Partial<GptConfig> | string = {}): GptConfig {
  const o = typeof overrides === 'string' ? GPT_PRESETS[overrides] : overrides;
  if (!o) throw new KilnError('E_CONFIG', `unknown GPT preset '${overrides}'; known: ${Object.keys(GPT_PRESETS).join(', ')}`);
  const c = { ...GPT_DEFAULTS, ...o };
  for (const k of ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings'] as const)
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new KilnError('E_CONFIG', `GPT config: ${k} must be a positive integer, got ${c[k]}`);
  if (c.hidden_size % c.num_attention_heads !== 0 || (c.hidden_size / c.num_attention_heads) % 2 !== 0)
    throw new KilnError('E_CONFIG', `GPT config: hidden_size ${c.hidden_size} must split into ${c.num_attention_heads} heads of even size`);
  return c;
}

/** Exact parameter count of a config. */
export function gptParamCount(c: GptConfig): number {
  const d = c.hidden_size;
  const perLayer = 4 * d * d + 3 * d * c.intermediate_size + 2 * d;
  return c.vocab_size * d * (c.tie_word_embeddings ? 1 : 2) + c.num_hidden_layers * perLayer + d;
}

/**
 * Training FLOPs per token at sequence length T: 6 × (matmul parameters, i.e. all but the input embedding and
 * norms) for forward + backward, plus attention scores and values: 6 × 2 × layers × T × d / 2 with a causal mask
 * (forward 2·T·d per token for QKᵀ and 2·T·d for PV, halved by causality, ×3 for backward).
 */
export function gptTrainFlopsPerToken(c: GptConfig, T: number): number {
  const d = c.hidden_size;
  const matmulParams = c.num_hidden_layers * (4 * d * d + 3 * d * c.intermediate_size) + c.vocab_size * d;
  return 6 * matmulParams + 6 * c.num_hidden_layers * T * d;
}
