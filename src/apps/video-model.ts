/**
 * The text-to-video model the applications drive: a Single-DiT denoiser + a SmallTextEncoder + (optionally) the
 * causal VAE. `space: 'latent'` generates VAE latents and decodes them; `space: 'pixel'` (no VAE, the tiny demo
 * models) lets the DiT denoise RGB frames directly ([B, 3, T, H, W] in [−1, 1]), so encode/decode are the identity.
 *
 * Reference (in-context) conditioning for the avatar app: `velocity(cond, reference)` prepends the reference image's
 * latent tokens to the video tokens of every self-attention (RoPE time index −1, same spatial grid), runs the blocks
 * over the joint sequence, and drops the reference tokens before the output head, so the reference is read by
 * attention but never denoised. With no reference it is exactly `SingleDit.forward`.
 *
 * Image conditioning by channel concatenation (Wan-I2V style; `image_condition: true`): the DiT takes 2C + 1 input
 * channels — the noisy latents, the first-frame latent in latent frame 0 (zeros elsewhere) and a frame mask (1 on
 * latent frame 0 when an image is given) — and predicts C. Without an image the extra channels are zero, so the same
 * model still does text-to-video; `trainWorld` gives the first frame on half of its batches. `ZeroImageChannels` does the
 * same zero-fill for staged samplers (src/infer/video-sampler.ts, through demo-videos/text-to-video.ts `denoiser`).
 *
 * Text: prompts are tokenized by UTF-8 bytes (vocabulary 256; the default) or, when the config has `text_tokenizer`
 * (a saved `WordLevelTokenizer` vocabulary), one id per word; with `pooled_text` the text encoder's pooled vector is
 * also added to the DiT's timestep embedding (SingleDit `pooledTextDim`), so it drives every block's adaLN.
 *
 * A saved model is a directory: `config.json` (`VideoModelConfig`, `model_type: 'kiln_video_model'`) +
 * `model.safetensors` (names `dit.…`, `text_encoder.…`, `vae.…`).
 */
import { KilnError } from '../errors.js';
import { loadModelWeights, readConfig, saveModel } from '../io/checkpoint.js';
import { Module } from '../nn/module.js';
import { noGrad } from '../tensor/autograd.js';
import { cat } from '../tensor/ops/shape.js';
import { fromArray, zeros } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { singleDitConfig, type SingleDitConfig } from '../models/dit/dit-config.js';
import { patchify, rope3d, timestepEmbedding, unpatchify, type PatchGrid } from '../models/dit/embeddings.js';
import { keyMask } from '../models/dit/attention.js';
import { resolutionShift, type Condition, type VelocityModel } from '../models/dit/flow.js';
import { velocityFromX0 } from './demo-videos/x-prediction.js';
import { SingleDit, modulate, type DitInputs, type DitPass, type StagedDit } from '../models/dit/single-dit.js';
import { SmallTextEncoder, type SmallTextEncoderConfig } from '../models/dit/text-encoder.js';
import { tokenize } from '../models/dit/byte-tokens.js';
import { WordLevelTokenizer, type WordLevelJson } from '../tokenizers/word-level.js';
import { vaeConfig, latentFrames, type VaeConfig } from '../models/dit/vae-config.js';
import { CausalVae3d, DiagonalGaussian } from '../models/dit/vae.js';

export const VIDEO_MODEL_TYPE = 'kiln_video_model';

export interface VideoModelConfig {
  model_type?: string;
  space: 'pixel' | 'latent';
  dit: SingleDitConfig;
  text_encoder: SmallTextEncoderConfig;
  /** prompt length in tokens (longer prompts are cut) */
  text_length: number;
  /** the prompt tokenizer: a word-level vocabulary (tokenizers/word-level.ts); absent = UTF-8 bytes (vocab 256) */
  text_tokenizer?: WordLevelJson;
  /** add the pooled text vector to the DiT's timestep embedding (adaLN), as HunyuanVideo does with pooled CLIP */
  pooled_text?: boolean;
  vae?: VaeConfig;
  /** the clip geometry the model was trained on (defaults for generation) */
  frames: number;
  height: number;
  width: number;
  /** DiT input = [latents; first-frame latent; frame mask] (2C + 1 channels), see above */
  image_condition?: boolean;
  /**
   * add a fixed 3D sin-cos absolute position embedding to the tokens (`sincos3d`; DiT/Latte style) on top of RoPE:
   * RoPE alone only tells attention relative offsets, and a tiny model cannot recover where in the frame/clip a token
   * is, so it cannot place a subject or move it frame by frame
   */
  abs_pos_embed?: boolean;
  /**
   * with `abs_pos_embed`: positions as fractions of the clip (`sincos3d` `fractional`) instead of grid indices, so a
   * place "a third of the way across, half way through the clip" gets the same embedding in every bucket
   */
  abs_pos_fractional?: boolean;
  /**
   * σ shift α (flow.ts `shiftSigma`) for training σ and the sampling schedule alike; when absent, flow.ts's
   * resolution-dependent shift of the clip's token count (what `kiln train dit` trains with)
   */
  shift?: number;
  /** what the DiT outputs: 'v' velocity (default) or 'x' the clean clip (converted to velocity; demo-videos/x-prediction.ts) */
  prediction?: 'x' | 'v';
  /** default sampler settings */
  sample_steps: number;
  guidance: number;
}

export class VideoModel extends Module {
  dit: SingleDit;
  text_encoder: SmallTextEncoder;
  vae: CausalVae3d | null;
  /** word-level prompt tokenizer (config.text_tokenizer), or null for UTF-8 bytes */
  readonly tokenizer: WordLevelTokenizer | null;

  constructor(readonly config: VideoModelConfig, { seed = 0 } = {}) {
    super();
    const g = new Generator(seed);
    this.tokenizer = config.text_tokenizer ? WordLevelTokenizer.fromJSON(config.text_tokenizer) : null;
    const vocab = this.tokenizer ? this.tokenizer.vocabSize : 256;
    if (config.text_encoder.vocab_size !== vocab)
      throw new KilnError('E_CONFIG', `VideoModel: text_encoder.vocab_size ${config.text_encoder.vocab_size} does not match the ${this.tokenizer ? 'word-level' : 'byte'} tokenizer's ${vocab} ids`);
    this.dit = new SingleDit(config.dit, { generator: g, pooledTextDim: config.pooled_text ? config.text_encoder.hidden_size : 0 });
    this.text_encoder = new SmallTextEncoder(config.text_encoder, { generator: g });
    if (config.space === 'latent' && !config.vae) throw new KilnError('E_CONFIG', `VideoModel: space 'latent' needs a vae config`);
    this.vae = config.space === 'latent' ? new CausalVae3d(config.vae!, { generator: g }) : null;
    const C = config.space === 'latent' ? this.vae!.config.latent_channels : 3;
    const Cin = config.image_condition ? 2 * C + 1 : C;
    if (this.dit.config.in_channels !== Cin || this.dit.config.out_channels !== C)
      throw new KilnError('E_CONFIG', `VideoModel: the DiT has ${this.dit.config.in_channels}→${this.dit.config.out_channels} channels but ${config.space} space${config.image_condition ? ' with image conditioning' : ''} needs ${Cin}→${C}`);
  }

  /** latent channels C */
  get channels(): number {
    return this.dit.config.out_channels;
  }

  /** Latent shape [B, C, t, h, w] of a video of T × H × W frames. */
  latentShape(B: number, T: number, H: number, W: number): number[] {
    if (!this.vae) return [B, 3, T, H, W];
    const c = this.vae.config;
    if (H % c.spatial_compression_ratio || W % c.spatial_compression_ratio)
      throw new KilnError('E_SHAPE', `VideoModel: frames ${H}×${W} must be multiples of ${c.spatial_compression_ratio} for the VAE`);
    return [B, c.latent_channels, latentFrames(c, T), H / c.spatial_compression_ratio, W / c.spatial_compression_ratio];
  }

  /** Video [B, 3, T, H, W] → latents (posterior mean · scaling_factor; the identity in pixel space). */
  encode(video: Tensor): Tensor {
    if (!this.vae) return video.contiguous();
    const vae = this.vae;
    return noGrad(() => new DiagonalGaussian(vae.encodeChunked(video)).mean.mul(vae.config.scaling_factor)); // moments → posterior mean
  }

  /** Latents → video [B, 3, T, H, W] (clamped to [−1, 1]). */
  decode(latents: Tensor): Tensor {
    if (!this.vae) return latents.clamp(-1, 1);
    const vae = this.vae;
    return noGrad(() => vae.decodeChunked(latents.div(vae.config.scaling_factor)).clamp(-1, 1));
  }

  /** The σ shift for latents of this shape: config.shift, else the resolution shift of its token count. */
  sigmaShift(latentShape: readonly number[]): number {
    if (this.config.shift !== undefined) return this.config.shift;
    const [pt, ph, pw] = this.dit.config.patch_size;
    return resolutionShift((latentShape[2] / pt) * (latentShape[3] / ph) * (latentShape[4] / pw));
  }

  /** Token ids [B, L] (i32) and keep mask [B, L] of prompts: word-level when the model has a vocabulary, else bytes. */
  tokenize(prompts: readonly string[]): { ids: Tensor; mask: Tensor } {
    const L = this.config.text_length;
    if (!this.tokenizer) return tokenize(prompts, L);
    const ids = new Int32Array(prompts.length * L);
    const mask = new Float32Array(prompts.length * L);
    prompts.forEach((p, b) => {
      const t = this.tokenizer!.encode(p).subarray(0, L);
      ids.set(t, b * L);
      mask.fill(1, b * L, b * L + t.length);
    });
    return { ids: fromArray(ids, [prompts.length, L], { dtype: 'i32' }), mask: fromArray(mask, [prompts.length, L]) };
  }

  /** Text condition for prompts. */
  condition(prompts: readonly string[]): Condition {
    const { ids, mask } = this.tokenize(prompts);
    const { states, pooled } = this.text_encoder.encode(ids, mask);
    return { text: states, pooled, textMask: mask };
  }

  /**
   * The velocity model, optionally with reference latents [B, C, 1, h, w] in context and (image_condition models) a
   * first-frame latent [B, C, 1, h, w] as extra input channels.
   */
  velocity(reference: Tensor | null = null, image: Tensor | null = null): VelocityModel {
    if (image && !this.config.image_condition)
      throw new KilnError('E_CONFIG', 'VideoModel.velocity: this model was not trained with image (channel-concatenation) conditioning; use the first-frame replacement method');
    const absPos = !!this.config.abs_pos_embed, fractional = !!this.config.abs_pos_fractional;
    const xPred = this.config.prediction === 'x';
    const ref = reference && this.config.image_condition ? withImageChannels(reference, null) : reference; // reference tokens: zero image channels
    return (x, t, c) => {
      const out = ditForward(this.dit, this.config.image_condition ? withImageChannels(x, image) : x, t, c, ref, { absPos, fractional });
      return xPred ? velocityFromX0(x, out, t) : out;
    };
  }

  save(dir: string): void {
    saveModel(this, dir, { ...this.config, model_type: VIDEO_MODEL_TYPE });
  }
}

/**
 * Single-DiT forward with optional in-context reference tokens. The reference is repeated to the batch of x when it
 * has one sample (CFG doubles the batch).
 */
export function ditForward(dit: SingleDit, latents: Tensor, timestep: Tensor, cond: Condition, reference: Tensor | null, { absPos = false, fractional = false } = {}): Tensor {
  if (!reference && !absPos) return dit.forward({ latents, timestep, text: cond.text, textMask: cond.textMask, pooled: cond.pooled });
  const c = dit.config;
  const D = c.num_attention_heads * c.attention_head_dim;
  const B = latents.shape[0];
  let ref = reference;
  if (ref && (ref.ndim !== 5 || ref.shape[1] !== latents.shape[1] || ref.shape[3] !== latents.shape[3] || ref.shape[4] !== latents.shape[4]))
    throw new KilnError('E_SHAPE', `reference latents [${ref.shape}] must be [B, ${latents.shape[1]}, t, ${latents.shape[3]}, ${latents.shape[4]}] like the video latents [${latents.shape}]`);
  if (ref && ref.shape[0] !== B) {
    if (B % ref.shape[0] !== 0) throw new KilnError('E_SHAPE', `reference batch ${ref.shape[0]} does not divide the video batch ${B}`);
    const r1 = ref;
    ref = cat(Array.from({ length: B / r1.shape[0] }, () => r1), 0);
  }
  const { tokens, grid } = patchify(latents, c.patch_size);
  const refP = ref ? patchify(ref, c.patch_size) : null;
  const nRef = refP ? refP.tokens.shape[1] : 0;
  let x = dit.patch_embedding.forward(refP ? cat([refP.tokens, tokens], 1) : tokens); // [B, nRef + N, D]
  if (absPos) {
    const pe = refP ? cat([sincos3d(refP.grid, D, -refP.grid.t, fractional), sincos3d(grid, D, 0, fractional)], 0) : sincos3d(grid, D, 0, fractional);
    x = x.add(pe);
  }
  const ce = dit.condition_embedder;
  const temb = ce.temb(timestep, cond.pooled); // [B, D] (+ pooled text when the DiT has the embedder)
  const e = ce.time_proj.forward(temb.silu()).reshape([-1, 6, D]);
  const ctx = ce.text_embedder.forward(cond.text);
  const rVid = rope3d(grid, c.rope_axes_dim!, c.rope_theta);
  let rope = rVid;
  if (refP) {
    const rRef = rope3d(refP.grid, c.rope_axes_dim!, c.rope_theta, 0, [-refP.grid.t, 0, 0]);
    rope = { cos: cat([rRef.cos, rVid.cos], 0), sin: cat([rRef.sin, rVid.sin], 0) };
  }
  const mask = keyMask(cond.textMask);
  for (const b of dit.blocks) x = b.forward(x, e, ctx, rope, mask);
  if (nRef) x = x.slice(1, nRef);
  const [shift, scale] = dit.scale_shift_table.add(temb.unsqueeze(1)).split(1, 1).map((t) => t.squeeze(1));
  const out = dit.proj_out.forward(modulate(dit.norm_out.forward(x), shift, scale));
  return unpatchify(out, grid, c.patch_size, c.out_channels);
}

/** The range fractional positions are scaled to (about a demo grid's length, so the table's frequencies fit). */
export const FRACTIONAL_SPAN = 8;

/**
 * Fixed 3D sin-cos absolute position embedding [N, D] for a t×h×w token grid in raster order (DiT / Latte style):
 * D is split like RoPE (d_t = D − 2·d_s, d_h = d_w = d_s = 2⌊D/6⌋); each part is [sin(p·ω_i), cos(p·ω_i)],
 * ω_i = 100^(−i/(d/2)) (a short period: the grids are small). `tOffset` shifts the time index (reference: −1).
 * `fractional`: positions relative to the clip, scaled to FRACTIONAL_SPAN: time (t + tOffset)/(n_t − 1) (0 for a
 * single frame), height/width the cell centre (i + 0.5)/n — equal for the same relative place in every clip size.
 */
export function sincos3d(grid: PatchGrid, D: number, tOffset = 0, fractional = false): Tensor {
  const ds = 2 * Math.floor(D / 6);
  const parts = [D - 2 * ds, ds, ds];
  const N = grid.t * grid.h * grid.w;
  const out = new Float32Array(N * D);
  let n = 0;
  for (let t = 0; t < grid.t; t++)
    for (let h = 0; h < grid.h; h++)
      for (let w = 0; w < grid.w; w++, n++) {
        const pos = fractional
          ? [grid.t > 1 ? ((t + tOffset) / (grid.t - 1)) * FRACTIONAL_SPAN : tOffset * FRACTIONAL_SPAN, ((h + 0.5) / grid.h) * FRACTIONAL_SPAN, ((w + 0.5) / grid.w) * FRACTIONAL_SPAN]
          : [t + tOffset, h, w];
        let j = 0;
        for (let a = 0; a < 3; a++) {
          const half = Math.floor(parts[a] / 2);
          for (let i = 0; i < half; i++) {
            const ang = pos[a] * Math.pow(100, -i / half);
            out[n * D + j + i] = Math.sin(ang);
            out[n * D + j + half + i] = Math.cos(ang);
          }
          j += parts[a];
        }
      }
  return fromArray(out, [N, D]);
}

/** [x; first-frame latent in frame 0, zeros elsewhere; frame mask] along channels (image null → zeros). */
export function withImageChannels(x: Tensor, image: Tensor | null): Tensor {
  const [B, C, T, h, w] = x.shape;
  if (!image) return cat([x, zeros([B, C + 1, T, h, w])], 1);
  let img = image;
  if (img.ndim !== 5 || img.shape[1] !== C || img.shape[2] !== 1 || img.shape[3] !== h || img.shape[4] !== w)
    throw new KilnError('E_SHAPE', `image latents [${img.shape}] must be [B, ${C}, 1, ${h}, ${w}] for video latents [${x.shape}]`);
  if (img.shape[0] !== B) {
    if (B % img.shape[0] !== 0) throw new KilnError('E_SHAPE', `image batch ${img.shape[0]} does not divide the video batch ${B}`);
    img = cat(Array.from({ length: B / img.shape[0] }, () => image), 0);
  }
  const cond = T > 1 ? cat([img, zeros([B, C, T - 1, h, w])], 2) : img;
  const m = zeros([B, 1, T, h, w]);
  const md = m.storage.data as Float32Array;
  for (let b = 0; b < B; b++) md.fill(1, m.offset + b * T * h * w, m.offset + b * T * h * w + h * w);
  return cat([x, cond, m], 1);
}

/**
 * A staged DiT of an `image_condition` model sampled without an image: the inputs get zero image channels and a zero
 * frame mask appended (`withImageChannels(x, null)`, what `VideoModel.velocity()` does with no image), so samplers
 * and diffusion caches that drive a `StagedDit` with C-channel latents can run a DiT that takes 2C + 1.
 */
export class ZeroImageChannels implements StagedDit {
  constructor(readonly dit: StagedDit) {}
  begin(inputs: DitInputs): DitPass {
    return this.dit.begin({ ...inputs, latents: withImageChannels(inputs.latents, null) });
  }
  forward(inputs: DitInputs): Tensor {
    return this.dit.forward({ ...inputs, latents: withImageChannels(inputs.latents, null) });
  }
}

/** Reads a saved VideoModel directory. */
export function loadVideoModel(dir: string): VideoModel {
  const raw = readConfig(dir);
  if (raw.model_type !== VIDEO_MODEL_TYPE)
    throw new KilnError('E_CONFIG', `${dir}/config.json has model_type ${JSON.stringify(raw.model_type)}, not '${VIDEO_MODEL_TYPE}'; make a model with 'kiln train apps-demo --out ${dir}'`);
  const cfg = raw as unknown as VideoModelConfig;
  const config: VideoModelConfig = { ...cfg, dit: singleDitConfig(cfg.dit), vae: cfg.vae ? vaeConfig(cfg.vae) : undefined };
  const m = new VideoModel(config);
  loadModelWeights(m, dir);
  return m.eval();
}

