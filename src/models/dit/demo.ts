/**
 * The two tiny Aquarius demos as library functions (the CLI only parses and prints):
 * - `runVaeDemo`: trains a VAE preset (default `vae-small`) on synthetic moving shapes, reports held-out PSNR/SSIM
 *   before, every `evalEvery` steps, and after;
 * - `runFlowDemo`: trains a tiny Single-DiT + SmallTextEncoder with rectified flow on prompt-conditioned latents,
 *   then samples every prompt (seeded, CFG) and reports how many land on the prompted channel.
 */
import { noGrad } from '../../tensor/autograd.js';
import { Generator } from '../../tensor/random.js';
import { sampleFlow } from './flow.js';
import { SingleDit } from './single-dit.js';
import { SmallTextEncoder } from './text-encoder.js';
import { DEMO_WORDS, encodeCondition, trainTinyDit } from './train-dit.js';
import { evaluateVae, trainVae } from './train-vae.js';
import { CausalVae3d } from './vae.js';

export interface VaeDemoResult {
  preset: string;
  steps: number;
  seconds: number;
  before: { psnr: number; ssim: number };
  after: { psnr: number; ssim: number };
  final_recon_mse: number;
  /** held-out PSNR/SSIM every `evalEvery` steps (training seconds so far, evaluation excluded) */
  curve: { step: number; psnr: number; ssim: number; seconds: number }[];
}

export interface VaeDemoOptions {
  preset?: string;
  steps?: number;
  size?: number;
  frames?: number;
  seed?: number;
  lr?: number;
  batchSize?: number;
  evalEvery?: number;
  onStep?: (s: number, l: number) => void;
  onEval?: (step: number, m: { psnr: number; ssim: number }, seconds: number) => void;
}

/**
 * Trains a VAE preset (default vae-small: AdamW 5e-4, 20 warmup steps, cosine decay to 5 %) on moving shapes and
 * reports held-out PSNR/SSIM (8 clips of seed 12345, posterior mean) before, during and after.
 */
export function runVaeDemo({ preset = 'vae-small', steps = 800, size = 32, frames = 5, seed = 1, lr = 5e-4, batchSize = 2, evalEvery = 50, onStep, onEval }: VaeDemoOptions = {}): VaeDemoResult {
  const vae = new CausalVae3d(preset, { generator: new Generator(seed) });
  try {
    const ev = { clips: 8, frames, size, seed: 12345 };
    const before = evaluateVae(vae, ev);
    const curve: VaeDemoResult['curve'] = [];
    const t0 = Date.now();
    const { losses } = trainVae(vae, {
      steps, frames, size, seed, lr, batchSize, warmup: Math.min(20, steps), schedule: 'cosine', evalEvery, evalOptions: ev, onStep,
      onEval: (step, m, sec) => { curve.push({ step, ...m, seconds: sec }); onEval?.(step, m, sec); },
    });
    const seconds = (Date.now() - t0) / 1000;
    const last = curve[curve.length - 1];
    return { preset, steps, seconds, before, after: last ? { psnr: last.psnr, ssim: last.ssim } : evaluateVae(vae, ev), final_recon_mse: losses[losses.length - 1], curve };
  } finally {
    vae.dispose();
  }
}

export interface FlowDemoResult {
  steps: number;
  seconds: number;
  first_loss: number;
  last_loss: number;
  /** prompts whose sample has the prompted channel brightest, per guidance scale */
  correct: Record<string, number>;
  prompts: number;
}

export function runFlowDemo({ steps = 200, seed = 3, sampleSteps = 8, guidances = [1, 2, 4] }: { steps?: number; seed?: number; sampleSteps?: number; guidances?: number[] } = {}): FlowDemoResult {
  const dit = new SingleDit({ num_attention_heads: 2, attention_head_dim: 16, in_channels: 4, out_channels: 4, text_dim: 16, freq_dim: 32, ffn_dim: 64, num_layers: 2 }, { generator: new Generator(1) });
  const te = new SmallTextEncoder({ vocab_size: 256, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 8 }, { generator: new Generator(2) });
  try {
    const t0 = Date.now();
    const { losses } = trainTinyDit(dit, te, { steps, batchSize: 8, lr: 5e-3, seed });
    const seconds = (Date.now() - t0) / 1000;
    const correct: Record<string, number> = {};
    noGrad(() => {
      const c = encodeCondition(te, DEMO_WORDS);
      for (const g of guidances) {
        const x = sampleFlow((xx, t, cc) => dit.forward({ latents: xx, timestep: t, text: cc.text, textMask: cc.textMask }), [DEMO_WORDS.length, 4, 2, 4, 4], c, { steps: sampleSteps, seed: 1, guidance: g });
        const means = x.mean([2, 3, 4]).toArray() as number[][];
        correct[String(g)] = means.filter((m, b) => m.indexOf(Math.max(...m)) === b % 4).length;
      }
    });
    const avg = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    return { steps, seconds, first_loss: avg(losses.slice(0, 5)), last_loss: avg(losses.slice(-10)), correct, prompts: DEMO_WORDS.length };
  } finally {
    dit.dispose();
    te.dispose();
  }
}
