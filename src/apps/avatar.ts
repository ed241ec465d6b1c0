/**
 * Text-to-video avatar: a reference identity image conditions every frame. The reference is encoded like a 1-frame
 * video and its latent tokens are placed in context before the video tokens (RoPE time index −1, not denoised;
 * `VideoModel.velocity(reference)`), so every frame's tokens can attend to the subject's appearance while the prompt
 * sets the motion. It needs a model trained with that conditioning (`train-world.ts` trains one on synthetic
 * subjects: identity = the reference's colour, motion = the caption).
 */
import { KilnError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { asFrames, checkPrompts, type GenerateOptions } from './image-to-video.js';
import { guidedSample } from './sampler.js';
import type { VideoModel } from './video-model.js';

/** Videos [B, 3, T, H, W] of each reference's subject ([B, 3, H, W] or [B, 3, 1, H, W], frame size of the output). */
export function avatarVideo(model: VideoModel, references: Tensor, o: GenerateOptions & { height?: number; width?: number }): Tensor {
  const ref = asFrames(references, 'reference');
  const [B, , , H, W] = ref.shape;
  if ((o.height !== undefined && o.height !== H) || (o.width !== undefined && o.width !== W))
    throw new KilnError('E_SHAPE', `avatar: the reference is ${H}×${W} but ${o.height}×${o.width} frames were asked for; resize the reference to the frame size`);
  checkPrompts(o.prompts, B, 'avatar');
  const T = o.frames ?? model.config.frames;
  const shape = model.latentShape(B, T, H, W);
  const z = guidedSample(model.velocity(model.encode(ref)), shape, model.condition(o.prompts), {
    steps: o.steps ?? model.config.sample_steps, seed: o.seed ?? 0, guidance: o.guidance ?? model.config.guidance, shift: model.sigmaShift(shape), onStep: o.onStep,
  });
  return model.decode(z);
}
