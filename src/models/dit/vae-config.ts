/**
 * The Aquarius 3D causal VAE's typed config (keys follow diffusers' `AutoencoderKLHunyuanVideo` / `AutoencoderKLWan`
 * config.json names where they exist), presets and exact parameter count.
 *
 * Geometry: len(block_out_channels) = 1 + log2(spatial_compression_ratio) levels; every level but the last halves H
 * and W; the last log2(temporal_compression_ratio) of those downsamplers also halve time (causally), so a video of
 * T = 1 + r_t·k frames becomes 1 + k latent frames and an image (T = 1) one latent frame.
 */
import { KilnError } from '../../errors.js';

export interface VaeConfig {
  in_channels: number;
  out_channels: number;
  latent_channels: number;
  block_out_channels: number[];
  layers_per_block: number;
  norm_num_groups: number;
  /**
   * 'group' (default): GroupNorm (per-frame statistics) before every conv, as HunyuanVideo's VAE. 'none': no
   * normalisation, Fixup-style initialisation instead (vae.ts) — at tiny widths per-frame GroupNorm erases each
   * frame's mean and scale per group on the only path to the output and the model stalls (docs/aquarius.md).
   * A Kiln key (diffusers' VAEs always normalise).
   */
  norm_type: 'group' | 'none';
  /**
   * Residual autoencoding (DC-AE, Chen et al. 2024; a Kiln key): parameter-free shortcuts around every resampling —
   * space(-time)-to-channel means around the downsamplers and the encoder's conv_out (mean half), duplication around
   * the upsamplers and the decoder's conv_in — so a fresh codec starts as pooling/nearest upsampling and learns
   * residuals. No parameters change (same names and shapes). Needs the last block width divisible by latent_channels.
   */
  residual_autoencoding: boolean;
  /**
   * A causal spatio-temporal self-attention between the mid block's two ResNets, in encoder and decoder
   * (diffusers' `mid_block_add_attention`; HunyuanVideo's VAE has it). Default false here, so Kiln's own saved
   * configs without the key keep loading; the full-size presets set it.
   */
  mid_block_add_attention: boolean;
  temporal_compression_ratio: number;
  spatial_compression_ratio: number;
  /** Multiplies latents before the DiT sees them (diffusers' `scaling_factor`). */
  scaling_factor: number;
}

export const VAE_DEFAULTS: VaeConfig = {
  in_channels: 3,
  out_channels: 3,
  latent_channels: 16,
  block_out_channels: [128, 256, 512, 512],
  layers_per_block: 2,
  norm_num_groups: 32,
  norm_type: 'group',
  residual_autoencoding: false,
  mid_block_add_attention: false,
  temporal_compression_ratio: 4,
  spatial_compression_ratio: 8,
  scaling_factor: 0.476986,
};

export const VAE_PRESETS: Record<string, Partial<VaeConfig>> = {
  /** HunyuanVideo-like full size, with its mid-block attention (causal in time here; see docs/aquarius.md). */
  'vae-16c': { mid_block_add_attention: true },
  /** Trains on 2 cores in a couple of minutes on synthetic moving shapes. */
  'vae-tiny': { latent_channels: 4, block_out_channels: [8, 16, 16, 16], layers_per_block: 1, norm_num_groups: 4, scaling_factor: 1 },
  /**
   * The small codec for the tiny demos (32–48 px, 5–9 frames): 16 latent channels, widths [8, 16, 32, 32], no
   * normalisation with Fixup-style init (per-frame GroupNorm at these widths stalls training) and residual
   * autoencoding shortcuts (docs/aquarius.md has the measured curves).
   */
  'vae-small': { latent_channels: 16, block_out_channels: [8, 16, 32, 32], layers_per_block: 1, norm_type: 'none', residual_autoencoding: true, scaling_factor: 1 },
  /** Benchmark size (`kiln bench vae`): vae-16c at a quarter of its width, every layer of the real design. */
  'vae-bench': { block_out_channels: [32, 64, 128, 128], norm_num_groups: 8, mid_block_add_attention: true, scaling_factor: 1 },
};

export function vaeConfig(overrides: Partial<VaeConfig> | string = {}): VaeConfig {
  const o = typeof overrides === 'string' ? VAE_PRESETS[overrides] : overrides;
  if (!o) throw new KilnError('E_CONFIG', `unknown VAE preset '${overrides}'; known: ${Object.keys(VAE_PRESETS).join(', ')}`);
  const c = { ...VAE_DEFAULTS, ...o };
  const levels = 1 + Math.log2(c.spatial_compression_ratio);
  if (!Number.isInteger(levels) || c.block_out_channels.length !== levels)
    throw new KilnError('E_CONFIG', `VAE config: spatial_compression_ratio ${c.spatial_compression_ratio} needs ${levels} block_out_channels (a power of 2 ratio), got ${c.block_out_channels.length}`);
  if (c.norm_type !== 'group' && c.norm_type !== 'none')
    throw new KilnError('E_CONFIG', `VAE config: norm_type must be 'group' or 'none', got ${JSON.stringify(c.norm_type)}`);
  if (c.residual_autoencoding && c.block_out_channels[c.block_out_channels.length - 1] % c.latent_channels !== 0)
    throw new KilnError('E_CONFIG', `VAE config: residual_autoencoding needs the last block width ${c.block_out_channels[c.block_out_channels.length - 1]} divisible by latent_channels ${c.latent_channels}`);
  const tDowns = Math.log2(c.temporal_compression_ratio);
  if (!Number.isInteger(tDowns) || tDowns > levels - 1)
    throw new KilnError('E_CONFIG', `VAE config: temporal_compression_ratio ${c.temporal_compression_ratio} must be a power of 2 at most ${c.spatial_compression_ratio}`);
  for (const ch of c.block_out_channels)
    if (c.norm_type === 'group' && ch % c.norm_num_groups !== 0) throw new KilnError('E_CONFIG', `VAE config: block channels ${ch} are not divisible by norm_num_groups ${c.norm_num_groups}`);
  if (c.mid_block_add_attention && c.block_out_channels[levels - 1] % c.norm_num_groups !== 0)
    throw new KilnError('E_CONFIG', `VAE config: the mid-block attention's GroupNorm needs the last block width ${c.block_out_channels[levels - 1]} divisible by norm_num_groups ${c.norm_num_groups}`);
  return c;
}

/** Which downsampler (index over levels 0..L−2) also halves time: the last log2(r_t) of them. */
export function temporalDown(c: VaeConfig, level: number): boolean {
  const downs = c.block_out_channels.length - 1;
  return level >= downs - Math.log2(c.temporal_compression_ratio);
}

/** Latent frames for T video frames (T must be 1 + r_t·k). */
export function latentFrames(c: VaeConfig, T: number): number {
  const r = c.temporal_compression_ratio;
  if (!Number.isInteger(T) || T < 1 || (T - 1) % r !== 0)
    throw new KilnError('E_SHAPE', `VAE: ${T} frames is not 1 + ${r}·k; trim or pad the clip to 1, ${1 + r}, ${1 + 2 * r}, ... frames`);
  return 1 + (T - 1) / r;
}

/**
 * Exact parameter count: every conv is k³·cin·cout + cout, every GroupNorm 2·C (none with norm_type 'none'), each
 * mid-block attention 2·C (its GroupNorm) + 4·(C² + C) (q, k, v, out).
 */
export function vaeParamCount(c: VaeConfig): number {
  const conv = (cin: number, cout: number, k = 3) => k * k * k * cin * cout + cout;
  const gn = c.norm_type === 'none' ? 0 : 2;
  const res = (cin: number, cout: number) => gn * cin + conv(cin, cout) + gn * cout + conv(cout, cout) + (cin !== cout ? conv(cin, cout, 1) : 0);
  const ch = c.block_out_channels;
  const L = ch.length;
  let n = conv(c.in_channels, ch[0]);
  // encoder
  let cin = ch[0];
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < c.layers_per_block; j++) {
      n += res(cin, ch[i]);
      cin = ch[i];
    }
    if (i < L - 1) n += conv(ch[i], ch[i]);
  }
  const top = ch[L - 1];
  const attn = c.mid_block_add_attention ? 2 * top + 4 * (top * top + top) : 0;
  n += 2 * res(top, top) + attn + gn * top + conv(top, 2 * c.latent_channels);
  // decoder
  n += conv(c.latent_channels, top) + 2 * res(top, top) + attn;
  cin = top;
  for (let i = L - 1; i >= 0; i--) {
    for (let j = 0; j < c.layers_per_block + 1; j++) {
      n += res(cin, ch[i]);
      cin = ch[i];
    }
    if (i > 0) n += conv(ch[i], ch[i]);
  }
  n += gn * ch[0] + conv(ch[0], c.out_channels);
  return n;
}
