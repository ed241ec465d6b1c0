/**
 * The Aquarius entries for src/models/registry.ts's MODEL_FAMILIES (structurally `ModelFamily`; declared here so
 * the registry adds them with one line each and this folder does not import the registry). `kiln info <preset>
 * --json` then prints params_total and the per-part accounting below.
 * - `singleDitFamily` (`aquarius_single_dit`): single-dit-2b, single-dit-1.3b (Wan2.1-T2V-1.3B shapes), single-dit-tiny;
 * - `mmDitFamily` (`aquarius_mm_dit`): mm-dit-13b (HunyuanVideo shapes as Kiln builds them), hunyuan-video-13b (the
 *   published transformer with its 2-layer token refiner, token-refiner.ts), mm-dit-tiny;
 * - `causalVaeFamily` (`aquarius_causal_vae`): vae-16c, vae-tiny.
 */
import { MM_DIT_PRESETS, SINGLE_DIT_PRESETS, mmDitConfig, mmDitParamCount, singleDitConfig, singleDitParamCount, tokenRefinerParamCount, type MmDitConfig, type SingleDitConfig } from './dit-config.js';
import { VAE_PRESETS, vaeConfig, vaeParamCount, type VaeConfig } from './vae-config.js';

function strip<T>(src: string | Record<string, unknown>): string | Partial<T> {
  if (typeof src === 'string') return src;
  const { model_type: _m, _class_name: _c, _diffusers_version: _d, ...rest } = src;
  return rest as Partial<T>;
}

export const singleDitFamily = {
  modelType: 'aquarius_single_dit',
  presets: Object.keys(SINGLE_DIT_PRESETS) as readonly string[],
  info(src: string | Record<string, unknown>): Record<string, number | string> {
    const c = singleDitConfig(strip<SingleDitConfig>(src));
    const total = singleDitParamCount(c);
    const block = (singleDitParamCount({ ...c, num_layers: 1 }) - singleDitParamCount({ ...c, num_layers: 0 }));
    return {
      params_total: total, params_per_block: block, params_blocks: block * c.num_layers, params_embed_and_head: total - block * c.num_layers,
      hidden_size: c.num_attention_heads * c.attention_head_dim, num_layers: c.num_layers, num_attention_heads: c.num_attention_heads,
      ffn_dim: c.ffn_dim, rope_axes_dim: c.rope_axes_dim!.join(','),
    };
  },
};

export const mmDitFamily = {
  modelType: 'aquarius_mm_dit',
  presets: Object.keys(MM_DIT_PRESETS) as readonly string[],
  info(src: string | Record<string, unknown>): Record<string, number | string> {
    const c = mmDitConfig(strip<MmDitConfig>(src));
    const total = mmDitParamCount(c);
    const base = { ...c, num_layers: 0, num_single_layers: 0, num_refiner_layers: 0 };
    const dual = mmDitParamCount({ ...base, num_layers: 1 }) - mmDitParamCount(base);
    const single = mmDitParamCount({ ...base, num_single_layers: 1 }) - mmDitParamCount(base);
    return {
      params_total: total, params_dual_block: dual, params_single_block: single, params_dual_blocks: dual * c.num_layers,
      params_single_blocks: single * c.num_single_layers, params_token_refiner: tokenRefinerParamCount(c), params_embed_and_head: mmDitParamCount(base),
      hidden_size: c.num_attention_heads * c.attention_head_dim, num_layers: c.num_layers, num_single_layers: c.num_single_layers,
      num_refiner_layers: c.num_refiner_layers, rope_axes_dim: c.rope_axes_dim.join(','),
    };
  },
};

export const causalVaeFamily = {
  modelType: 'aquarius_causal_vae',
  presets: Object.keys(VAE_PRESETS) as readonly string[],
  info(src: string | Record<string, unknown>): Record<string, number | string> {
    const c = vaeConfig(strip<VaeConfig>(src));
    return {
      params_total: vaeParamCount(c), latent_channels: c.latent_channels,
      compression: `${c.temporal_compression_ratio}x${c.spatial_compression_ratio}x${c.spatial_compression_ratio}`,
    };
  },
};
