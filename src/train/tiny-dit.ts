/**
 * A tiny end-to-end rectified-flow run on synthetic latents: a Single-DiT and a SmallTextEncoder trained jointly
 * (flow-loss.ts, with text dropout for classifier-free guidance) on latents whose content a one-word prompt
 * determines — each colour word in `DEMO_WORDS` lights one channel with a block that moves one step per latent frame.
 * It trains in seconds, so it is the model the flow tests and `kiln bench video-cache` sample from; the real
 * text-to-video demo is `kiln train dit` on the demo clips (src/apps/demo-videos).
 */
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { fromArray } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { tokenize } from '../models/dit/byte-tokens.js';
import type { Condition } from '../models/dit/flow.js';
import type { SingleDit } from '../models/dit/single-dit.js';
import type { SmallTextEncoder } from '../models/dit/text-encoder.js';
import { flowMatchingLoss } from './flow-loss.js';

export const DEMO_WORDS = ['red', 'green', 'blue', 'white'];

/** Latents [B, C, T, H, W] for word indices: channel (w mod C) carries a bright block that moves right in time. */
export function demoLatents(words: readonly number[], C: number, T: number, H: number, W: number): Tensor {
  const out = new Float32Array(words.length * C * T * H * W).fill(-0.5);
  words.forEach((w, b) => {
    for (let t = 0; t < T; t++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          const on = (j - t + W) % W < W / 2;
          out[(((b * C + (w % C)) * T + t) * H + i) * W + j] = on ? 1 : -1;
        }
  });
  return fromArray(out, [words.length, C, T, H, W]);
}

/** The text condition of `prompts` (byte tokens, length L) through the encoder. */
export function encodeCondition(te: SmallTextEncoder, prompts: readonly string[], L = 8): Condition {
  const { ids, mask } = tokenize(prompts, L);
  const { states, pooled } = te.encode(ids, mask);
  return { text: states, pooled, textMask: mask };
}

export interface DitTrainOptions {
  steps: number;
  batchSize?: number;
  frames?: number;
  size?: number;
  lr?: number;
  textDropout?: number;
  seed?: number;
}

export function trainTinyDit(dit: SingleDit, te: SmallTextEncoder, o: DitTrainOptions): { losses: number[] } {
  const { steps, batchSize = 4, frames = 2, size = 4, lr = 3e-3, textDropout = 0.1, seed = 0 } = o;
  const gen = new Generator(seed);
  const params = [...dit.parameters(), ...te.parameters()];
  const opt = new AdamW(params, { lr, weightDecay: 0 });
  const losses: number[] = [];
  const C = dit.config.in_channels;
  for (let s = 0; s < steps; s++) {
    const loss = tidy(() => {
      const words = Array.from({ length: batchSize }, () => Math.floor(gen.uniform() * DEMO_WORDS.length));
      const x0 = demoLatents(words, C, frames, size, size);
      const cond = encodeCondition(te, words.map((w) => DEMO_WORDS[w]));
      const { loss } = flowMatchingLoss(
        (x, t, c) => dit.forward({ latents: x, timestep: t, text: c.text, textMask: c.textMask }),
        x0, cond, { generator: gen, textDropout },
      );
      loss.backward();
      return loss.item();
    });
    clipGradNorm(params, 1.0);
    opt.step();
    dit.zeroGrad();
    te.zeroGrad();
    losses.push(loss);
  }
  return { losses };
}
