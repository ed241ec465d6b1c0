/**
 * DeepSeek-V3's typed config (arXiv 2412.19437; Hugging Face `model_type: deepseek_v3`). Keys are the HF
 * `config.json` names so a released config file loads as it is; defaults are the released 671B config, and JSON only
 * overrides. Also reads transformers ≥ 5's `rope_parameters` form of `rope_theta` + `rope_scaling`.
 *
 * Exact accounting, as functions (`kiln info` prints them):
 * - `paramCounts(c)`: `params_total` (main model incl. embedding and head), `params_activated` per token (attention,
 *   dense FFNs, shared + top-k routed experts, gates, norms, embedding and head), and the MTP modules separately
 *   (`params_mtp`: what the released checkpoint stores for them — each module's block, norms and eh_proj plus its
 *   copies of the shared embedding and head — and `params_mtp_unique` without those copies).
 *   At the 671B preset: 671,026,404,352 total ("671B"), 37,552,282,624 activated ("37B"), MTP 13,463,426,048 as
 *   stored (11,610,067,968 of its own + copies of the 129280×7168 embedding and head): 684,489,830,400 in all, plus
 *   ~41M FP8 block scales = 684.53B, which the HF hub rounds to "685B" (the release's "671B + 14B").
 * - `kvCacheBytesPerToken(c)`: the absorbed-MLA latent cache, (kv_lora_rank + qk_rope_head_dim) numbers per layer.
 * - `flopsPerToken(c, opts)`: matmul FLOPs per token (2 per multiply-add) plus attention scores and values.
 */
import { KilnError } from '../../errors.js';

export interface YarnRopeScaling {
  type: 'yarn';
  factor: number;
  original_max_position_embeddings: number;
  beta_fast: number;
  beta_slow: number;
  mscale: number;
  mscale_all_dim: number;
}

export interface Fp8QuantizationConfig {
  quant_method: 'fp8';
  fmt: 'e4m3';
  activation_scheme: string;
  /** [rows, cols] of each weight block sharing one `weight_scale_inv` (128×128 in the release). */
  weight_block_size: [number, number];
}

export interface DeepseekV3Config {
  model_type: 'deepseek_v3';
  vocab_size: number;
  hidden_size: number;
  /** FFN width of the dense layers (the first `first_k_dense_replace`). */
  intermediate_size: number;
  /** FFN width of each routed / shared expert. */
  moe_intermediate_size: number;
  num_hidden_layers: number;
  first_k_dense_replace: number;
  num_attention_heads: number;
  /** Must equal num_attention_heads (MLA has one K/V per head); kept because HF configs carry it. */
  num_key_value_heads: number;
  /** null → a plain `q_proj` (DeepSeek-V2-Lite style); else q_a_proj → q_a_layernorm → q_b_proj. */
  q_lora_rank: number | null;
  kv_lora_rank: number;
  qk_nope_head_dim: number;
  qk_rope_head_dim: number;
  v_head_dim: number;
  n_routed_experts: number;
  n_shared_experts: number;
  num_experts_per_tok: number;
  n_group: number;
  topk_group: number;
  norm_topk_prob: boolean;
  routed_scaling_factor: number;
  scoring_func: 'sigmoid';
  topk_method: 'noaux_tc';
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: YarnRopeScaling | null;
  /** true: RoPE pairs (x0, x1), (x2, x3), … (the released weights); false: rotate_half pairs (x_i, x_{i+d/2}). */
  rope_interleave: boolean;
  max_position_embeddings: number;
  tie_word_embeddings: boolean;
  /** MTP depth D (modules stored as layers num_hidden_layers … num_hidden_layers + D − 1). */
  num_nextn_predict_layers: number;
  quantization_config: Fp8QuantizationConfig | null;
  initializer_range: number;
  hidden_act: 'silu';
  attention_bias: false;
  bos_token_id: number | null;
  eos_token_id: number | null;
}

/** The released DeepSeek-V3 config (deepseek-ai/DeepSeek-V3 config.json). */
export const DEEPSEEK_V3_DEFAULTS: DeepseekV3Config = {
  model_type: 'deepseek_v3',
  vocab_size: 129280,
  hidden_size: 7168,
  intermediate_size: 18432,
  moe_intermediate_size: 2048,
  num_hidden_layers: 61,
  first_k_dense_replace: 3,
  num_attention_heads: 128,
  num_key_value_heads: 128,
  q_lora_rank: 1536,
  kv_lora_rank: 512,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  v_head_dim: 128,
  n_routed_experts: 256,
  n_shared_experts: 1,
  num_experts_per_tok: 8,
  n_group: 8,
  topk_group: 4,
  norm_topk_prob: true,
  routed_scaling_factor: 2.5,
  scoring_func: 'sigmoid',
  topk_method: 'noaux_tc',
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  rope_scaling: { type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
  rope_interleave: true,
  max_position_embeddings: 163840,
  tie_word_embeddings: false,
  num_nextn_predict_layers: 1,
  quantization_config: { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [128, 128] },
  initializer_range: 0.02,
  hidden_act: 'silu',
  attention_bias: false,
  bos_token_id: 0,
  eos_token_id: 1,
};

const SMALL_BASE: Partial<DeepseekV3Config> = { rope_scaling: null, quantization_config: null, max_position_embeddings: 4096 };

export const DEEPSEEK_V3_PRESETS: Record<string, Partial<DeepseekV3Config>> = {
  /** The released model: 671B parameters, 37B activated per token, one MTP module. */
  'deepseek-v3-671b': {},
  /** The benchmark config of issue 3 (training at batch 8 × seq 256, decode, prefill). */
  'deepseek-v3-bench': {
    ...SMALL_BASE, vocab_size: 8192, hidden_size: 256, intermediate_size: 768, moe_intermediate_size: 128, num_hidden_layers: 4,
    first_k_dense_replace: 1, num_attention_heads: 8, num_key_value_heads: 8, q_lora_rank: 128, kv_lora_rank: 64,
    qk_nope_head_dim: 32, qk_rope_head_dim: 16, v_head_dim: 32, n_routed_experts: 16, n_shared_experts: 1,
    num_experts_per_tok: 4, n_group: 4, topk_group: 2,
  },
  /** A tiny model for tests and the demo: every feature on (q LoRA, YaRN, groups, MTP). */
  'deepseek-v3-tiny': {
    ...SMALL_BASE, vocab_size: 256, hidden_size: 64, intermediate_size: 128, moe_intermediate_size: 32, num_hidden_layers: 3,
    first_k_dense_replace: 1, num_attention_heads: 4, num_key_value_heads: 4, q_lora_rank: 32, kv_lora_rank: 32,
    qk_nope_head_dim: 16, qk_rope_head_dim: 8, v_head_dim: 16, n_routed_experts: 8, n_shared_experts: 1,
    num_experts_per_tok: 2, n_group: 4, topk_group: 2, max_position_embeddings: 1024,
    rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 256, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
  },
  /** The smallest config with every code path (for gradient checks). */
  'deepseek-v3-micro': {
    ...SMALL_BASE, vocab_size: 32, hidden_size: 16, intermediate_size: 24, moe_intermediate_size: 8, num_hidden_layers: 2,
    first_k_dense_replace: 1, num_attention_heads: 2, num_key_value_heads: 2, q_lora_rank: 8, kv_lora_rank: 8,
    qk_nope_head_dim: 4, qk_rope_head_dim: 4, v_head_dim: 4, n_routed_experts: 4, n_shared_experts: 1,
    num_experts_per_tok: 2, n_group: 2, topk_group: 1, max_position_embeddings: 64,
  },
};

const POSITIVE_INT = [
  'vocab_size', 'hidden_size', 'intermediate_size', 'moe_intermediate_size', 'num_hidden_layers', 'num_attention_heads',
  'num_key_value_heads', 'kv_lora_rank', 'qk_nope_head_dim', 'qk_rope_head_dim', 'v_head_dim', 'n_routed_experts',
  'num_experts_per_tok', 'n_group', 'topk_group', 'max_position_embeddings',
] as const;

function fail(msg: string): never {
  throw new KilnError('E_CONFIG', `DeepSeek-V3 config: ${msg}`);
}

/** Reads `rope_scaling` (HF ≤ 4) or `rope_parameters` (HF ≥ 5) into the config's `rope_theta` / `rope_scaling`. */
function normaliseRope(o: Record<string, unknown>): Partial<DeepseekV3Config> {
  const out: Partial<DeepseekV3Config> = {};
  const rp = o.rope_parameters as Record<string, unknown> | undefined;
  let rs: Record<string, unknown> | null | undefined;
  if (o.rope_scaling !== undefined) rs = o.rope_scaling as Record<string, unknown> | null;
  else if (rp) rs = (rp.rope_type ?? rp.type ?? 'default') === 'default' ? null : rp;
  else if (o.model_type === 'deepseek_v3') rs = null; // a config.json without rope_scaling uses plain RoPE
  if (rp && typeof rp.rope_theta === 'number' && o.rope_theta === undefined) out.rope_theta = rp.rope_theta;
  if (rs === undefined) return out;
  if (rs === null) return { ...out, rope_scaling: null };
  const type = rs.type ?? rs.rope_type;
  if (type !== 'yarn') fail(`rope_scaling type '${String(type)}' is not supported; DeepSeek-V3 uses "yarn" (or null for plain RoPE)`);
  const num = (k: string, d?: number): number => {
    const v = rs[k] ?? d;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`rope_scaling.${k} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const orig = num('original_max_position_embeddings');
  const maxPos = typeof o.max_position_embeddings === 'number' ? o.max_position_embeddings : undefined;
  const factor = rs.factor === undefined || rs.factor === null ? (maxPos ?? fail('rope_scaling.factor is missing')) / orig : num('factor');
  out.rope_scaling = {
    type: 'yarn', factor, original_max_position_embeddings: orig, beta_fast: num('beta_fast', 32), beta_slow: num('beta_slow', 1),
    mscale: num('mscale', 1), mscale_all_dim: num('mscale_all_dim', 0),
  };
  return out;
}

/**
 * A validated config from a preset name, an HF config.json object, or overrides of the released defaults.
 * Unknown keys (architectures, auto_map, torch_dtype, …) are ignored.
 */
export function deepseekV3Config(src: string | Partial<DeepseekV3Config> | Record<string, unknown> = {}): DeepseekV3Config {
  let o: Record<string, unknown>;
  if (typeof src === 'string') {
    const p = DEEPSEEK_V3_PRESETS[src];
    if (!p) fail(`unknown preset '${src}'; known: ${Object.keys(DEEPSEEK_V3_PRESETS).join(', ')}`);
    o = p as Record<string, unknown>;
  } else o = src as Record<string, unknown>;
  if (o.model_type !== undefined && o.model_type !== 'deepseek_v3')
    fail(`model_type is '${String(o.model_type)}', expected 'deepseek_v3'`);
  const c = { ...DEEPSEEK_V3_DEFAULTS } as DeepseekV3Config & Record<string, unknown>;
  for (const k of Object.keys(DEEPSEEK_V3_DEFAULTS)) if (o[k] !== undefined && k !== 'rope_scaling') c[k] = o[k];
  if (o.num_mtp_layers !== undefined && o.num_nextn_predict_layers === undefined) c.num_nextn_predict_layers = o.num_mtp_layers as number;
  Object.assign(c, normaliseRope(o));
  if (o.num_key_value_heads === undefined || o.num_key_value_heads === null) c.num_key_value_heads = c.num_attention_heads;
  if (o.quantization_config === undefined && typeof src !== 'string' && Object.keys(o).length > 0 && o.model_type === 'deepseek_v3')
    c.quantization_config = null; // an HF config without quantization_config is unquantised
  validate(c);
  return c;
}

function validate(c: DeepseekV3Config): void {
  for (const k of POSITIVE_INT) if (!Number.isInteger(c[k]) || c[k] <= 0) fail(`${k} must be a positive integer, got ${JSON.stringify(c[k])}`);
  for (const k of ['first_k_dense_replace', 'n_shared_experts', 'num_nextn_predict_layers'] as const)
    if (!Number.isInteger(c[k]) || c[k] < 0) fail(`${k} must be a non-negative integer, got ${JSON.stringify(c[k])}`);
  if (c.q_lora_rank !== null && (!Number.isInteger(c.q_lora_rank) || c.q_lora_rank <= 0))
    fail(`q_lora_rank must be a positive integer or null (plain q_proj), got ${JSON.stringify(c.q_lora_rank)}`);
  if (c.num_key_value_heads !== c.num_attention_heads)
    fail(`num_key_value_heads (${c.num_key_value_heads}) must equal num_attention_heads (${c.num_attention_heads}): MLA expands one key/value per head`);
  if (c.qk_rope_head_dim % 2 !== 0) fail(`qk_rope_head_dim must be even (RoPE rotates pairs), got ${c.qk_rope_head_dim}`);
  if (c.first_k_dense_replace > c.num_hidden_layers)
    fail(`first_k_dense_replace (${c.first_k_dense_replace}) exceeds num_hidden_layers (${c.num_hidden_layers})`);
  if (c.n_routed_experts % c.n_group !== 0) fail(`n_routed_experts (${c.n_routed_experts}) must be divisible by n_group (${c.n_group})`);
  if (c.topk_group > c.n_group) fail(`topk_group (${c.topk_group}) exceeds n_group (${c.n_group})`);
  const perGroup = c.n_routed_experts / c.n_group;
  if (perGroup < 2 && c.n_group > 1) fail(`each of the ${c.n_group} groups needs ≥ 2 experts (group score = sum of the top-2 affinities); have ${perGroup}`);
  if (c.num_experts_per_tok > c.topk_group * perGroup)
    fail(`num_experts_per_tok (${c.num_experts_per_tok}) exceeds the ${c.topk_group * perGroup} experts in topk_group (${c.topk_group}) groups of ${perGroup}`);
  if (c.scoring_func !== 'sigmoid') fail(`scoring_func '${c.scoring_func}' is not supported; DeepSeek-V3 uses 'sigmoid'`);
  if (c.topk_method !== 'noaux_tc') fail(`topk_method '${c.topk_method}' is not supported; DeepSeek-V3 uses 'noaux_tc'`);
  if (c.hidden_act !== 'silu') fail(`hidden_act '${c.hidden_act}' is not supported; DeepSeek-V3 uses 'silu'`);
  if (c.attention_bias) fail('attention_bias = true is not supported (DeepSeek-V3 projections have no bias)');
  if (!(c.routed_scaling_factor > 0)) fail(`routed_scaling_factor must be > 0, got ${c.routed_scaling_factor}`);
  if (!(c.rms_norm_eps > 0)) fail(`rms_norm_eps must be > 0, got ${c.rms_norm_eps}`);
  if (!(c.rope_theta > 1)) fail(`rope_theta must be > 1, got ${c.rope_theta}`);
  const q = c.quantization_config;
  if (q) {
    if (q.quant_method !== 'fp8' || (q.fmt ?? 'e4m3') !== 'e4m3')
      fail(`quantization_config ${JSON.stringify(q)} is not supported; only {quant_method: "fp8", fmt: "e4m3"} block quantisation`);
    const b = q.weight_block_size;
    if (!Array.isArray(b) || b.length !== 2 || !b.every((n) => Number.isInteger(n) && n > 0))
      fail(`quantization_config.weight_block_size must be two positive integers, got ${JSON.stringify(b)}`);
  }
  const y = c.rope_scaling;
  if (y && (!(y.factor > 0) || !(y.original_max_position_embeddings > 0))) fail(`rope_scaling.factor and original_max_position_embeddings must be > 0`);
}

/** The config as HF `config.json` keys (what savePretrained writes). */
export function toHfConfigJson(c: DeepseekV3Config): Record<string, unknown> {
  return { architectures: ['DeepseekV3ForCausalLM'], ...c, torch_dtype: 'float32' };
}

// ── accounting ──

export interface ParamCounts {
  /** Main model: embedding, every layer, final norm, head (the MTP modules excluded). */
  params_total: number;
  /** Per token: all but the routed experts not chosen (K of n_routed_experts routed experts per MoE layer). */
  params_activated: number;
  /** The MTP modules as the released checkpoint stores them (with their copies of the embedding and head). */
  params_mtp: number;
  /** The MTP modules' own parameters (embedding and head shared with the main model). */
  params_mtp_unique: number;
  /** Main model + MTP as stored (the HF repo's headline size). */
  params_checkpoint: number;
}

function attentionParams(c: DeepseekV3Config): number {
  const d = c.hidden_size;
  const H = c.num_attention_heads;
  const qk = c.qk_nope_head_dim + c.qk_rope_head_dim;
  const q = c.q_lora_rank === null ? d * H * qk : d * c.q_lora_rank + c.q_lora_rank + c.q_lora_rank * H * qk;
  const kv = d * (c.kv_lora_rank + c.qk_rope_head_dim) + c.kv_lora_rank + c.kv_lora_rank * H * (c.qk_nope_head_dim + c.v_head_dim);
  return q + kv + H * c.v_head_dim * d;
}

function layerParams(c: DeepseekV3Config, moe: boolean, activated: boolean): number {
  const d = c.hidden_size;
  const expert = 3 * d * c.moe_intermediate_size;
  const ffn = moe
    ? c.n_routed_experts * d + (activated ? c.num_experts_per_tok : c.n_routed_experts) * expert + c.n_shared_experts * expert
    : 3 * d * c.intermediate_size;
  return attentionParams(c) + ffn + 2 * d; // + input_layernorm, post_attention_layernorm
}

/** Exact parameter counts (the gate's e_score_correction_bias is a buffer, not a parameter, and is not counted). */
export function paramCounts(c: DeepseekV3Config): ParamCounts {
  const d = c.hidden_size;
  const L = c.num_hidden_layers;
  const dense = c.first_k_dense_replace;
  const embed = c.vocab_size * d;
  const head = c.tie_word_embeddings ? 0 : c.vocab_size * d;
  const body = (activated: boolean) => dense * layerParams(c, false, activated) + (L - dense) * layerParams(c, true, activated);
  const mtpOwn = (activated: boolean) => layerParams(c, true, activated) + 2 * d + 2 * d * d + d; // block, enorm+hnorm, eh_proj, shared_head.norm
  const D = c.num_nextn_predict_layers;
  const total = embed + body(false) + d + head;
  const mtpUnique = D * mtpOwn(false);
  const mtp = mtpUnique + D * (embed + c.vocab_size * d);
  return {
    params_total: total,
    params_activated: embed + body(true) + d + head,
    params_mtp: mtp,
    params_mtp_unique: mtpUnique,
    params_checkpoint: total + mtp,
  };
}

/** Bytes of the absorbed-MLA latent cache per token: layers × (kv_lora_rank + qk_rope_head_dim) × bytes per number. */
export function kvCacheBytesPerToken(c: DeepseekV3Config, bytesPerNumber = 2): number {
  return c.num_hidden_layers * latentCacheWidth(c) * bytesPerNumber;
}

/** Numbers cached per token per layer by the absorbed path (576 at full size). */
export function latentCacheWidth(c: DeepseekV3Config): number {
  return c.kv_lora_rank + c.qk_rope_head_dim;
}

/** Numbers per token per layer a plain multi-head K/V cache of the same attention would hold (40,960 at full size). */
export function mhaCacheWidth(c: DeepseekV3Config): number {
  return c.num_attention_heads * (c.qk_nope_head_dim + c.qk_rope_head_dim + c.v_head_dim);
}

export interface FlopsOptions {
  /** Context length the token attends over; with `causal` the average is (seqLen + 1) / 2. Default 4096. */
  seqLen?: number;
  /** Forward + backward (3× forward) instead of forward only. Default true. */
  training?: boolean;
  /** Count the MTP modules (default: when training). */
  mtp?: boolean;
}

/**
 * FLOPs per token (2 per multiply-add): activated matmul weights (all but embedding lookups and norms; the router
 * included), plus attention q·k (qk_nope + qk_rope per head) and p·v (v_head_dim per head) over the causal average
 * context; ×3 when training. Uses the expanded attention form (training and prefill).
 */
export function flopsPerToken(c: DeepseekV3Config, opts: FlopsOptions = {}): number {
  const T = opts.seqLen ?? 4096;
  const training = opts.training ?? true;
  const withMtp = opts.mtp ?? training;
  const d = c.hidden_size;
  const L = c.num_hidden_layers;
  const dense = c.first_k_dense_replace;
  const normWeights = (c.q_lora_rank === null ? 0 : c.q_lora_rank) + c.kv_lora_rank + 2 * d;
  const layerMatmul = (moe: boolean) => layerParams(c, moe, true) - normWeights; // multiply-adds per token
  const ctx = (T + 1) / 2;
  const attnCore = c.num_attention_heads * (c.qk_nope_head_dim + c.qk_rope_head_dim + c.v_head_dim) * ctx; // multiply-adds
  let macs = dense * layerMatmul(false) + (L - dense) * layerMatmul(true) + L * attnCore + c.vocab_size * d;
  if (withMtp) macs += c.num_nextn_predict_layers * (layerMatmul(true) + attnCore + 2 * d * d + c.vocab_size * d);
  const fwd = 2 * macs;
  return training ? 3 * fwd : fwd;
}

/** The numbers `kiln info` prints for a config (training FLOPs at `seqLen`, default 4096; bf16 latent cache). */
export function modelInfo(c: DeepseekV3Config, seqLen = 4096): Record<string, number> {
  const p = paramCounts(c);
  return {
    params_total: p.params_total,
    params_activated: p.params_activated,
    params_mtp: p.params_mtp,
    params_checkpoint: p.params_checkpoint,
    kv_cache_bytes_per_token: kvCacheBytesPerToken(c),
    kv_cache_numbers_per_token_per_layer: latentCacheWidth(c),
    flops_per_token: flopsPerToken(c, { seqLen, training: false, mtp: false }),
    train_flops_per_token: flopsPerToken(c, { seqLen, training: true }),
  };
}
