/**
 * Personalization: LoRA fine-tuning of the DiT on a few clips of one subject, captioned with a rare token ("sks
 * right"), then generation of that subject in new prompts ("sks left") with the adapter. Only the adapter trains
 * (`applyLora` freezes the DiT and the text encoder is not optimised), with the rectified-flow loss on the clips; the
 * adapter is saved alone (PEFT-style `adapter_model.safetensors` + `adapter_config.json`) and applied to the base
 * model at generation time (`loadLoraAdapter(model.dit, dir)`).
 * Prior preservation (DreamBooth, Ruiz et al. 2023): with `priorPrompts`, the base model first generates one clip per
 * prompt (before the adapter exists), and every step adds `priorWeight` × the flow loss on a batch of those, so the
 * adapter learns the subject without drifting the prompts it was not meant to change.
 */
import { KilnError } from '../errors.js';
import { applyLora, loraParameters } from '../nn/lora.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { Generator } from '../tensor/random.js';
import { keep, tidy } from '../tensor/scope.js';
import { noGrad } from '../tensor/autograd.js';
import { cat } from '../tensor/ops/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { flowMatchingLoss } from '../train/flow-loss.js';
import { SKS_COLOUR, startFor, subjectVideos, type SubjectClip } from './subjects.js';
import { guidedSample } from './sampler.js';
import type { VideoModel } from './video-model.js';

/** Every attention projection and the FFN of every block. */
export const DEFAULT_LORA_TARGETS = ['to_q', 'to_k', 'to_v', 'to_out.0', 'ffn.net.0.proj', 'ffn.net.2'];

export interface PersonalizeOptions {
  /** training clips [N, 3, T, H, W] and one caption each */
  clips: Tensor;
  captions: string[];
  steps: number;
  rank?: number;
  alpha?: number;
  targets?: string[];
  lr?: number;
  batchSize?: number;
  /** prompts of the class/other subjects whose base-model generations regularise the adapter */
  priorPrompts?: string[];
  priorWeight?: number;
  /** sampling steps for the prior clips (default the model's) */
  priorSteps?: number;
  seed?: number;
  onStep?: (step: number, loss: number) => void;
}

/** Adds a LoRA adapter to model.dit and trains it on the clips; returns the losses and the adapted layer paths. */
export function personalize(model: VideoModel, o: PersonalizeOptions): { losses: number[]; adapted: string[] } {
  const N = o.clips.shape[0];
  if (o.clips.ndim !== 5 || o.clips.shape[1] !== 3) throw new KilnError('E_SHAPE', `personalize: clips must be [N, 3, T, H, W], got [${o.clips.shape}]`);
  if (o.captions.length !== N) throw new KilnError('E_ARG', `personalize: ${o.captions.length} captions for ${N} clips`);
  const { steps, rank = 8, alpha = rank, targets = DEFAULT_LORA_TARGETS, lr = 2e-2, batchSize = Math.min(N, 4), seed = 0 } = o;
  const gen = new Generator(seed);
  const prior = o.priorPrompts?.length
    ? keep(noGrad(() => guidedSample(model.velocity(), latentsShapeOf(model, o.priorPrompts!.length, o.clips), model.condition(o.priorPrompts!), { steps: o.priorSteps ?? model.config.sample_steps, seed: seed + 1, guidance: model.config.guidance, shift: model.sigmaShift(latentsShapeOf(model, o.priorPrompts!.length, o.clips)) })))
    : null;
  const priorWeight = o.priorWeight ?? 1;
  const adapted = applyLora(model.dit, { rank, alpha, targets, generator: gen });
  for (const p of model.text_encoder.parameters()) p.requiresGrad = false;
  const params = loraParameters(model.dit);
  const opt = new AdamW(params, { lr, weightDecay: 0 });
  const latents = model.encode(o.clips);
  const losses: number[] = [];
  model.train();
  for (let s = 0; s < steps; s++) {
    const loss = tidy(() => {
      const idx = Array.from({ length: batchSize }, () => Math.floor(gen.uniform() * N));
      const x0 = cat(idx.map((i) => latents.slice(0, i, i + 1)), 0);
      let { loss } = flowMatchingLoss(model.velocity(), x0, model.condition(idx.map((i) => o.captions[i])), { generator: gen, shift: model.sigmaShift(x0.shape) });
      if (prior) {
        const P = prior.shape[0];
        const pi = Array.from({ length: batchSize }, () => Math.floor(gen.uniform() * P));
        const p0 = cat(pi.map((i) => prior.slice(0, i, i + 1)), 0);
        const { loss: pl } = flowMatchingLoss(model.velocity(), p0, model.condition(pi.map((i) => o.priorPrompts![i])), { generator: gen, shift: model.sigmaShift(p0.shape) });
        loss = loss.add(pl.mul(priorWeight));
      }
      loss.backward();
      return loss.item();
    });
    clipGradNorm(params, 1.0);
    opt.step();
    for (const p of params) {
      p.grad?.dispose();
      p.grad = null;
    }
    losses.push(loss);
    o.onStep?.(s, loss);
  }
  model.eval();
  prior?.dispose();
  for (const p of model.text_encoder.parameters()) p.requiresGrad = true;
  return { losses, adapted };
}

function latentsShapeOf(model: VideoModel, n: number, clips: Tensor): number[] {
  const [, , T, H, W] = clips.shape;
  return model.latentShape(n, T, H, W);
}

/** The demo subject: a yellow square ("sks") seen moving right and down only (two starts each). */
export function sksClips(T: number, H: number, W: number, seed = 5): { clips: Tensor; captions: string[] } {
  const gen = new Generator(seed);
  const specs: SubjectClip[] = [];
  const captions: string[] = [];
  for (const direction of ['right', 'down'])
    for (let k = 0; k < 2; k++) {
      specs.push({ colour: SKS_COLOUR, direction, ...startFor(direction, T, H, W, gen) });
      captions.push(`sks ${direction}`);
    }
  return { clips: subjectVideos(specs, T, H, W), captions };
}
