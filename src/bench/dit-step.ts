/**
 * `kiln bench dit-step`: one Single-DiT rectified-flow training step (patchify → DiT forward → velocity MSE →
 * backward → global-norm clip → AdamW) on a tiny-but-not-toy config: hidden 384 (6 heads × 64), 4 layers, FFN
 * 1536, 16 latent channels, latents [B, 16, 4, 32, 32] → 1,024 video tokens per sample (patch 1×2×2), 16 text tokens
 * of width 384 (fixed random states: the text encoder is not part of the step). Timed with train-step.ts's
 * `measureSteps` (warm-up, windows, best window's mean step; the median step beside it).
 *
 * FLOPs per step = 3 × forward matmul FLOPs (forward + backward at 2× forward; attention's recomputation in the
 * backward is not counted — model FLOPs), forward counted exactly per sample (N video tokens, L text tokens,
 * P = C·pt·ph·pw, f = freq dim, Dt = text width):
 *   patch embedding 2·N·P·D + time embedder 2·(f·D + D²) + time_proj 2·D·6D + text embedder 2·L·(Dt·D + D²)
 *   + per block: self-attention projections 8·N·D² + scores and P·V 4·N²·D (non-causal)
 *                + cross-attention q/o 4·N·D² + k/v 4·L·D² + scores and P·V 4·N·L·D + FFN 4·N·D·F
 *   + head 2·N·D·P.
 * Norms, modulation, RoPE, GELU, softmax, the loss and AdamW are real work but not model FLOPs. MFU = achieved ÷ the
 * measured fp32 FMA peak at the same thread count.
 */
import type { Command } from 'commander';
import { getBackendName } from '../backend/index.js';
import { flowMatchingLoss } from '../train/flow-loss.js';
import { singleDitConfig, type SingleDitConfig } from '../models/dit/dit-config.js';
import { SingleDit } from '../models/dit/single-dit.js';
import { parseTileWindow, type TileWindow } from '../models/dit/attention.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { randn } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { positiveInt } from '../cli/options.js';
import { toJson } from './json.js';
import { setKilnThreads } from './kiln-threads.js';
import { machineInfo } from './machine.js';
import { measurePeak } from './peak.js';
import { fmt, grid, machineLines } from './table.js';
import { measureSteps, type StepMetrics } from './train-step.js';
import { timingOptions } from './timing.js';

export const DIT_STEP_TARGET_MFU = 0.35;

export interface DitStepWorkload {
  config: SingleDitConfig;
  batch: number;
  /** latent frames, height, width */
  latent: [number, number, number];
  textTokens: number;
  attention: TileWindow | null;
}

export function ditStepWorkload(o: { quick?: boolean; batch?: number; frames?: number; size?: number; hidden?: number; layers?: number; attention?: TileWindow | null } = {}): DitStepWorkload {
  const D = o.hidden ?? (o.quick ? 64 : 384);
  const config = singleDitConfig({
    num_attention_heads: D / 64, attention_head_dim: 64, in_channels: 16, out_channels: 16, text_dim: D, freq_dim: 256,
    ffn_dim: 4 * D, num_layers: o.layers ?? (o.quick ? 2 : 4),
  });
  const size = o.size ?? (o.quick ? 8 : 32);
  return { config, batch: o.batch ?? 1, latent: [o.frames ?? (o.quick ? 2 : 4), size, size], textTokens: 16, attention: o.attention ?? null };
}

/** Model FLOPs of one forward pass for one sample (see the file header). */
export function ditForwardFlops(c: SingleDitConfig, N: number, L: number, attendedKeys = N): number {
  const D = c.num_attention_heads * c.attention_head_dim;
  const P = c.in_channels * c.patch_size[0] * c.patch_size[1] * c.patch_size[2];
  const Pout = c.out_channels * c.patch_size[0] * c.patch_size[1] * c.patch_size[2];
  const F = c.ffn_dim;
  const embed = 2 * N * P * D + 2 * (c.freq_dim * D + D * D) + 2 * D * 6 * D + 2 * L * (c.text_dim * D + D * D);
  const block = 8 * N * D * D + 4 * N * attendedKeys * D + 4 * N * D * D + 4 * L * D * D + 4 * N * L * D + 4 * N * D * F;
  return embed + c.num_layers * block + 2 * N * D * Pout;
}

export interface DitStepResult extends StepMetrics {
  workload: DitStepWorkload;
  tokensPerSample: number;
  params: number;
  backend: string;
  threads: number;
  threadsUsed: number;
  /** fraction of forward FLOPs in attention scores/P·V */
  attentionFlopShare: number;
  /**
   * Process CPU seconds (all threads) per step: the best and the median over the measured steps, and the MFU they
   * imply against threadsUsed × the per-thread peak — what the code achieves on the cycles it got, which on a
   * machine shared with other jobs is the steadier reading (spinning pool threads count as busy).
   */
  cpuStepMs: number;
  medianCpuStepMs: number;
  cpuMfu: number | null;
}

export async function benchDitStep(w: DitStepWorkload, threads: number, quick: boolean, peakGflops: number | null): Promise<DitStepResult> {
  const th = await setKilnThreads(threads);
  const c = w.config;
  const [T, H, W] = w.latent;
  const N = (T / c.patch_size[0]) * (H / c.patch_size[1]) * (W / c.patch_size[2]);
  let attended = N;
  if (w.attention) {
    const tiles = w.attention.tile.reduce((a, b) => a * b, 1);
    const grid = [T / c.patch_size[0], H / c.patch_size[1], W / c.patch_size[2]];
    attended = tiles * w.attention.window.reduce((a, b, i) => a * Math.min(b, grid[i] / w.attention!.tile[i]), 1);
  }
  const model = new SingleDit(c, { generator: new Generator(42), attention: w.attention });
  const gen = new Generator(7);
  const x0 = randn([w.batch, c.in_channels, T, H, W], { generator: gen });
  const text = randn([w.batch, w.textTokens, c.text_dim], { generator: gen });
  const params = model.parameters();
  const opt = new AdamW(params, { lr: 1e-4, weightDecay: 0 });
  try {
    const cpu: number[] = [];
    const run = (steps: number) => {
      const durations: number[] = [];
      const losses: number[] = [];
      cpu.length = 0;
      for (let s = 0; s < steps; s++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const loss = tidy(() => {
          const { loss } = flowMatchingLoss((x, t, cc) => model.forward({ latents: x, timestep: t, text: cc.text }), x0, { text }, { generator: gen, tokens: N });
          loss.backward();
          return loss.item();
        });
        clipGradNorm(params, 1.0);
        opt.step();
        model.zeroGrad();
        durations.push((performance.now() - t0) / 1000);
        const cu = process.cpuUsage(c0);
        cpu.push((cu.user + cu.system) / 1e6);
        losses.push(loss);
      }
      return { durations, losses };
    };
    const fwd = ditForwardFlops(c, N, w.textTokens, attended);
    const attn = c.num_layers * 4 * N * attended * (c.num_attention_heads * c.attention_head_dim);
    const metrics = measureSteps(run, timingOptions(quick), w.batch * N, (3 * fwd) / N, peakGflops);
    const sorted = [...cpu].sort((a, b) => a - b);
    const cpuBest = sorted[0];
    const perThreadPeak = peakGflops ? peakGflops / threads : null;
    return {
      ...metrics, workload: w, tokensPerSample: N, params: model.numParameters(), backend: getBackendName(), threads, threadsUsed: th.used,
      attentionFlopShare: attn / fwd,
      cpuStepMs: cpuBest * 1e3,
      medianCpuStepMs: sorted[Math.floor((sorted.length - 1) / 2)] * 1e3,
      cpuMfu: perThreadPeak ? metrics.flopPerStep / cpuBest / 1e9 / perThreadPeak : null,
    };
  } finally {
    model.dispose();
    opt.dispose();
    x0.dispose();
    text.dispose();
  }
}

export function ditStepLines(r: DitStepResult): string[] {
  const c = r.workload.config;
  const D = c.num_attention_heads * c.attention_head_dim;
  const a = r.workload.attention;
  return [
    `DiT training step: Single-DiT D=${D} (${c.num_attention_heads}×${c.attention_head_dim}), ${c.num_layers} layers, FFN ${c.ffn_dim}, ${(r.params / 1e6).toFixed(2)}M params, ` +
      `batch ${r.workload.batch} × ${r.tokensPerSample} video tokens (latents ${r.workload.latent.join('×')}, patch ${c.patch_size.join('×')}) + ${r.workload.textTokens} text tokens, ` +
      `${a ? `sliding-tile attention tile ${a.tile.join('×')} window ${a.window.join('×')}` : 'full attention'}, flow loss + bwd + clip + AdamW, ${r.backend} backend, ${r.threadsUsed} thread(s)`,
    ...grid(['step ms', 'median ms', 'tokens/s', 'GFLOP/step', 'GFLOP/s', 'MFU'], [[
      fmt(r.stepMs), fmt(r.medianStepMs), fmt(r.tokensPerSecond), fmt(r.flopPerStep / 1e9), fmt(r.achievedGflops), r.mfu === null ? 'n/a' : `${(r.mfu * 100).toFixed(1)}%`,
    ]]),
    `  CPU time per step: best ${fmt(r.cpuStepMs)} ms, median ${fmt(r.medianCpuStepMs)} ms → MFU on the cycles received ${r.cpuMfu === null ? 'n/a' : `${(r.cpuMfu * 100).toFixed(1)}%`} (vs threads × per-thread peak)`,
    `  FLOPs = 3 × forward matmul FLOPs incl. attention scores/P·V (${(r.attentionFlopShare * 100).toFixed(0)}% of forward); best of ${r.windows} window(s) over ${r.measuredSteps} step(s); target MFU ≥ ${DIT_STEP_TARGET_MFU * 100}%`,
  ];
}

/** `kiln bench dit-step` on the `kiln bench` command. */
export function registerDitStepBench(bench: Command): Command {
  return bench
    .command('dit-step')
    .description('Single-DiT training step (D=384, 4 layers, 1,024 video tokens): tokens/s and MFU (issue 5 target ≥ 35%)')
    .option('--threads <t>', 'kernel threads (default: all hardware threads)', positiveInt)
    .option('--batch <B>', 'samples per step (default 1)', positiveInt)
    .option('--frames <T>', 'latent frames (default 4)', positiveInt)
    .option('--size <S>', 'latent height = width (default 32)', positiveInt)
    .option('--hidden <D>', 'model width, a multiple of 64 (default 384)', positiveInt)
    .option('--layers <n>', 'blocks (default 4)', positiveInt)
    .option('--attention <spec>', "'full' (default) or sliding-tile sparse self-attention 'tile=TxHxW,window=TxHxW' (token-grid tiles; e.g. tile=1x4x4,window=3x3x3)")
    .option('--quick', 'tiny config, short timing (tests)')
    .option('--json', 'print one JSON object')
    .action(async (o: { threads?: number; batch?: number; frames?: number; size?: number; hidden?: number; layers?: number; attention?: string; quick?: boolean; json?: boolean }) => {
      const quick = o.quick ?? false;
      const threads = o.threads ?? (await import('node:os')).availableParallelism();
      const w = ditStepWorkload({ quick, batch: o.batch, frames: o.frames, size: o.size, hidden: o.hidden, layers: o.layers, attention: o.attention ? parseTileWindow(o.attention) : null });
      const m = await machineInfo();
      const peak = await measurePeak(threads, quick);
      const r = await benchDitStep(w, threads, quick, peak.gflops);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(toJson({
          bench: 'dit-step', value: r.tokensPerSecond, unit: 'tokens/s', tokensPerS: r.tokensPerSecond, mfu: r.mfu, peakGflops: r.peakGflops, achievedGflops: r.achievedGflops,
          stepMs: r.stepMs, medianStepMs: r.medianStepMs, flopPerStep: r.flopPerStep, tokensPerStep: r.tokensPerStep, attentionFlopShare: r.attentionFlopShare,
          params: r.params, config: w.config, attention: w.attention, batch: w.batch, latent: w.latent, threads, threadsUsed: r.threadsUsed, backend: r.backend,
          cpuStepMs: r.cpuStepMs, medianCpuStepMs: r.medianCpuStepMs, cpuMfu: r.cpuMfu, loss: [r.firstLoss, r.lastLoss], targetMfu: DIT_STEP_TARGET_MFU, targetMet: quick || r.mfu === null ? null : r.mfu >= DIT_STEP_TARGET_MFU,
        }))}\n`);
      } else process.stdout.write(`${[...machineLines(m), ...ditStepLines(r)].join('\n')}\n`);
      if (!Number.isFinite(r.lastLoss)) process.exitCode = 1;
    });
}
