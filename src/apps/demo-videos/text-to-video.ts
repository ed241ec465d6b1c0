/**
 * Text-to-video end to end on real data, as library functions the `kiln train vae|dit` and `kiln video …` commands
 * call (the CLI only parses and prints):
 * - `trainVaeFromData(data, o)`: trains a causal VAE (preset, default `vae-tiny`) on shards or a video directory
 *   with bucketed batches, reports held-out PSNR/SSIM, saves it (vae-io.ts: config.json + safetensors);
 * - `trainDitFromData(data, o)`: builds a `VideoModel` (apps/video-model.ts: Single-DiT + SmallTextEncoder over
 *   UTF-8 bytes or, with `tokenizer: 'word'`, a word-level vocabulary built from the training captions; optionally
 *   the pooled text vector into adaLN (`pooledText`) and the frozen VAE) and trains it with rectified flow (src/train/video-dit.ts). Without a
 *   VAE the DiT denoises pixels directly (space 'pixel', patch 1×8×8); with `vaeDir` it denoises VAE latents
 *   (space 'latent', patch 1×1×1). In pixel space the DiT predicts the clean clip (x-prediction.ts: a 64-wide DiT
 *   cannot carry 192-value noise patches) and the loss/sampler see the implied velocity. The text encoder stays
 *   frozen at its seeded init unless `trainText` (jointly trained it collapsed to constant states). Saved as one
 *   directory: config.json (DiT, text encoder, text length, VAE config and source, training geometry, prediction,
 *   sampler defaults) + model.safetensors (dit.*, text_encoder.*, vae.*). With `absPos` (`abs_pos_embed` in the config;
 *   the CLI's default) the DiT adds the fixed 3D sin-cos position table (`AbsPosDit`) to its patch embeddings.
 *   `shift` fixes the σ shift for training and sampling (config.json `shift`; the CLI's default 8: with the
 *   token-count shift ≈ 1.6 the noise, not the prompt, decided where the object goes — docs/aquarius.md);
 * - `generateVideo(model, prompts, o)`: seeded rectified-flow sampling through src/infer/video-sampler.ts
 *   (Euler/Heun, CFG, optional TeaCache/FBCache `cache`), σ shift = the model's (`VideoModel.sigmaShift`: config
 *   `shift`, else by token count), decoded to RGB frames (and exact floats). It samples any `VideoModel`: the
 *   demo's x-prediction models and the apps' models (`kiln train apps-demo`, image_condition ones included) —
 *   `denoiser` is `VideoModel.velocity()` staged;
 * - `checkPrompts(model, prompts, o)`: generates every prompt and scores it with check.ts.
 */
import { KilnError } from '../../errors.js';
import { loadModelWeights, readConfig } from '../../io/checkpoint.js';
import type { Frames } from '../../io/video.js';
import type { VelocityModel } from '../../models/dit/flow.js';
import type { DitInputs, DitPass, SingleDit, StagedDit } from '../../models/dit/single-dit.js';
import type { Tensor } from '../../tensor/tensor.js';
import { singleDitConfig, type SingleDitConfig } from '../../models/dit/dit-config.js';
import type { SmallTextEncoderConfig } from '../../models/dit/text-encoder.js';
import { vaeConfig } from '../../models/dit/vae-config.js';
import { loadVae, saveVae } from '../../models/dit/vae-io.js';
import { CausalVae3d } from '../../models/dit/vae.js';
import { sampleVideo } from '../../infer/video-sampler.js';
import { noGrad } from '../../tensor/autograd.js';
import { Generator } from '../../tensor/random.js';
import { tidy } from '../../tensor/scope.js';
import { chwToFrames, loadVideoSamples, type VideoSample } from '../../train/video-data.js';
import { cappedXWeight, trainVideoDit } from '../../train/video-dit.js';
import { evaluateVaeOn, trainVaeOnVideos } from '../../train/video-vae.js';
import { VideoModel, ZeroImageChannels, sincos3d, type VideoModelConfig } from '../video-model.js';
import { XPrediction } from './x-prediction.js';
import { WordLevelTokenizer, type WordLevelJson } from '../../tokenizers/word-level.js';
import { checkVideo, summarize, type CheckRow, type CheckSummary } from './check.js';

export interface LoadProgress {
  onLoad?: (done: number, total: number) => void;
}

/** Splits off every `holdout`-th sample (by key order) for evaluation. */
function split(samples: VideoSample[], every: number): { train: VideoSample[]; held: VideoSample[] } {
  if (every <= 0 || samples.length < 2 * every) return { train: samples, held: [] };
  return { train: samples.filter((_, i) => i % every !== 0), held: samples.filter((_, i) => i % every === 0) };
}

export interface VaeRunOptions extends LoadProgress {
  steps: number;
  out: string;
  preset?: string;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** weight of the edge term (src/train/video-vae.ts `edgeWeight`; default 0) */
  edgeWeight?: number;
  /** KL weight β (default 1e-6) */
  klWeight?: number;
  /** learning-rate schedule after warmup (default cosine) */
  schedule?: 'constant' | 'cosine';
  /** held-out PSNR/SSIM every this many steps (the result's `held_out.curve`); 0 / omitted = only before and after */
  evalEvery?: number;
  onStep?: (step: number, recon: number, bucket: string) => void;
  onEval?: (step: number, metrics: { psnr: number; ssim: number }) => void;
}

export interface VaeRunResult {
  samples: number;
  buckets: number;
  steps: number;
  seconds: number;
  first_recon: number;
  last_recon: number;
  held_out: { clips: number; before: { psnr: number; ssim: number } | null; after: { psnr: number; ssim: number } | null;
    /** with `evalEvery`: PSNR/SSIM at every eval step (the last is `after`) */
    curve: Array<{ step: number; psnr: number; ssim: number; seconds: number }> };
  out: string;
}

export async function trainVaeFromData(data: string, o: VaeRunOptions): Promise<VaeRunResult> {
  const c = vaeConfig(o.preset ?? 'vae-tiny');
  const samples = await loadVideoSamples(data, { spatialMultiple: c.spatial_compression_ratio, temporalMultiple: c.temporal_compression_ratio, onSample: o.onLoad });
  const { train, held } = split(samples, 8);
  const vae = new CausalVae3d(c, { generator: new Generator(o.seed ?? 0) });
  try {
    const before = held.length ? evaluateVaeOn(vae, held) : null;
    const curve: VaeRunResult['held_out']['curve'] = [];
    const every = held.length && o.evalEvery ? o.evalEvery : 0;
    const r = trainVaeOnVideos(vae, train, { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed, edgeWeight: o.edgeWeight, klWeight: o.klWeight,
      ...(o.schedule ? { schedule: o.schedule } : {}), onStep: o.onStep,
      ...(every ? { evalEvery: every, evaluate: () => evaluateVaeOn(vae, held),
        onEval: (step: number, m: { psnr: number; ssim: number }, seconds: number) => (curve.push({ step, ...m, seconds }), o.onEval?.(step, m)) } : {}) });
    const after = curve.length ? { psnr: curve[curve.length - 1].psnr, ssim: curve[curve.length - 1].ssim } : held.length ? evaluateVaeOn(vae, held) : null;
    saveVae(vae, o.out, { steps: String(o.steps), data });
    const avg = (a: number[]): number => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);
    return { samples: samples.length, buckets: new Set(samples.map((s) => s.bucket)).size, steps: o.steps, seconds: r.seconds,
      first_recon: avg(r.losses.slice(0, 5)), last_recon: avg(r.losses.slice(-10)), held_out: { clips: held.length, before, after, curve }, out: o.out };
  } finally {
    vae.dispose();
  }
}

/** Width knobs of the tiny DiT + text encoder. */
export interface TinyModelOptions {
  hidden?: number;
  layers?: number;
  heads?: number;
  textHidden?: number;
  textLayers?: number;
  textLength?: number;
  /** spatial patch of the DiT (pixel space default 8, latent space 1) */
  patch?: number;
  /** 'x' (default in pixel space) or 'v' (default in latent space); see x-prediction.ts */
  prediction?: 'x' | 'v';
  /** train the text encoder jointly (default false: it stays at its seeded random init, see below) */
  trainText?: boolean;
  /** start from this saved model's weights (same sizes) instead of the seeded init */
  init?: string;
  /** add the fixed 3D sin-cos absolute position embedding (video-model.ts `sincos3d`) to the tokens; default false */
  absPos?: boolean;
  /** with absPos: positions as fractions of the clip (the same table entry for the same relative place in every bucket) */
  fractionalPos?: boolean;
  /** prompt tokens: 'byte' (UTF-8, vocab 256; default) or 'word' (a word-level vocabulary built from the training captions) */
  tokenizer?: 'byte' | 'word';
  /** add the text encoder's pooled vector to the DiT's timestep embedding (adaLN); default false */
  pooledText?: boolean;
}

/**
 * The tiny model's config. A word-level model (`m.tokenizer === 'word'`) needs `vocab` (e.g.
 * `WordLevelTokenizer.fromCorpus(captions).toJSON()`); its prompts are 16 tokens unless `textLength` says otherwise.
 */
export function tinyVideoModelConfig(space: 'pixel' | 'latent', channels: number, geometry: { frames: number; height: number; width: number },
    m: TinyModelOptions = {}, vae?: VideoModelConfig['vae'], vocab?: WordLevelJson): VideoModelConfig {
  const word = m.tokenizer === 'word';
  if (word && !vocab) throw new KilnError('E_ARG', 'tinyVideoModelConfig: a word-level model needs its vocabulary (WordLevelTokenizer.fromCorpus(captions).toJSON())');
  const hidden = m.hidden ?? 64, heads = m.heads ?? 4, textHidden = m.textHidden ?? 32, textLength = m.textLength ?? (word ? 16 : 64);
  if (hidden % heads !== 0) throw new KilnError('E_CONFIG', `tiny video model: hidden ${hidden} must divide into ${heads} heads`);
  const dit: SingleDitConfig = singleDitConfig({
    patch_size: [1, m.patch ?? (space === 'pixel' ? 8 : 1), m.patch ?? (space === 'pixel' ? 8 : 1)], num_attention_heads: heads, attention_head_dim: hidden / heads,
    in_channels: channels, out_channels: channels, text_dim: textHidden, freq_dim: 64, ffn_dim: 4 * hidden, num_layers: m.layers ?? 4,
  });
  const text_encoder: SmallTextEncoderConfig = { vocab_size: word ? vocab!.vocab.length : 256, hidden_size: textHidden, num_hidden_layers: m.textLayers ?? 2,
    num_attention_heads: 2, intermediate_size: 2 * textHidden, max_position_embeddings: textLength };
  return { space, dit, text_encoder, text_length: textLength, ...(word ? { text_tokenizer: vocab } : {}), ...(m.pooledText ? { pooled_text: true } : {}),
    vae, ...geometry, sample_steps: 20, guidance: 3, ...(m.absPos ? { abs_pos_embed: true } : {}),
    ...(m.absPos && m.fractionalPos ? { abs_pos_fractional: true } : {}) };
}

/** What the DiT outputs: 'x' (clean clip, converted to velocity — x-prediction.ts) or 'v' (velocity); stored in config.json. */
export function predictionOf(model: VideoModel): 'x' | 'v' {
  return (model.config as VideoModelConfig & { prediction?: 'x' | 'v' }).prediction ?? 'v';
}

/**
 * A Single-DiT with the fixed 3D sin-cos absolute position embedding added to the patch embeddings (the same sum as
 * video-model.ts `ditForward` with `absPos`), staged so the diffusion caches still work.
 */
export class AbsPosDit implements StagedDit {
  /** `fractional`: positions relative to the clip (video-model.ts `sincos3d`) */
  constructor(readonly dit: SingleDit, readonly fractional = false) {}
  begin(inputs: DitInputs): DitPass {
    const c = this.dit.config;
    const [, , T, H, W] = inputs.latents.shape;
    const [pt, ph, pw] = c.patch_size;
    const pe = sincos3d({ t: T / pt, h: H / ph, w: W / pw }, c.num_attention_heads * c.attention_head_dim, 0, this.fractional); // [N, D]
    return withX(this.dit.begin(inputs), (x) => x.add(pe));
  }
  forward(inputs: DitInputs): Tensor {
    const p = this.begin(inputs);
    return p.head(p.blocks(p.x, 0, p.numBlocks));
  }
}

/** `p` with its entry hidden states replaced by f(p.x) (and rows sliced from them). */
function withX(p: DitPass, f: (x: Tensor) => Tensor): DitPass {
  const x = f(p.x);
  const at = (q: DitPass, xq: Tensor): DitPass => ({
    x: xq, batch: q.batch, numBlocks: q.numBlocks,
    modulatedInput: (h) => q.modulatedInput(h), blocks: (h, a, b) => q.blocks(h, a, b), head: (h) => q.head(h),
    rows: (a, b) => at(q.rows(a, b), xq.slice(0, a, b)),
  });
  return at(p, x);
}

/**
 * The denoiser the sampler runs — text-to-video through `VideoModel.velocity()` (no reference, no image), staged so
 * the diffusion caches work: the DiT (with absolute positions when the model has `abs_pos_embed`), fed zero image
 * channels when it takes them (`image_condition`: 2C + 1 input channels), wrapped for x-prediction when the model
 * was trained that way.
 */
export function denoiser(model: VideoModel): StagedDit {
  let net: StagedDit = model.config.abs_pos_embed ? new AbsPosDit(model.dit, !!model.config.abs_pos_fractional) : model.dit;
  if (model.config.image_condition) net = new ZeroImageChannels(net);
  return predictionOf(model) === 'x' ? new XPrediction(net) : net;
}

/** Tokens of one latent clip for the σ shift. */
export function tokenCount(model: VideoModel, latentShape: readonly number[]): number {
  const [pt, ph, pw] = model.dit.config.patch_size;
  return (latentShape[2] / pt) * (latentShape[3] / ph) * (latentShape[4] / pw);
}

export interface DitRunOptions extends LoadProgress, TinyModelOptions {
  steps: number;
  out: string;
  vaeDir?: string;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /**
   * a fixed σ shift α for training and sampling (saved as config.json `shift`); omitted = the resolution shift of
   * each clip's token count (≈ 1.6 for the demo's 216 tokens, which left layout to the noise — see docs/aquarius.md)
   */
  shift?: number;
  /** training σ before the shift: 'logit-normal' (default) or 'uniform' (the sampler's schedule density) */
  sigmaSampling?: 'logit-normal' | 'uniform';
  /** x-prediction: weight the clean-clip error by 1/max(σ, σ_c)² instead of 1/σ² (src/train/video-dit.ts `cappedXWeight`) */
  lossSigmaCap?: number;
  /** fraction of training σ drawn uniformly on (0, 1) without the shift (src/train/video-dit.ts `lowNoiseFraction`) */
  lowNoiseFraction?: number;
  onStep?: (step: number, loss: number, bucket: string) => void;
}

export interface DitRunResult {
  space: 'pixel' | 'latent';
  prediction: 'x' | 'v';
  samples: number;
  buckets: string[];
  params: number;
  steps: number;
  seconds: number;
  first_loss: number;
  last_loss: number;
  out: string;
}

export async function trainDitFromData(data: string, o: DitRunOptions): Promise<DitRunResult> {
  const vae = o.vaeDir ? loadVae(o.vaeDir) : null;
  try {
    const space = vae ? 'latent' : 'pixel';
    const spatial = (vae ? vae.config.spatial_compression_ratio : 1) * (o.patch ?? (vae ? 1 : 8));
    const samples = await loadVideoSamples(data, { spatialMultiple: spatial, temporalMultiple: vae ? vae.config.temporal_compression_ratio : 1, onSample: o.onLoad });
    const f0 = samples[0].frames;
    // a continued run keeps the vocabulary (and so the embedding rows) of the model it starts from
    const initVocab = o.init ? (readConfig(o.init) as { text_tokenizer?: WordLevelJson }).text_tokenizer : undefined;
    const vocab = o.tokenizer === 'word' ? initVocab ?? WordLevelTokenizer.fromCorpus(samples.map((s) => s.caption)).toJSON() : undefined;
    const cfg = tinyVideoModelConfig(space, vae ? vae.config.latent_channels : 3, { frames: f0.frames, height: f0.height, width: f0.width }, o, vae?.config, vocab);
    const prediction = o.prediction ?? (vae ? 'v' : 'x');
    const model = new VideoModel({ ...cfg, prediction, ...(vae ? { vae_source: o.vaeDir } : {}), ...(o.shift !== undefined ? { shift: o.shift } : {}) } as VideoModelConfig,
      { seed: o.seed ?? 0 });
    try {
      if (o.init) loadModelWeights(model, o.init);
      else if (vae && model.vae) model.vae.loadStateDict(vae.stateDict());
      model.vae?.eval();
      // Trained jointly, the text encoder collapsed to near-constant states within a few hundred steps (token-to-token
      // difference 1.06 → 0.02) and the DiT never used the prompt; frozen at its random init its byte features stay
      // distinct and the DiT's cross-attention learns to read them.
      const params = [...model.dit.parameters(), ...(o.trainText ? model.text_encoder.parameters() : [])];
      const net = denoiser(model);
      const trainable = { encode: (v: Tensor) => model.encode(v), condition: (p: readonly string[]) => (o.trainText ? model.condition(p) : noGrad(() => model.condition(p))),
        velocity: (): VelocityModel => (x, t, c) => net.forward({ latents: x, timestep: t, text: c.text, textMask: c.textMask, pooled: c.pooled }) };
      const r = trainVideoDit(trainable, samples, { params, steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed,
        tokensOf: (s) => tokenCount(model, s), shift: o.shift, sigmaSampling: o.sigmaSampling,
        lossWeight: o.lossSigmaCap !== undefined ? cappedXWeight(o.lossSigmaCap) : undefined, lowNoiseFraction: o.lowNoiseFraction, onStep: o.onStep });
      model.save(o.out);
      const avg = (a: number[]): number => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);
      return { space, prediction, samples: samples.length, buckets: [...new Set(samples.map((s) => s.bucket))].sort(),
        params: params.reduce((n, p) => n + p.size, 0), steps: o.steps, seconds: r.seconds,
        first_loss: avg(r.losses.slice(0, 10)), last_loss: avg(r.losses.slice(-20)), out: o.out };
    } finally {
      model.dispose();
    }
  } finally {
    vae?.dispose();
  }
}

export interface GenerateOptions {
  frames?: number;
  width?: number;
  height?: number;
  steps?: number;
  cfg?: number;
  seed?: number;
  sampler?: 'euler' | 'heun';
  /** 'none' | 'teacache:<thr>' | 'fbcache:<thr>' */
  cache?: string;
  onStep?: (step: number, steps: number) => void;
}

export interface GenerateResult {
  videos: Frames[];
  /** the same videos as floats [B, 3, T, H, W] in [−1, 1] (exact; e.g. for a `.safetensors` output) */
  floats: Float32Array;
  seconds: number;
  calls: number;
  /** block-stack passes computed / skipped by the diffusion cache, summed over the CFG streams */
  cache: { setting: string; computed: number; skipped: number };
}

/** Generates one video per prompt (seeded; a batch over the prompts). */
export function generateVideo(model: VideoModel, prompts: readonly string[], o: GenerateOptions = {}): GenerateResult {
  const c = model.config;
  const T = o.frames ?? c.frames, H = o.height ?? c.height, W = o.width ?? c.width;
  const shape = model.latentShape(prompts.length, T, H, W);
  const [pt, ph, pw] = model.dit.config.patch_size;
  if (shape[2] % pt || shape[3] % ph || shape[4] % pw)
    throw new KilnError('E_SHAPE', `generate: ${W}x${H}x${T} gives latents [${shape}] not divisible by the patch [${model.dit.config.patch_size}]; ` +
      `use sizes that are multiples of ${ph * (shape[3] ? H / shape[3] : 1)}`);
  return noGrad(() => tidy(() => {
    const cond = model.condition(prompts);
    const r = sampleVideo(denoiser(model), cond, { shape, steps: o.steps ?? c.sample_steps, seed: o.seed ?? 0, cfg: o.cfg ?? c.guidance,
      sampler: o.sampler, shift: model.sigmaShift(shape), cache: o.cache ?? null, onStep: o.onStep });
    const video = model.decode(r.latents); // [B, 3, T, H, W]
    const x = video.contiguous().data() as Float32Array;
    const n = 3 * T * H * W;
    const videos = prompts.map((_, b) => chwToFrames(x, T, H, W, b * n, 8));
    const floats = x.slice(0, prompts.length * n); // a copy: x is freed with the scope
    const computed = r.cache.streams.reduce((n, st) => n + st.computed, 0), skipped = r.cache.streams.reduce((n, st) => n + st.skipped, 0);
    return { videos, floats, seconds: r.seconds, calls: r.calls, cache: { setting: r.cache.setting, computed, skipped } };
  }));
}

export interface PromptCheckOptions extends Omit<GenerateOptions, 'frames' | 'width' | 'height'> {
  /** prompts per sampling batch */
  batch?: number;
}

export interface PromptItem {
  prompt: string;
  frames: number;
  width: number;
  height: number;
}

/** Generates every prompt at its own size and reads colour, direction and shape back (check.ts). */
export function checkPrompts(model: VideoModel, items: readonly PromptItem[], o: PromptCheckOptions = {}): CheckSummary & { seconds: number } {
  const rows: CheckRow[] = new Array(items.length);
  const bs = o.batch ?? 8;
  const t0 = Date.now();
  const groups = new Map<string, number[]>();
  items.forEach((it, i) => {
    const k = `${it.width}x${it.height}x${it.frames}`;
    groups.set(k, [...(groups.get(k) ?? []), i]);
  });
  for (const idx of groups.values())
    for (let i = 0; i < idx.length; i += bs) {
      const part = idx.slice(i, i + bs);
      const { frames, width, height } = items[part[0]];
      const { videos } = generateVideo(model, part.map((j) => items[j].prompt), { ...o, frames, width, height, seed: (o.seed ?? 0) + part[0] });
      part.forEach((j, k) => (rows[j] = checkVideo(videos[k], items[j].prompt)));
    }
  return { ...summarize(rows), seconds: (Date.now() - t0) / 1000 };
}
