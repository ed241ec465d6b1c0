/**
 * Aquarius text-to-video commands (the lead wires `registerVideoCommands(program, train)` into main.ts):
 *   kiln video demo-data --out <dir> [--count N] [--seed s]              render captioned demo MP4s, curate to shards
 *   kiln train vae --data <shards|dir> --steps N --out <dir> [--edge-weight w] [--kl-weight b] [--schedule cosine|constant]
 *                  [--eval-every n]                                       train the causal VAE on clips (held-out PSNR/SSIM curve)
 *   kiln train dit --data <shards|dir> [--vae <dir>] [--init <dir>] [--train-text] [--no-abs-pos] [--fractional-pos]
 *                  [--shift α] [--sigma-sampling uniform|logit-normal] [--loss-sigma-cap s] [--low-noise p] [--tokenizer word|byte]
 *                  [--no-pooled-text] --steps N --out <dir>                                                  DiT
 *   kiln video generate --model <dir> --prompt "…" [--frames N] [--size WxH] [--steps S] [--cfg g] [--seed s]
 *                       [--sampler euler|heun] [--cache none|teacache:<thr>|fbcache:<thr>] [--lora <adapter dir>] [--fps n]
 *                       --out x.mp4|x.gif|x.png|x.safetensors [--sheet x.png]      any VideoModel (kiln train dit / apps-demo)
 *   kiln video check --model <dir> [--prompts N] | --data <shards|dir>  read colour/direction/shape back, accuracy
 * Long commands show a progress bar on stderr; `--json` prints one JSON object on stdout.
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { checkPromptSet, buildDemoShards, writeDemoVideos } from '../apps/demo-videos/dataset.js';
import { checkVideo, summarize } from '../apps/demo-videos/check.js';
import { checkPrompts, generateVideo, trainDitFromData, trainVaeFromData } from '../apps/demo-videos/text-to-video.js';
import { loadVideoModel } from '../apps/video-model.js';
import { KilnError } from '../errors.js';
import { writeContactSheet } from '../io/video.js';
import { saveVideo } from '../apps/media.js';
import { loadLoraAdapter } from '../nn/lora.js';
import { fromArray } from '../tensor/creation.js';
import { loadVideoSamples } from '../train/video-data.js';
import { finiteNumber, positiveInt } from './options.js';
import { join } from 'node:path';

/**
 * The `kiln train dit` recipe (docs/aquarius.md, "Measured: the demo end to end"): 1×4×4 pixel patches; a large σ
 * shift so the prompt, not the noise, decides the layout; a quarter of the training σ unshifted so the low-noise end
 * the sampler finishes on is trained too; the clean-clip error weight capped at 1/0.3²; word-level prompt tokens
 * with the pooled vector into adaLN.
 */
const DEFAULT_SHIFT = 8;
const DEFAULT_SIGMA_SAMPLING = 'logit-normal';
const DEFAULT_LOSS_SIGMA_CAP = 0.3;
const DEFAULT_TOKENIZER = 'word';
const DEFAULT_LOW_NOISE = 0.25;
/** pixel-space spatial patch: a 1×4×4 RGB patch (48 values) fits through the 64-wide default DiT, a 1×8×8 one (192) does not */
const DEFAULT_PIXEL_PATCH = 4;

function size(v: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/i.exec(v.trim());
  if (!m || Number(m[1]) <= 0 || Number(m[2]) <= 0) throw new InvalidArgumentError('expected WxH, e.g. 48x32');
  return { width: Number(m[1]), height: Number(m[2]) };
}

/**
 * A progress bar on stderr; when stderr is not a terminal (logs, CI), plain lines every 5% instead — cli-progress
 * would only redraw on a timer there.
 */
interface Progress {
  start(total: number, what: Record<string, string | number>): void;
  update(value: number, what?: Record<string, string | number>): void;
  stop(): void;
}

function bar(json: boolean | undefined, format: string): Progress | null {
  if (json) return null;
  if (process.stderr.isTTY) {
    const b = new cliProgress.SingleBar({ stream: process.stderr, format, hideCursor: true }, cliProgress.Presets.shades_classic);
    let on = false;
    return { start: (t, w) => (b.start(t, 0, w), (on = true)), update: (v, w) => b.update(v, w), stop: () => (on ? (b.stop(), (on = false)) : undefined) };
  }
  let total = 0, last = -1;
  const label = format.split(' |')[0];
  return {
    start: (t) => ((total = t), (last = -1)),
    update: (v, w) => {
      const every = Math.max(1, Math.round(total / 20));
      if (v !== total && v - last < every) return;
      last = v;
      process.stderr.write(`${label} ${v}/${total}${w ? ` ${Object.entries(w).map(([k, x]) => `${k} ${x}`).join(' ')}` : ''}\n`);
    },
    stop: () => undefined,
  };
}

/** A loading bar followed by a training bar. */
function trainingBars(json: boolean | undefined, steps: number, what: string): {
  onLoad: (done: number, total: number) => void; onStep: (s: number, loss: number, bucket: string) => void; stop: () => void;
} {
  const load = bar(json, 'decoding clips |{bar}| {value}/{total}');
  const train = bar(json, `${what} |{bar}| {value}/{total} steps · loss {loss} · {bucket} · eta {eta_formatted}`);
  let loading = true, started = false;
  return {
    onLoad: (done, total) => {
      if (done === 1) load?.start(total, {});
      load?.update(done);
    },
    onStep: (s, loss, bucket) => {
      if (loading) (load?.stop(), (loading = false));
      if (!started) (train?.start(steps, { loss: '-', bucket: '' }), (started = true));
      train?.update(s + 1, { loss: loss.toFixed(4), bucket });
    },
    stop: () => {
      if (loading) load?.stop();
      if (started) train?.stop();
    },
  };
}

const print = (json: boolean | undefined, obj: unknown, text: string): void => {
  process.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
};

export function registerVideoCommands(program: Command, train: Command): void {
  const video = program.command('video').description('Aquarius text-to-video: demo data, generation, automatic checks');

  video.command('demo-data')
    .description('render the procedural captioned demo videos (MP4 + caption JSON) and curate them into bucketed WebDataset shards')
    .requiredOption('--out <dir>', 'output directory (videos/ and curated/ with shards/)')
    .option('--count <n>', 'number of videos', positiveInt, 192)
    .option('--seed <n>', 'seed of the scene sampler', (v) => Number(v), 0)
    .option('--json', 'print JSON')
    .action(async (o: { out: string; count: number; seed: number; json?: boolean }) => {
      const b = bar(o.json, 'rendering |{bar}| {value}/{total} videos');
      b?.start(o.count, {});
      const t0 = Date.now();
      const vids = await writeDemoVideos(join(o.out, 'videos'), { count: o.count, seed: o.seed, onVideo: (i) => b?.update(i + 1) });
      b?.stop();
      if (!o.json) process.stderr.write('curating with the datapipe (probe → shots → cut → bucket → caption → shards) …\n');
      const s = await buildDemoShards(join(o.out, 'videos'), join(o.out, 'curated'));
      const r = { videos: vids.length, kept: s.kept, dropped: s.dropped, errors: s.errors, shards: join(o.out, 'curated', 'shards'),
        manifest: s.manifest, seconds: (Date.now() - t0) / 1000 };
      if (s.errors > 0) throw new KilnError('E_DATAPIPE', `demo-data: ${s.errors} videos failed in the datapipe; see ${join(o.out, 'curated', 'errors.jsonl')}`);
      print(o.json, r, `${r.videos} videos → ${r.kept} clips in ${r.shards} (${r.seconds.toFixed(1)} s)\nnext: kiln train dit --data ${r.shards} --steps 3000 --out ${join(o.out, 'dit')}`);
    });

  train.command('vae')
    .description('train the causal VAE on video clips (datapipe shards or a directory of videos)')
    .requiredOption('--data <path>', 'shard directory, datapipe output directory, or video directory')
    .requiredOption('--out <dir>', 'where to save the VAE (config.json + safetensors)')
    .option('--steps <n>', 'training steps', positiveInt, 300)
    .option('--preset <name>', 'VAE preset', 'vae-small')
    .option('--batch <n>', 'clips per step (one bucket per batch)', positiveInt, 2)
    .option('--lr <lr>', 'learning rate', finiteNumber, 5e-4)
    .option('--seed <n>', 'seed', (v) => Number(v), 0)
    .option('--edge-weight <w>', 'weight of the edge (image-gradient) term added to the reconstruction loss', finiteNumber, 0)
    .option('--kl-weight <b>', 'KL weight β', finiteNumber, 1e-6)
    .option('--schedule <s>', 'learning rate after the warmup: cosine | constant', 'cosine')
    .option('--eval-every <n>', 'held-out PSNR/SSIM every n steps (JSON: held_out.curve; 0 = only before and after)', (v) => Number(v), 0)
    .option('--json', 'print JSON')
    .action(async (o: { data: string; out: string; steps: number; preset: string; batch: number; lr: number; seed: number; edgeWeight: number; klWeight: number;
        schedule: string; evalEvery: number; json?: boolean }) => {
      if (o.schedule !== 'cosine' && o.schedule !== 'constant') throw new KilnError('E_ARG', `train vae: --schedule must be cosine or constant, got '${o.schedule}'`);
      if (!(o.edgeWeight >= 0) || !(o.klWeight >= 0)) throw new KilnError('E_ARG', `train vae: --edge-weight and --kl-weight must be ≥ 0, got ${o.edgeWeight} and ${o.klWeight}`);
      if (!Number.isInteger(o.evalEvery) || o.evalEvery < 0) throw new KilnError('E_ARG', `train vae: --eval-every must be a whole number ≥ 0, got ${o.evalEvery}`);
      const bars = trainingBars(o.json, o.steps, 'train vae');
      try {
        const r = await trainVaeFromData(o.data, { steps: o.steps, out: o.out, preset: o.preset, batchSize: o.batch, lr: o.lr, seed: o.seed, edgeWeight: o.edgeWeight,
          klWeight: o.klWeight, schedule: o.schedule as 'cosine' | 'constant', evalEvery: o.evalEvery, ...bars,
          onEval: (step, m) => o.json || process.stderr.write(`\nheld-out at step ${step}: PSNR ${m.psnr.toFixed(2)} dB, SSIM ${m.ssim.toFixed(3)}\n`) });
        bars.stop();
        const ho = r.held_out.after ? `; held-out PSNR ${r.held_out.before!.psnr.toFixed(2)} → ${r.held_out.after.psnr.toFixed(2)} dB, SSIM ${r.held_out.after.ssim.toFixed(3)} (${r.held_out.clips} clips)` : '';
        print(o.json, r, `recon MSE ${r.first_recon.toFixed(4)} → ${r.last_recon.toFixed(4)} in ${r.steps} steps (${r.seconds.toFixed(1)} s)${ho}; saved ${r.out}`);
      } finally {
        bars.stop();
      }
    });

  train.command('dit')
    .description('train a tiny Single-DiT + text encoder with rectified flow on captioned clips (pixel space, or VAE latents with --vae)')
    .requiredOption('--data <path>', 'shard directory, datapipe output directory, or video directory with caption JSONs')
    .requiredOption('--out <dir>', 'where to save the model (config.json + model.safetensors)')
    .option('--vae <dir>', 'a trained VAE (kiln train vae): denoise its latents instead of pixels')
    .option('--steps <n>', 'training steps (3000: the measured recipe, docs/aquarius.md)', positiveInt, 3000)
    .option('--batch <n>', 'clips per step (one bucket per batch)', positiveInt, 8)
    .option('--lr <lr>', 'peak learning rate', finiteNumber, 2e-3)
    .option('--hidden <n>', 'DiT width', positiveInt, 64)
    .option('--layers <n>', 'DiT blocks', positiveInt, 4)
    .option('--patch <n>', `spatial patch (pixel space default ${DEFAULT_PIXEL_PATCH}, latent 1)`, positiveInt)
    .option('--init <dir>', 'start from a saved model (same sizes) instead of a fresh one')
    .option('--no-abs-pos', 'leave out the fixed 3D sin-cos absolute position embedding (default: added to the tokens on top of RoPE)')
    .option('--fractional-pos', 'absolute positions as fractions of the clip instead of grid indices (the same relative place → the same embedding in every bucket)')
    .option('--shift <alpha>', 'σ shift for training and sampling, saved with the model (0 = the resolution shift of the token count)', finiteNumber, DEFAULT_SHIFT)
    .option('--sigma-sampling <how>', 'training σ before the shift: uniform (the sampler\'s schedule density) | logit-normal', DEFAULT_SIGMA_SAMPLING)
    .option('--loss-sigma-cap <s>', 'x-prediction: weight the clean-clip error by 1/max(σ, s)² instead of 1/σ² (0 = off)', finiteNumber, DEFAULT_LOSS_SIGMA_CAP)
    .option('--low-noise <p>', 'fraction of training σ drawn uniformly on (0, 1) without the shift, so the low-noise steps that draw edges are trained', finiteNumber, DEFAULT_LOW_NOISE)
    .option('--tokenizer <kind>', 'prompt tokens: word (vocabulary of the training captions) | byte (UTF-8)', DEFAULT_TOKENIZER)
    .option('--no-pooled-text', 'do not add the pooled text vector to the timestep embedding (adaLN)')
    .option('--train-text', 'train the text encoder jointly (default: frozen at its seeded init)')
    .option('--prediction <x|v>', 'network output: x (clean clip; pixel-space default) or v (velocity; latent-space default)')
    .option('--seed <n>', 'seed', (v) => Number(v), 0)
    .option('--json', 'print JSON')
    .action(async (o: { data: string; out: string; vae?: string; steps: number; batch: number; lr: number; hidden: number; layers: number; patch?: number; prediction?: string;
        trainText?: boolean; absPos?: boolean; fractionalPos?: boolean; init?: string; seed: number; json?: boolean; shift: number; sigmaSampling: string; lossSigmaCap: number; lowNoise: number; tokenizer: string; pooledText?: boolean }) => {
      if (o.prediction !== undefined && o.prediction !== 'x' && o.prediction !== 'v') throw new KilnError('E_ARG', `train dit: --prediction must be x or v, got '${o.prediction}'`);
      if (o.sigmaSampling !== 'uniform' && o.sigmaSampling !== 'logit-normal') throw new KilnError('E_ARG', `train dit: --sigma-sampling must be uniform or logit-normal, got '${o.sigmaSampling}'`);
      if (o.tokenizer !== 'word' && o.tokenizer !== 'byte') throw new KilnError('E_ARG', `train dit: --tokenizer must be word or byte, got '${o.tokenizer}'`);
      if (!(o.lowNoise >= 0 && o.lowNoise <= 1)) throw new KilnError('E_ARG', `train dit: --low-noise must be a fraction in [0, 1], got ${o.lowNoise}`);
      if (o.shift < 0 || o.lossSigmaCap < 0 || o.lossSigmaCap >= 1) throw new KilnError('E_ARG', `train dit: --shift must be ≥ 0 and --loss-sigma-cap in [0, 1), got ${o.shift} and ${o.lossSigmaCap}`);
      const bars = trainingBars(o.json, o.steps, 'train dit');
      try {
        const r = await trainDitFromData(o.data, { steps: o.steps, out: o.out, vaeDir: o.vae, batchSize: o.batch, lr: o.lr, hidden: o.hidden,
          layers: o.layers, patch: o.patch ?? (o.vae ? 1 : DEFAULT_PIXEL_PATCH), prediction: o.prediction as 'x' | 'v' | undefined, trainText: o.trainText, absPos: o.absPos, init: o.init, seed: o.seed,
          shift: o.shift > 0 ? o.shift : undefined, sigmaSampling: o.sigmaSampling as 'uniform' | 'logit-normal', lossSigmaCap: o.lossSigmaCap > 0 ? o.lossSigmaCap : undefined, lowNoiseFraction: o.lowNoise,
          tokenizer: o.tokenizer as 'word' | 'byte', pooledText: o.pooledText, fractionalPos: o.fractionalPos, ...bars });
        bars.stop();
        print(o.json, r, `${r.space} space (${r.prediction}-prediction), ${r.params.toLocaleString('en-US')} parameters, ${r.samples} clips in ${r.buckets.length} buckets: ` +
          `loss ${r.first_loss.toFixed(3)} → ${r.last_loss.toFixed(3)} in ${r.steps} steps (${r.seconds.toFixed(1)} s); saved ${r.out}`);
      } finally {
        bars.stop();
      }
    });

  video.command('generate')
    .description('generate a video from a prompt with a trained model (kiln train dit or kiln train apps-demo), optionally personalized with a LoRA adapter (kiln train lora)')
    .requiredOption('--model <dir>', 'model directory')
    .requiredOption('--prompt <text>', 'prompt, e.g. "a red square moving left on a dark background"')
    .requiredOption('--out <path>', 'output: .mp4 / .gif (video), .png (contact sheet) or .safetensors (exact floats, tensor \'video\' [3, T, H, W] in [−1, 1])')
    .option('--frames <n>', 'frames (default: the training clips\')', positiveInt)
    .option('--size <WxH>', 'frame size (default: the training clips\')', size)
    .option('--steps <n>', 'sampling steps', positiveInt)
    .option('--cfg <g>', 'classifier-free guidance scale (default: the model\'s)', finiteNumber)
    .option('--seed <n>', 'noise seed', (v) => Number(v), 0)
    .option('--sampler <name>', 'euler | heun', 'euler')
    .option('--cache <setting>', 'diffusion cache: none | teacache:<threshold> | fbcache:<threshold>', 'none')
    .option('--lora <dir>', 'apply a LoRA adapter directory (kiln train lora) to the DiT: the personalized subject')
    .option('--fps <n>', 'frames per second of an .mp4 / .gif output', positiveInt, 8)
    .option('--sheet <png>', 'also write a contact sheet of the frames')
    .option('--json', 'print JSON')
    .action(async (o: { model: string; prompt: string; out: string; frames?: number; size?: { width: number; height: number }; steps?: number; cfg?: number; seed: number; sampler: string; cache: string;
        lora?: string; fps: number; sheet?: string; json?: boolean }) => {
      if (!/\.(mp4|gif|png|safetensors)$/i.test(o.out)) throw new KilnError('E_ARG', `video generate: --out ${o.out} has an unknown extension; use .mp4, .gif, .png (contact sheet) or .safetensors`);
      const model = loadVideoModel(o.model);
      try {
        if (o.lora) loadLoraAdapter(model.dit, o.lora);
        const steps = o.steps ?? model.config.sample_steps;
        const unknown = model.tokenizer ? model.tokenizer.unknownWords(o.prompt) : [];
        if (unknown.length && !o.json) process.stderr.write(`note: ${unknown.join(', ')} not in the model's vocabulary (read as [UNK])\n`);
        const b = bar(o.json, 'sampling |{bar}| {value}/{total} steps');
        b?.start(steps, {});
        const r = generateVideo(model, [o.prompt], { frames: o.frames, width: o.size?.width, height: o.size?.height, steps, cfg: o.cfg, seed: o.seed,
          sampler: o.sampler as 'euler' | 'heun', cache: o.cache, onStep: (s) => b?.update(s) });
        b?.stop();
        const v = r.videos[0];
        await saveVideo(fromArray(r.floats, [1, 3, v.frames, v.height, v.width]), o.out, { fps: o.fps });
        if (o.sheet) writeContactSheet(v, o.sheet, { cols: Math.min(v.frames, 9), scale: 4 });
        const check = checkVideo(v, o.prompt);
        const res = { out: o.out, sheet: o.sheet ?? null, frames: v.frames, width: v.width, height: v.height, steps, seconds: r.seconds,
          calls: r.calls, cache: r.cache, lora: o.lora ?? null, read: check.read, unknown_words: unknown };
        print(o.json, res, `wrote ${o.out} (${v.width}x${v.height}, ${v.frames} frames, ${steps} steps, ${r.seconds.toFixed(1)} s, cache ${r.cache.setting}: ` +
          `${r.cache.skipped} of ${r.cache.computed + r.cache.skipped} block passes skipped${o.lora ? `, LoRA ${o.lora}` : ''}); read back: ${check.read.color} ${check.read.shape} moving ${check.read.direction}`);
      } finally {
        model.dispose();
      }
    });

  video.command('check')
    .description('automatic check: generate N demo prompts and read colour, direction and shape back (or check ground-truth clips with --data)')
    .option('--model <dir>', 'model directory')
    .option('--data <path>', 'check ground-truth clips (shards or a video directory) against their captions instead')
    .option('--prompts <n>', 'number of prompts (scenes of seed 1000, all demo sizes and lengths)', positiveInt, 48)
    .option('--steps <n>', 'sampling steps', positiveInt)
    .option('--cfg <g>', 'classifier-free guidance scale', finiteNumber)
    .option('--seed <n>', 'noise seed', (v) => Number(v), 0)
    .option('--cache <setting>', 'diffusion cache setting', 'none')
    .option('--rows', 'include every prompt\'s reading in the JSON')
    .option('--json', 'print JSON')
    .action(async (o: { model?: string; data?: string; prompts: number; steps?: number; cfg?: number; seed: number; cache: string; rows?: boolean; json?: boolean }) => {
      if (!o.model === !o.data) throw new KilnError('E_ARG', 'video check: give exactly one of --model <dir> or --data <path>');
      let r: ReturnType<typeof summarize> & { seconds?: number };
      if (o.data) {
        const samples = await loadVideoSamples(o.data);
        r = summarize(samples.map((s) => checkVideo(s.frames, s.caption)));
      } else {
        const model = loadVideoModel(o.model!);
        try {
          r = checkPrompts(model, checkPromptSet(o.prompts), { steps: o.steps, cfg: o.cfg, seed: o.seed, cache: o.cache });
        } finally {
          model.dispose();
        }
      }
      const a = r.accuracy;
      const out = o.rows ? r : { n: r.n, accuracy: a, seconds: r.seconds };
      print(o.json, out, `${r.n} videos: colour ${(100 * a.color).toFixed(1)}%, direction ${(100 * a.direction).toFixed(1)}%, shape ${(100 * a.shape).toFixed(1)}%, all three ${(100 * a.all).toFixed(1)}%`);
    });
}
