/**
 * Image-to-video, training-free (works with any text-to-video model): the image is encoded as the first latent frame
 * (the causal VAE encodes frame 0 alone, so an image is a 1-frame video with the same latent as a clip's first
 * frame; in pixel space it IS the first frame) and held as a known region while sampling — at every step the first
 * latent frame is replaced by the image latent noised to the current σ with the sampler's own ε (`guidedSample`).
 * The other frames are generated from the prompt, attending to that frame, and the first frame of the output is the
 * image (exactly in pixel space; up to the VAE's reconstruction in latent space).
 * The channel-concatenation method (Wan-I2V: first-frame latent + frame mask as extra DiT input channels) needs a
 * model trained with those channels (`VideoModelConfig.image_condition`); `method: 'concat'` uses only it, `'both'`
 * (the default for such models) also keeps the first frame known, `'replace'` (the default otherwise) only that.
 */
import { KilnError } from '../errors.js';
import { zeros } from '../tensor/creation.js';
import { cat } from '../tensor/ops/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { guidedSample } from './sampler.js';
import type { VideoModel } from './video-model.js';

export interface GenerateOptions {
  prompts: string[];
  frames?: number;
  steps?: number;
  seed?: number;
  guidance?: number;
  onStep?: (i: number, n: number) => void;
}

/** Images [B, 3, H, W] or [B, 3, 1, H, W] → [B, 3, 1, H, W]. */
export function asFrames(images: Tensor, what = 'image'): Tensor {
  if (images.ndim === 4) return images.unsqueeze(2);
  if (images.ndim === 5 && images.shape[2] === 1) return images;
  throw new KilnError('E_SHAPE', `${what} must be [B, 3, H, W] or [B, 3, 1, H, W], got [${images.shape}]`);
}

export function checkPrompts(prompts: readonly string[], B: number, what: string): void {
  if (prompts.length !== B) throw new KilnError('E_ARG', `${what}: ${prompts.length} prompts for ${B} inputs; give one prompt per input`);
}

export type I2vMethod = 'replace' | 'concat' | 'both';

/** Generates videos [B, 3, T, H, W] whose first frame is each image. */
export function imageToVideo(model: VideoModel, images: Tensor, o: GenerateOptions & { method?: I2vMethod }): Tensor {
  const method = o.method ?? (model.config.image_condition ? 'both' : 'replace');
  if (method !== 'replace' && !model.config.image_condition)
    throw new KilnError('E_CONFIG', `imageToVideo: method '${method}' needs a model trained with image_condition; use 'replace'`);
  const img = asFrames(images);
  const [B, , , H, W] = img.shape;
  checkPrompts(o.prompts, B, 'imageToVideo');
  const T = o.frames ?? model.config.frames;
  const shape = model.latentShape(B, T, H, W);
  const first = model.encode(img); // [B, C, 1, h, w]
  const rest = zeros([B, shape[1], shape[2] - 1, shape[3], shape[4]]);
  const latents = cat([first, rest], 2);
  const keepData = new Float32Array(shape[2]);
  keepData[0] = 1;
  const keep = zeros([1, 1, shape[2], 1, 1]);
  (keep.storage.data as Float32Array).set(keepData);
  const z = guidedSample(model.velocity(null, method === 'replace' ? null : first), shape, model.condition(o.prompts), {
    steps: o.steps ?? model.config.sample_steps, seed: o.seed ?? 0, guidance: o.guidance ?? model.config.guidance, shift: model.sigmaShift(shape),
    known: method === 'concat' ? null : { latents, keep }, onStep: o.onStep,
  });
  return model.decode(z);
}
