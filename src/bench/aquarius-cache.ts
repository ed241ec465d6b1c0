/**
 * `kiln bench video-cache`: diffusion-cache speed-up vs quality for the tiny Aquarius demo model (issue item 6).
 *
 * 1. Trains a tiny Single-DiT + SmallTextEncoder jointly with rectified flow on the synthetic prompt-conditioned
 *    moving-block latents of src/train/tiny-dit.ts (a colour word picks the channel; the block moves one step
 *    per latent frame), 300 AdamW steps, seeded, ~30–60 s on 2 shared cores (a better-trained model has straighter
 *    trajectories, which is what makes caching work: at 150 steps the same settings lose ~10 dB).
 * 2. Calibrates TeaCache's rescaling polynomial on the model's own trajectories (a threshold-0 run on a calibration
 *    seed that is NOT one of the evaluation seeds; relOutput ≈ p(relInput), degree 2).
 * 3. For the same prompts and seeds samples uncached and with each cache setting (TeaCache identity and rescaled at
 *    several thresholds, FBCache at two), Euler, `steps` steps, CFG; runs are interleaved round-robin over `repeats`
 *    rounds so every setting sees the same stretches of a shared machine's load; the BEST wall time per setting is
 *    reported (noise only adds time), process CPU time beside it.
 * 4. Quality: PSNR (data range 2, latents live in [−1, 1]) and SSIM (metrics.ts) of each cached sample vs the
 *    uncached sample of the same prompt and seed, over the whole [B, C, T, H, W] batch. The comparison is in latent
 *    space: the demo model generates latent clips directly (there is no trained VAE decoder of useful quality).
 * Target (issue 5, item 6): ≥ 2.35× speed-up at PSNR ≥ 30 dB.
 */
import type { Command } from 'commander';
import { KilnError } from '../errors.js';
import { sampleVideo } from '../infer/video-sampler.js';
import { describeCacheSetting, fitTeaCache, parseCacheSetting, type CacheSetting, type CacheTraceEntry } from '../infer/diffusion-cache.js';
import { psnr, ssim } from '../models/dit/metrics.js';
import { SingleDit } from '../models/dit/single-dit.js';
import { SmallTextEncoder } from '../models/dit/text-encoder.js';
import { DEMO_WORDS, encodeCondition, trainTinyDit } from '../train/tiny-dit.js';
import type { SingleDitConfig } from '../models/dit/dit-config.js';
import { noGrad } from '../tensor/autograd.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { positiveInt } from '../cli/options.js';
import { toJson } from './json.js';
import { setKilnThreads } from './kiln-threads.js';
import { machineInfo } from './machine.js';
import { fmt, grid, machineLines } from './table.js';

export const CACHE_TARGET = { speedup: 2.35, psnr: 30 };

export interface VideoCacheOptions {
  quick?: boolean;
  /** model width (heads of 16) and depth */
  hidden?: number;
  layers?: number;
  trainSteps?: number;
  /** latent frames and side (latents [B, 4, frames, size, size], patch 1×2×2) */
  frames?: number;
  size?: number;
  steps?: number;
  cfg?: number;
  seeds?: number[];
  repeats?: number;
  threads?: number;
  /** settings to compare (strings as parseCacheSetting; 'teacache-fit:<thr>' = TeaCache with the fitted rescaling) */
  settings?: string[];
  log?: (line: string) => void;
}

export interface VideoCacheRow {
  setting: string;
  /** best and median wall seconds per sampling run (all seeds) over the rounds */
  seconds: number;
  medianSeconds: number;
  /** best process CPU seconds per run */
  cpuSeconds: number;
  speedup: number;
  cpuSpeedup: number;
  /** block stacks skipped / calls, summed over seeds and CFG streams */
  skipped: number;
  calls: number;
  psnr: number;
  ssim: number;
  /** the worst seed's PSNR */
  minPsnr: number;
}

export interface VideoCacheResult {
  model: Partial<SingleDitConfig> & { params: number };
  train: { steps: number; seconds: number; firstLoss: number; lastLoss: number };
  sampling: { steps: number; sampler: 'euler'; cfg: number; prompts: string[]; seeds: number[]; shape: number[]; repeats: number };
  threadsUsed: number;
  teacacheCoefficients: number[];
  rows: VideoCacheRow[];
  /** the fastest setting meeting PSNR ≥ 30 dB, and whether it reaches 2.35× */
  best: { setting: string; speedup: number; psnr: number } | null;
  targetMet: boolean;
}

export const DEFAULT_SETTINGS = ['teacache:0.1', 'teacache:0.15', 'teacache:0.2', 'teacache-fit:0.3', 'teacache:0.2:taylor', 'fbcache:0.1', 'fbcache:0.15'];

function resolve(spec: string, coef: number[]): CacheSetting {
  const m = /^teacache-fit:([^:]+)(:taylor)?$/.exec(spec);
  if (m) return { kind: 'teacache', threshold: Number(m[1]), coefficients: coef, ...(m[2] ? { taylor: true } : {}) };
  return parseCacheSetting(spec);
}

function cpuNow(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

function avg(a: number[]): number {
  return a.reduce((s, v) => s + v, 0) / a.length;
}

export async function benchVideoCache(o: VideoCacheOptions = {}): Promise<VideoCacheResult> {
  const log = o.log ?? (() => {});
  const quick = o.quick ?? false;
  const D = o.hidden ?? (quick ? 32 : 64);
  const layers = o.layers ?? (quick ? 2 : 4);
  const trainSteps = o.trainSteps ?? (quick ? 30 : 300);
  const frames = o.frames ?? (quick ? 2 : 4);
  const size = o.size ?? (quick ? 4 : 8);
  const steps = o.steps ?? (quick ? 10 : 50);
  const cfg = o.cfg ?? 3;
  const seeds = o.seeds ?? (quick ? [1] : [1, 2, 3]);
  const repeats = o.repeats ?? (quick ? 1 : 3);
  const specs = o.settings ?? (quick ? ['teacache:0.1', 'teacache-fit:0.2', 'fbcache:0.1'] : DEFAULT_SETTINGS);
  if (D % 16 !== 0) throw new KilnError('E_ARG', `bench video-cache: hidden ${D} must be a multiple of 16 (heads of 16)`);
  const th = await setKilnThreads(o.threads ?? 1);
  const config: Partial<SingleDitConfig> = {
    num_attention_heads: D / 16, attention_head_dim: 16, in_channels: 4, out_channels: 4, text_dim: 16, freq_dim: 32, ffn_dim: 4 * D, num_layers: layers,
  };
  const dit = new SingleDit(config, { generator: new Generator(1) });
  const te = new SmallTextEncoder({ vocab_size: 256, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 8 }, { generator: new Generator(2) });
  const outputs: Tensor[] = [];
  try {
    log(`video-cache: training a Single-DiT (D=${D}, ${layers} layers) for ${trainSteps} steps on ${frames}×${size}×${size} latents`);
    const t0 = performance.now();
    const { losses } = trainTinyDit(dit, te, { steps: trainSteps, batchSize: 8, lr: 3e-3, seed: 3, frames, size });
    const trainSeconds = (performance.now() - t0) / 1000;
    const shape = [DEMO_WORDS.length, 4, frames, size, size];
    return noGrad(() => {
      const cond = encodeCondition(te, DEMO_WORDS);
      log('video-cache: calibrating the TeaCache rescaling on seed 1000 (not an evaluation seed)');
      const trace: CacheTraceEntry[] = [];
      const cal = sampleVideo(dit, cond, { shape, steps, seed: 1000, cfg, cache: 'teacache:0', trace });
      cal.latents.dispose();
      const coef = fitTeaCache(trace, 2);
      const settings: CacheSetting[] = [{ kind: 'none' }, ...specs.map((s) => resolve(s, coef))];
      const names = ['none', ...specs.map((s, i) => (s.startsWith('teacache-fit') ? s : describeCacheSetting(settings[i + 1])))];
      // reference samples (uncached) and one sample per setting for quality; timing rounds interleaved
      const wall: number[][] = settings.map(() => []);
      const cpu: number[][] = settings.map(() => []);
      const quality: { psnr: number[]; ssim: number[]; skipped: number; calls: number }[] = settings.map(() => ({ psnr: [], ssim: [], skipped: 0, calls: 0 }));
      const refs: Tensor[] = [];
      for (let r = 0; r < repeats; r++) {
        settings.forEach((setting, si) => {
          log(`video-cache: round ${r + 1}/${repeats} ${names[si]}`);
          const w0 = performance.now();
          const c0 = cpuNow();
          const samples = seeds.map((seed) => sampleVideo(dit, cond, { shape, steps, seed, cfg, cache: setting }));
          wall[si].push((performance.now() - w0) / 1000);
          cpu[si].push(cpuNow() - c0);
          if (r === 0) {
            samples.forEach((s, k) => {
              if (si === 0) refs.push(s.latents);
              else {
                quality[si].psnr.push(psnr(s.latents, refs[k]));
                quality[si].ssim.push(ssim(s.latents, refs[k]));
                outputs.push(s.latents);
              }
              quality[si].skipped += s.cache.streams.reduce((a, st) => a + st.skipped, 0);
              quality[si].calls += s.calls * s.cache.streams.length;
            });
          } else samples.forEach((s) => s.latents.dispose());
        });
      }
      outputs.push(...refs);
      const best = (a: number[]) => Math.min(...a);
      const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) / 2)];
      const rows: VideoCacheRow[] = settings.map((_, si) => ({
        setting: names[si],
        seconds: best(wall[si]),
        medianSeconds: median(wall[si]),
        cpuSeconds: best(cpu[si]),
        speedup: best(wall[0]) / best(wall[si]),
        cpuSpeedup: best(cpu[0]) / best(cpu[si]),
        skipped: quality[si].skipped,
        calls: quality[si].calls,
        psnr: si === 0 ? Infinity : avg(quality[si].psnr),
        ssim: si === 0 ? 1 : avg(quality[si].ssim),
        minPsnr: si === 0 ? Infinity : Math.min(...quality[si].psnr),
      }));
      const ok = rows.slice(1).filter((r) => r.minPsnr >= CACHE_TARGET.psnr).sort((a, b) => b.speedup - a.speedup);
      const bestRow = ok[0] ?? null;
      return {
        model: { ...config, params: dit.numParameters() },
        train: { steps: trainSteps, seconds: trainSeconds, firstLoss: avg(losses.slice(0, 5)), lastLoss: avg(losses.slice(-10)) },
        sampling: { steps, sampler: 'euler' as const, cfg, prompts: DEMO_WORDS, seeds, shape, repeats },
        threadsUsed: th.used,
        teacacheCoefficients: coef,
        rows,
        best: bestRow ? { setting: bestRow.setting, speedup: bestRow.speedup, psnr: bestRow.minPsnr } : null,
        targetMet: bestRow !== null && bestRow.speedup >= CACHE_TARGET.speedup,
      };
    });
  } finally {
    for (const t of outputs) t.dispose();
    dit.dispose();
    te.dispose();
  }
}

export function videoCacheLines(r: VideoCacheResult): string[] {
  const m = r.model;
  const s = r.sampling;
  const header = ['setting', 'wall s', 'median s', 'cpu s', 'speed-up', 'cpu speed-up', 'skipped', 'PSNR dB', 'min PSNR', 'SSIM'];
  const rows = r.rows.map((x) => [
    x.setting, fmt(x.seconds), fmt(x.medianSeconds), fmt(x.cpuSeconds), `${x.speedup.toFixed(2)}×`, `${x.cpuSpeedup.toFixed(2)}×`,
    `${x.skipped}/${x.calls}`, Number.isFinite(x.psnr) ? x.psnr.toFixed(1) : '∞', Number.isFinite(x.minPsnr) ? x.minPsnr.toFixed(1) : '∞', x.ssim.toFixed(4),
  ]);
  return [
    `diffusion cache: Single-DiT D=${m.num_attention_heads! * 16} × ${m.num_layers} layers (${m.params} params), trained ${r.train.steps} steps in ${r.train.seconds.toFixed(1)} s (loss ${r.train.firstLoss.toFixed(3)} → ${r.train.lastLoss.toFixed(3)}), ${r.threadsUsed} thread(s)`,
    `sampling: ${s.prompts.length} prompts × latents [${s.shape.slice(1)}], Euler ${s.steps} steps, CFG ${s.cfg} (batched cond/uncond), seeds ${s.seeds.join(', ')}; best of ${s.repeats} interleaved round(s)`,
    ...grid(header, rows),
    `  TeaCache rescaling (fitted on seed 1000): p(x) = ${r.teacacheCoefficients.map((c) => c.toPrecision(4)).join(', ')} (highest degree first)`,
    `  PSNR/SSIM of the cached vs the uncached sample of the same prompt and seed, in latent space (range 2); skipped = block stacks skipped / stream-calls`,
    `target ≥ ${CACHE_TARGET.speedup}× at PSNR ≥ ${CACHE_TARGET.psnr} dB: ${r.best ? `best ${r.best.setting} ${r.best.speedup.toFixed(2)}× at ${r.best.psnr.toFixed(1)} dB — ${r.targetMet ? 'met' : 'NOT met'}` : 'no setting reaches 30 dB — NOT met'}`,
  ];
}

/** `kiln bench video-cache` on the `kiln bench` command. */
export function registerVideoCacheBench(bench: Command): Command {
  return bench
    .command('video-cache')
    .description('diffusion cache (TeaCache, FBCache) on the tiny Aquarius demo model: wall time and speed-up vs uncached, PSNR/SSIM vs uncached (issue 5 target ≥ 2.35× at ≥ 30 dB)')
    .option('--threads <t>', 'kernel threads (default 1: the tiny model is dispatch-bound)', positiveInt)
    .option('--steps <n>', 'sampling steps (default 50; quick 10)', positiveInt)
    .option('--train-steps <n>', 'training steps of the demo model (default 300; quick 30)', positiveInt)
    .option('--hidden <d>', 'model width, a multiple of 16 (default 64)', positiveInt)
    .option('--layers <n>', 'blocks (default 4)', positiveInt)
    .option('--repeats <n>', 'interleaved timing rounds (default 3)', positiveInt)
    .option('--cfg <g>', 'classifier-free guidance scale (default 3)', Number)
    .option('--settings <list>', `comma-separated cache settings (default ${DEFAULT_SETTINGS.join(',')}); teacache-fit:<thr> uses the fitted rescaling`)
    .option('--quick', 'tiny model, 10 steps (tests)')
    .option('--json', 'print one JSON object')
    .action(async (o: { threads?: number; steps?: number; trainSteps?: number; hidden?: number; layers?: number; repeats?: number; cfg?: number; settings?: string; quick?: boolean; json?: boolean }) => {
      const r = await benchVideoCache({
        quick: o.quick, threads: o.threads, steps: o.steps, trainSteps: o.trainSteps, hidden: o.hidden, layers: o.layers, repeats: o.repeats, cfg: o.cfg,
        settings: o.settings?.split(',').map((s) => s.trim()).filter(Boolean),
        log: (l) => process.stderr.write(`${l}\n`),
      });
      if (o.json) {
        const { targetMet, ...rest } = r;
        process.stdout.write(`${JSON.stringify(toJson({ bench: 'video-cache', value: r.best?.speedup ?? null, unit: 'x', psnr: r.best?.psnr ?? null, targetMet: o.quick ? null : targetMet, ...rest }))}\n`);
      } else process.stdout.write(`${[...machineLines(await machineInfo()), ...videoCacheLines(r)].join('\n')}\n`);
    });
}
