/**
 * Typed configs, presets and exact parameter counts of the two Aquarius denoisers.
 *
 * Single-DiT (Wan2.1-style, diffusers `WanTransformer3DModel` config keys): one stream of video tokens; each block is
 * self-attention (3D RoPE, qk-norm) → cross-attention to the text tokens → FFN, modulated by adaLN-zero from the
 * timestep. MM-DiT (HunyuanVideo-style, diffusers `HunyuanVideoTransformer3DModel` keys): `num_layers` dual-stream
 * blocks (text and video tokens keep separate weights and meet in one joint attention) then `num_single_layers`
 * single-stream blocks over the concatenated sequence.
 *
 * Letters: D = hidden = heads · head_dim, F = FFN width, P = in_channels · pt · ph · pw (one patch), Dt = text state
 * width, Dp = pooled text width, f = sinusoidal frequency dim (256).
 */
import { KilnError } from '../../errors.js';

export interface SingleDitConfig {
  patch_size: [number, number, number];
  num_attention_heads: number;
  attention_head_dim: number;
  in_channels: number;
  out_channels: number;
  text_dim: number;
  freq_dim: number;
  ffn_dim: number;
  num_layers: number;
  /** LayerNorm (affine) before the cross-attention. */
  cross_attn_norm: boolean;
  eps: number;
  /** RoPE split of the head dim over (t, h, w); default Wan's [D_h − 4⌊D_h/6⌋, 2⌊D_h/6⌋, 2⌊D_h/6⌋]. */
  rope_axes_dim?: [number, number, number];
  rope_theta: number;
}

export interface MmDitConfig {
  patch_size: [number, number, number];
  num_attention_heads: number;
  attention_head_dim: number;
  in_channels: number;
  out_channels: number;
  num_layers: number;
  num_single_layers: number;
  mlp_ratio: number;
  text_embed_dim: number;
  pooled_projection_dim: number;
  guidance_embeds: boolean;
  /**
   * Depth of HunyuanVideo's text token refiner (diffusers `num_refiner_layers`, 2 there); 0 = a single
   * `context_embedder` projection (every Aquarius preset). `MmDit` builds both (token-refiner.ts).
   */
  num_refiner_layers: number;
  rope_axes_dim: [number, number, number];
  rope_theta: number;
  freq_dim: number;
  eps: number;
}

export const SINGLE_DIT_DEFAULTS: SingleDitConfig = {
  patch_size: [1, 2, 2], num_attention_heads: 12, attention_head_dim: 128, in_channels: 16, out_channels: 16,
  text_dim: 4096, freq_dim: 256, ffn_dim: 8960, num_layers: 30, cross_attn_norm: true, eps: 1e-6, rope_theta: 10000,
};

export const MM_DIT_DEFAULTS: MmDitConfig = {
  patch_size: [1, 2, 2], num_attention_heads: 24, attention_head_dim: 128, in_channels: 16, out_channels: 16,
  num_layers: 20, num_single_layers: 40, mlp_ratio: 4, text_embed_dim: 4096, pooled_projection_dim: 768,
  guidance_embeds: true, num_refiner_layers: 0, rope_axes_dim: [16, 56, 56], rope_theta: 256, freq_dim: 256, eps: 1e-6,
};

export const SINGLE_DIT_PRESETS: Record<string, Partial<SingleDitConfig>> = {
  /** Wan2.1-T2V-1.3B's published shapes. */
  'single-dit-1.3b': {},
  /**
   * The Aquarius 2B Single-DiT: Wan-1.3B's depth (30) and head dim (128) kept, width raised 1536 → 2048 (16 heads),
   * FFN 4·D = 8192 (Wan-1.3B uses 5.83·D; 4·D keeps the 2B budget with the wider attention).
   */
  'single-dit-2b': { num_attention_heads: 16, ffn_dim: 8192 },
  /** Trains on 2 cores. */
  'single-dit-tiny': { num_attention_heads: 2, attention_head_dim: 16, in_channels: 4, out_channels: 4, text_dim: 32, freq_dim: 32, ffn_dim: 64, num_layers: 2 },
};

export const MM_DIT_PRESETS: Record<string, Partial<MmDitConfig>> = {
  /**
   * The Aquarius MM-DiT as Kiln builds it: HunyuanVideo's transformer shapes (20 dual + 40 single blocks, D = 3072,
   * 24 heads, RoPE [16, 56, 56]) with a single-projection context embedder: 12,524,423,232 parameters.
   */
  'mm-dit-13b': {},
  /**
   * HunyuanVideo's published transformer (diffusers `HunyuanVideoTransformer3DModel` defaults), i.e. 'mm-dit-13b' plus
   * the 2-layer token refiner: 12,821,012,544 parameters.
   */
  'hunyuan-video-13b': { num_refiner_layers: 2 },
  'mm-dit-tiny': {
    num_attention_heads: 2, attention_head_dim: 16, in_channels: 4, out_channels: 4, num_layers: 1, num_single_layers: 1,
    text_embed_dim: 32, pooled_projection_dim: 32, guidance_embeds: false, rope_axes_dim: [4, 6, 6], freq_dim: 32,
  },
};

function positive(name: string, o: Record<string, unknown>, keys: string[]): void {
  for (const k of keys)
    if (!Number.isInteger(o[k]) || (o[k] as number) <= 0) throw new KilnError('E_CONFIG', `${name} config: ${k} must be a positive integer, got ${String(o[k])}`);
}

function checkRope(name: string, axes: readonly number[], headDim: number): void {
  if (axes.length !== 3 || axes.some((a) => a % 2 !== 0 || a < 2) || axes[0] + axes[1] + axes[2] !== headDim)
    throw new KilnError('E_CONFIG', `${name} config: rope_axes_dim [${axes}] must be three even sizes summing to attention_head_dim ${headDim}`);
}

/** Wan's split of a head dim over (t, h, w). */
export function wanRopeAxes(headDim: number): [number, number, number] {
  const hw = 2 * Math.floor(headDim / 6);
  return [headDim - 2 * hw, hw, hw];
}

export function singleDitConfig(overrides: Partial<SingleDitConfig> | string = {}): SingleDitConfig {
  const o = typeof overrides === 'string' ? SINGLE_DIT_PRESETS[overrides] : overrides;
  if (!o) throw new KilnError('E_CONFIG', `unknown Single-DiT preset '${overrides}'; known: ${Object.keys(SINGLE_DIT_PRESETS).join(', ')}`);
  const c = { ...SINGLE_DIT_DEFAULTS, ...o };
  positive('Single-DiT', c as unknown as Record<string, unknown>, ['num_attention_heads', 'attention_head_dim', 'in_channels', 'out_channels', 'text_dim', 'freq_dim', 'ffn_dim', 'num_layers']);
  if (c.freq_dim % 2 !== 0) throw new KilnError('E_CONFIG', `Single-DiT config: freq_dim ${c.freq_dim} must be even`);
  c.rope_axes_dim = c.rope_axes_dim ?? wanRopeAxes(c.attention_head_dim);
  checkRope('Single-DiT', c.rope_axes_dim, c.attention_head_dim);
  return c;
}

export function mmDitConfig(overrides: Partial<MmDitConfig> | string = {}): MmDitConfig {
  const o = typeof overrides === 'string' ? MM_DIT_PRESETS[overrides] : overrides;
  if (!o) throw new KilnError('E_CONFIG', `unknown MM-DiT preset '${overrides}'; known: ${Object.keys(MM_DIT_PRESETS).join(', ')}`);
  const c = { ...MM_DIT_DEFAULTS, ...o };
  positive('MM-DiT', c as unknown as Record<string, unknown>, ['num_attention_heads', 'attention_head_dim', 'in_channels', 'out_channels', 'text_embed_dim', 'pooled_projection_dim', 'freq_dim', 'mlp_ratio']);
  if (!Number.isInteger(c.num_refiner_layers) || c.num_refiner_layers < 0)
    throw new KilnError('E_CONFIG', `MM-DiT config: num_refiner_layers must be an integer ≥ 0, got ${String(c.num_refiner_layers)}`);
  if (c.num_layers < 0 || c.num_single_layers < 0 || c.num_layers + c.num_single_layers === 0)
    throw new KilnError('E_CONFIG', `MM-DiT config: needs at least one block (num_layers ${c.num_layers}, num_single_layers ${c.num_single_layers})`);
  checkRope('MM-DiT', c.rope_axes_dim, c.attention_head_dim);
  return c;
}

const lin = (i: number, o: number, bias = true) => i * o + (bias ? o : 0);

/**
 * Exact Single-DiT parameter count:
 *   patch_embedding P·D + D; time_embedder f·D + D + D² + D; time_proj D·6D + 6D; text_embedder Dt·D + D + D² + D;
 *   per block: 2 attentions × (4 (D² + D) + 2D qk-norm) + 2D cross-attn LayerNorm (if affine) + FFN (2·D·F + F + D)
 *              + 6D scale_shift_table;
 *   head: D·P_out + P_out + 2D scale_shift_table.
 */
export function singleDitParamCount(c: SingleDitConfig): number {
  const D = c.num_attention_heads * c.attention_head_dim;
  const [pt, ph, pw] = c.patch_size;
  const P = c.in_channels * pt * ph * pw;
  const Pout = c.out_channels * pt * ph * pw;
  const embed = lin(P, D) + lin(c.freq_dim, D) + lin(D, D) + lin(D, 6 * D) + lin(c.text_dim, D) + lin(D, D);
  const attn = 4 * lin(D, D) + 2 * D;
  const block = 2 * attn + (c.cross_attn_norm ? 2 * D : 0) + lin(D, c.ffn_dim) + lin(c.ffn_dim, D) + 6 * D;
  return embed + c.num_layers * block + lin(D, Pout) + 2 * D;
}

/**
 * Exact MM-DiT parameter count (H = head dim, M = mlp_ratio·D):
 *   x_embedder P·D + D; context_embedder Dt·D + D; timestep_embedder f·D + D + D² + D (and the same again for the
 *   guidance embedder when guidance_embeds); pooled text_embedder Dp·D + D + D² + D;
 *   dual block: 2 × AdaLN-zero (D·6D + 6D) + 6 q/k/v projections + 2 output projections (D² + D each) + 4 RMSNorms (H)
 *               + 2 FFNs (D·M + M + M·D + D);
 *   single block: AdaLN-zero-single (D·3D + 3D) + q/k/v (3 (D² + D)) + 2 RMSNorms (H) + proj_mlp (D·M + M)
 *               + proj_out ((D + M)·D + D);
 *   norm_out D·2D + 2D; proj_out D·P_out + P_out;
 *   token refiner (HunyuanVideo; only when num_refiner_layers R > 0 — see `tokenRefinerParamCount`).
 */
export function mmDitParamCount(c: MmDitConfig): number {
  const D = c.num_attention_heads * c.attention_head_dim;
  const H = c.attention_head_dim;
  const M = c.mlp_ratio * D;
  const [pt, ph, pw] = c.patch_size;
  const P = c.in_channels * pt * ph * pw;
  const Pout = c.out_channels * pt * ph * pw;
  const tEmb = lin(c.freq_dim, D) + lin(D, D);
  const embed = lin(P, D) + lin(c.text_embed_dim, D) + tEmb * (c.guidance_embeds ? 2 : 1) + lin(c.pooled_projection_dim, D) + lin(D, D);
  const dual = 2 * lin(D, 6 * D) + 8 * lin(D, D) + 4 * H + 2 * (lin(D, M) + lin(M, D));
  const single = lin(D, 3 * D) + 3 * lin(D, D) + 2 * H + lin(D, M) + lin(D + M, D);
  return embed + c.num_layers * dual + c.num_single_layers * single + lin(D, 2 * D) + lin(D, Pout) + tokenRefinerParamCount(c);
}

/**
 * What HunyuanVideo's token refiner adds to the single `context_embedder` projection (whose Dt·D + D is its
 * `proj_in`, already counted): its own timestep embedder f·D + D + D² + D and pooled-text projection (the masked mean
 * of the text states) Dt·D + D + D² + D, then R blocks of LayerNorm (2D) → self-attention with biases (4 (D² + D), no
 * qk-norm) → LayerNorm (2D) → SiLU MLP (D·M + M + M·D + D, M = 4D always: diffusers builds the refiner with its
 * default mlp_width_ratio 4, not the model's mlp_ratio) → gate projection `norm_out` (D·2D + 2D).
 * 0 when num_refiner_layers = 0.
 */
export function tokenRefinerParamCount(c: MmDitConfig): number {
  const R = c.num_refiner_layers ?? 0;
  if (R === 0) return 0;
  const D = c.num_attention_heads * c.attention_head_dim;
  const M = 4 * D;
  const block = 2 * D + 4 * lin(D, D) + 2 * D + lin(D, M) + lin(M, D) + lin(D, 2 * D);
  return lin(c.freq_dim, D) + lin(D, D) + lin(c.text_embed_dim, D) + lin(D, D) + R * block;
}
