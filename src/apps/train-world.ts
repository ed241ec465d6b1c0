/**
 * The tiny application model: a pixel-space VideoModel (Single-DiT D = 32 × 2 layers + a 1-layer byte text encoder,
 * 4 frames of 8 × 8, a fixed sin-cos absolute position embedding on top of RoPE — without it the tiny model cannot
 * place the subject: trained on 4 fixed clips it got the direction right 1/4 times with RoPE only, 4/4 with it) trained with rectified flow on the synthetic subjects world (`subjects.ts`), so that one model
 * serves text-to-video, image-to-video, inpainting, avatar and personalization at test size.
 * Training alternates two kinds of batch:
 *   - text only: a named colour moving in a direction, caption "<colour> <direction>";
 *   - reference: a random colour (no name) moving in a direction, caption "<direction>", with the subject's still
 *     image as the in-context reference (`VideoModel.velocity(reference)`), so the model learns to take identity
 *     from the reference and motion from the text (the avatar task).
 * Text dropout 10 % trains the null condition for classifier-free guidance. With `image_condition`
 * (`tinyWorldConfig({ imageCondition: true })`), half of the batches (independently of the above) also get their first frame as the channel-
 * concatenated image condition (Wan-I2V), so the model learns image-to-video too.
 */
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { cosine } from '../optim/schedules.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { flowMatchingLoss } from '../train/flow-loss.js';
import { VideoModel, VIDEO_MODEL_TYPE, type VideoModelConfig } from './video-model.js';
import { DIRECTIONS, NAMED_COLOURS, randomColour, referenceImages, startFor, subjectVideos, type Rgb, type SubjectClip } from './subjects.js';
import { singleDitConfig } from '../models/dit/dit-config.js';

export function tinyWorldConfig({ imageCondition = false, shift = 1, absPos = true } = {}): VideoModelConfig {
  return {
    model_type: VIDEO_MODEL_TYPE,
    space: 'pixel',
    dit: singleDitConfig({ patch_size: [1, 2, 2], num_attention_heads: 2, attention_head_dim: 16, in_channels: imageCondition ? 7 : 3, out_channels: 3, text_dim: 16, freq_dim: 32, ffn_dim: 64, num_layers: 2 }),
    text_encoder: { vocab_size: 256, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 12 },
    text_length: 12,
    image_condition: imageCondition,
    abs_pos_embed: absPos,
    shift,
    frames: 4,
    height: 8,
    width: 8,
    sample_steps: 12,
    guidance: 2,
  };
}

export interface WorldBatch {
  clips: SubjectClip[];
  prompts: string[];
  /** reference colours when the batch is reference-conditioned */
  references: Rgb[] | null;
}

const pick = <T>(xs: readonly T[], gen: Generator): T => xs[Math.floor(gen.uniform() * xs.length)];

export function worldBatch(n: number, withReference: boolean, T: number, H: number, W: number, gen: Generator): WorldBatch {
  const clips: SubjectClip[] = [];
  const prompts: string[] = [];
  for (let b = 0; b < n; b++) {
    const direction = pick(Object.keys(DIRECTIONS), gen);
    const name = withReference ? null : pick(Object.keys(NAMED_COLOURS), gen);
    const colour = name ? NAMED_COLOURS[name] : randomColour(gen);
    clips.push({ colour, direction, ...startFor(direction, T, H, W, gen) });
    prompts.push(name ? `${name} ${direction}` : direction);
  }
  return { clips, prompts, references: withReference ? clips.map((c) => c.colour) : null };
}

export interface WorldTrainOptions {
  steps: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  textDropout?: number;
  /** cosine decay of the learning rate to `lr · minLrRatio` over the run (default 1 = constant) */
  minLrRatio?: number;
  onStep?: (step: number, loss: number) => void;
}

export function trainWorld(model: VideoModel, o: WorldTrainOptions): { losses: number[] } {
  const { steps, batchSize = 8, lr = 3e-3, seed = 0, textDropout = 0.1, minLrRatio = 1 } = o;
  const schedule = cosine(lr, lr * minLrRatio, steps);
  const { frames: T, height: H, width: W } = model.config;
  const gen = new Generator(seed);
  const params = model.parameters().filter((p) => p.requiresGrad);
  const opt = new AdamW(params, { lr, weightDecay: 0 });
  const losses: number[] = [];
  model.train();
  for (let s = 0; s < steps; s++) {
    const loss = tidy(() => {
      const batch = worldBatch(batchSize, s % 2 === 1, T, H, W, gen);
      const x0 = model.encode(subjectVideos(batch.clips, T, H, W));
      const ref = batch.references ? model.encode(referenceImages(batch.references, H, W)) : null;
      const image = model.config.image_condition && gen.uniform() < 0.5 ? x0.slice(2, 0, 1) : null;
      const { loss } = flowMatchingLoss(model.velocity(ref, image), x0, model.condition(batch.prompts), { generator: gen, textDropout, shift: model.sigmaShift(x0.shape) });
      loss.backward();
      return loss.item();
    });
    clipGradNorm(params, 1.0);
    opt.setLr(schedule(s));
    opt.step();
    model.zeroGrad();
    losses.push(loss);
    o.onStep?.(s, loss);
  }
  model.eval();
  return { losses };
}
