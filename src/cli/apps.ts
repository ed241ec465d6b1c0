/**
 * The application commands (the lead wires `registerAppCommands(program, train)` into main.ts). They live under
 * `kiln app …` because `kiln video …` belongs to src/cli/video.ts; the lead may move them. Text-to-video (with a
 * personalized subject: `--lora <adapter dir>`) is `kiln video generate` (src/cli/video.ts), which samples these models.
 *   kiln app i2v     --model <dir> --image <img> --prompt <text> --out <file> [--method replace|concat|both] [--lora <dir>]
 *   kiln app avatar  --model <dir> --reference <img> --prompt <text> --out <file> [--lora <dir>]
 *   kiln app inpaint --model <dir> --video <file> --mask 'box=x,y,w,h;frames=a-b' | <mask video> --prompt <text> --out <file>
 *   kiln app demo    --model <dir> [--json]                      measure all four apps on the synthetic subjects
 *   kiln app demo-clips --out <dir>                              write the "sks" personalization clips + captions
 *   kiln train lora  --model <dir> --clips <dir|files...> --out <adapter dir> [--caption <text>] [--steps N]
 *   kiln train apps-demo --out <dir> [--steps N]                 train the tiny pixel-space application model
 * Common generation options: --frames, --steps, --seed, --guidance, --fps, --json. Outputs: .mp4/.gif (video), .png
 * (contact sheet), .safetensors (exact floats, tensor 'video'). Inputs are resized to the model's frame size.
 * Captions for `train lora`: a `<clip>.txt` beside a clip wins over --caption.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { KilnError } from '../errors.js';
import { finiteNumber, positiveInt } from './options.js';
import { loadLoraAdapter, saveLoraAdapter } from '../nn/lora.js';
import { cat } from '../tensor/ops/shape.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { avatarVideo } from '../apps/avatar.js';
import { runAppsDemo } from '../apps/demo.js';
import { imageToVideo, type I2vMethod } from '../apps/image-to-video.js';
import { boxMask, inpaintVideo, parseBoxSpec } from '../apps/inpaint.js';
import { loadImage, loadVideo, saveVideo } from '../apps/media.js';
import { personalize, sksClips } from '../apps/personalize.js';
import { tinyWorldConfig, trainWorld } from '../apps/train-world.js';
import { VideoModel, loadVideoModel } from '../apps/video-model.js';

interface GenOpts {
  model: string;
  prompt: string;
  out: string;
  frames?: number;
  steps?: number;
  seed: number;
  guidance?: number;
  lora?: string;
  fps: number;
  json?: boolean;
}

function bar(label: string, total: number, quiet: boolean): { tick: () => void; stop: () => void } {
  if (quiet) return { tick: () => {}, stop: () => {} };
  const b = new cliProgress.SingleBar({ stream: process.stderr, format: `${label} |{bar}| {value}/{total}`, hideCursor: true, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 10000 }, cliProgress.Presets.shades_classic);
  b.start(total, 0);
  return { tick: () => b.increment(), stop: () => b.stop() };
}

function withGenOptions(c: Command): Command {
  return c
    .requiredOption('--model <dir>', "a video model directory (config.json + model.safetensors; 'kiln train apps-demo' makes one)")
    .requiredOption('--prompt <text>', 'text prompt')
    .requiredOption('--out <file>', 'output: .mp4, .gif, .png (contact sheet) or .safetensors')
    .option('--frames <n>', 'frames to generate (default: the model\'s)', positiveInt)
    .option('--steps <n>', 'sampling steps (default: the model\'s)', positiveInt)
    .option('--seed <n>', 'noise seed', (v) => Number(v), 0)
    .option('--guidance <g>', 'classifier-free guidance scale (default: the model\'s)', finiteNumber)
    .option('--lora <dir>', 'apply a LoRA adapter directory (from kiln train lora)')
    .option('--fps <n>', 'frames per second of the output video', positiveInt, 8)
    .option('--json', 'print a JSON summary');
}

function openModel(o: GenOpts): VideoModel {
  const m = loadVideoModel(o.model);
  if (o.lora) loadLoraAdapter(m.dit, o.lora);
  return m;
}

async function finish(o: GenOpts, video: Tensor, extra: Record<string, unknown>, t0: number): Promise<void> {
  await saveVideo(video, o.out, { fps: o.fps });
  const [, , T, H, W] = video.shape;
  const summary = { out: o.out, frames: T, height: H, width: W, seconds: (Date.now() - t0) / 1000, lora: o.lora ?? null, ...extra };
  process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `wrote ${o.out} (${T} frames, ${H}×${W}) in ${summary.seconds.toFixed(1)} s\n`);
}

/** Clip files from directories and files (videos / .safetensors), sorted. */
function clipFiles(inputs: string[]): string[] {
  const ok = /\.(safetensors|mp4|gif|webm|mov|mkv|avi)$/i;
  const out: string[] = [];
  for (const p of inputs) {
    if (!existsSync(p)) throw new KilnError('E_IO', `train lora: clip path ${p} does not exist`);
    if (statSync(p).isDirectory()) out.push(...readdirSync(p).filter((f) => ok.test(f)).sort().map((f) => join(p, f)));
    else out.push(p);
  }
  if (out.length === 0) throw new KilnError('E_ARG', `train lora: no clips found in ${inputs.join(', ')} (looked for .safetensors/.mp4/.gif/.webm/.mov/.mkv/.avi)`);
  return out;
}

function captionFor(clip: string, fallback: string | undefined): string {
  const side = clip.slice(0, clip.length - extname(clip).length) + '.txt';
  if (existsSync(side)) return readFileSync(side, 'utf8').trim();
  if (fallback === undefined) throw new KilnError('E_ARG', `train lora: no caption for ${clip}; put one in ${basename(side)} or pass --caption`);
  return fallback;
}

export function registerAppCommands(program: Command, train: Command): void {
  const app = program.command('app').description('video applications: image-to-video, avatar, inpainting, LoRA personalization (text-to-video: kiln video generate [--lora])');

  withGenOptions(app.command('i2v').description('image-to-video: the image is the first frame (--method replace: training-free first-frame latent replacement; concat: Wan-I2V channel conditioning)'))
    .requiredOption('--image <file>', 'first frame (resized to the model\'s frame size)')
    .option('--method <m>', "replace (training-free first-frame latent replacement), concat (the model's channel-concatenated image input; needs image_condition) or both; default both for image_condition models, else replace")
    .action(async (o: GenOpts & { image: string; method?: I2vMethod }) => {
      if (o.method && !['replace', 'concat', 'both'].includes(o.method)) throw new KilnError('E_ARG', `--method ${o.method}: use replace, concat or both`);
      const t0 = Date.now();
      const m = openModel(o);
      const img = await loadImage(o.image, { width: m.config.width, height: m.config.height });
      const b = bar('sampling', o.steps ?? m.config.sample_steps, !!o.json);
      const v = noGrad(() => imageToVideo(m, img, { prompts: [o.prompt], frames: o.frames, steps: o.steps, seed: o.seed, guidance: o.guidance, method: o.method, onStep: b.tick }));
      b.stop();
      const diff = noGrad(() => v.slice(2, 0, 1).sub(img).abs().amax().item());
      await finish(o, v, { app: 'i2v', prompt: o.prompt, method: o.method ?? (m.config.image_condition ? 'both' : 'replace'), first_frame_max_diff: diff }, t0);
    });

  withGenOptions(app.command('avatar').description('text-to-video of the subject in a reference image (in-context reference tokens; needs a model trained with them)'))
    .requiredOption('--reference <file>', 'identity reference image (resized to the frame size)')
    .action(async (o: GenOpts & { reference: string }) => {
      const t0 = Date.now();
      const m = openModel(o);
      const ref = await loadImage(o.reference, { width: m.config.width, height: m.config.height });
      const b = bar('sampling', o.steps ?? m.config.sample_steps, !!o.json);
      const v = noGrad(() => avatarVideo(m, ref, { prompts: [o.prompt], frames: o.frames, steps: o.steps, seed: o.seed, guidance: o.guidance, onStep: b.tick }));
      b.stop();
      await finish(o, v, { app: 'avatar', prompt: o.prompt }, t0);
    });

  withGenOptions(app.command('inpaint').description('regenerate inside a spatio-temporal mask, keep the rest'))
    .requiredOption('--video <file>', 'input video (resized to the model\'s frame size; the first --frames frames)')
    .requiredOption('--mask <spec|file>', "'box=x,y,w,h' or 'box=x,y,w,h;frames=a-b' in model-frame pixels, or a mask video (white = regenerate)")
    .action(async (o: GenOpts & { video: string; mask: string }) => {
      const t0 = Date.now();
      const m = openModel(o);
      const g = { width: m.config.width, height: m.config.height, frames: o.frames ?? m.config.frames };
      const video = await loadVideo(o.video, g);
      const [, , T, H, W] = video.shape;
      // a mask video: white (> mid-grey) = regenerate
      const mk = existsSync(o.mask) ? (await loadVideo(o.mask, g)).mean(1, true).gt(0).to('f32') : boxMask(T, H, W, parseBoxSpec(o.mask));
      const b = bar('sampling', o.steps ?? m.config.sample_steps, !!o.json);
      const v = noGrad(() => inpaintVideo(m, video, mk, { prompts: [o.prompt], steps: o.steps, seed: o.seed, guidance: o.guidance, onStep: b.tick }));
      b.stop();
      const keep = mk.neg().add(1);
      const unmasked = noGrad(() => v.sub(video).mul(keep).abs().amax().item());
      await finish(o, v, { app: 'inpaint', prompt: o.prompt, masked_fraction: mk.mean().item(), unmasked_max_diff: unmasked }, t0);
    });

  app.command('demo')
    .description('measure t2v, i2v, inpainting, avatar and LoRA personalization on the synthetic subjects')
    .requiredOption('--model <dir>', 'a model from kiln train apps-demo')
    .option('--steps <n>', 'sampling steps', positiveInt)
    .option('--lora-steps <n>', 'LoRA training steps for the personalization part', positiveInt, 150)
    .option('--json', 'print JSON')
    .action((o: { model: string; steps?: number; loraSteps: number; json?: boolean }) => {
      const r = runAppsDemo(loadVideoModel(o.model), { steps: o.steps, loraSteps: o.loraSteps });
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${JSON.stringify(r, null, 2)}\n`);
    });

  app.command('demo-clips')
    .description('write the personalization demo clips ("sks", a yellow square moving right/down) with .txt captions')
    .requiredOption('--out <dir>', 'directory for clip-<i>.safetensors + clip-<i>.txt (and .gif previews)')
    .option('--frames <n>', 'frames', positiveInt, 4)
    .option('--size <px>', 'frame size', positiveInt, 8)
    .action(async (o: { out: string; frames: number; size: number }) => {
      const { clips, captions } = sksClips(o.frames, o.size, o.size);
      const { mkdirSync, writeFileSync } = await import('node:fs');
      mkdirSync(o.out, { recursive: true });
      for (let i = 0; i < captions.length; i++) {
        const x = clips.slice(0, i, i + 1).contiguous();
        await saveVideo(x, join(o.out, `clip-${i}.safetensors`));
        writeFileSync(join(o.out, `clip-${i}.txt`), captions[i] + '\n');
      }
      process.stdout.write(`wrote ${captions.length} clips to ${o.out}\n`);
    });

  train.command('lora')
    .description('LoRA personalization: fine-tune an adapter on a few clips of one subject; save the adapter only (generate with kiln video generate --lora <dir>)')
    .requiredOption('--model <dir>', 'base video model directory')
    .requiredOption('--clips <paths...>', 'clip files or directories (.safetensors / videos; captions from <clip>.txt or --caption)')
    .requiredOption('--out <dir>', 'adapter directory (adapter_config.json + adapter_model.safetensors)')
    .option('--caption <text>', 'caption for clips without a .txt (use a rare token, e.g. "sks dog")')
    .option('--steps <n>', 'training steps', positiveInt, 150)
    .option('--rank <r>', 'LoRA rank', positiveInt, 8)
    .option('--alpha <a>', 'LoRA alpha (scaling alpha/rank; default = rank)', finiteNumber)
    .option('--lr <lr>', 'learning rate', finiteNumber, 2e-2)
    .option('--prior <prompts...>', 'prior-preservation prompts: the base model generates one clip each and they regularise the adapter')
    .option('--prior-weight <w>', 'weight of the prior-preservation loss', finiteNumber, 0.25)
    .option('--seed <n>', 'seed', (v) => Number(v), 0)
    .option('--json', 'print a JSON summary')
    .action(async (o: { model: string; clips: string[]; out: string; caption?: string; steps: number; rank: number; alpha?: number; lr: number; prior?: string[]; priorWeight: number; seed: number; json?: boolean }) => {
      const t0 = Date.now();
      const m = loadVideoModel(o.model);
      const g = { width: m.config.width, height: m.config.height, frames: m.config.frames };
      const files = clipFiles(o.clips);
      const clips = cat(await Promise.all(files.map((f) => loadVideo(f, g))), 0);
      const captions = files.map((f) => captionFor(f, o.caption));
      const b = bar('LoRA', o.steps, !!o.json);
      const { losses, adapted } = personalize(m, { clips, captions, steps: o.steps, rank: o.rank, alpha: o.alpha, lr: o.lr, seed: o.seed, priorPrompts: o.prior, priorWeight: o.priorWeight, onStep: b.tick });
      b.stop();
      saveLoraAdapter(m.dit, o.out, { base_model_name_or_path: o.model });
      const avg = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
      const summary = { out: o.out, clips: files.length, steps: o.steps, layers: adapted.length, first_loss: avg(losses.slice(0, 10)), last_loss: avg(losses.slice(-10)), seconds: (Date.now() - t0) / 1000 };
      process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `adapter (${adapted.length} layers, rank ${o.rank}) → ${o.out}; loss ${summary.first_loss.toFixed(3)} → ${summary.last_loss.toFixed(3)} in ${summary.seconds.toFixed(1)} s\n`);
    });

  train.command('apps-demo')
    .description('train the tiny pixel-space video model the apps run on (synthetic subjects, with reference conditioning)')
    .requiredOption('--out <dir>', 'model directory to write')
    .option('--steps <n>', 'training steps', positiveInt, 6000)
    .option('--lr <lr>', 'peak learning rate (cosine-decayed to 5 %)', finiteNumber, 5e-3)
    .option('--seed <n>', 'seed', (v) => Number(v), 0)
    .option('--image-condition', 'also train Wan-I2V channel-concatenated first-frame conditioning (for app i2v --method concat)')
    .option('--json', 'print a JSON summary')
    .action((o: { out: string; steps: number; lr: number; seed: number; imageCondition?: boolean; json?: boolean }) => {
      const t0 = Date.now();
      const m = new VideoModel(tinyWorldConfig({ imageCondition: !!o.imageCondition }), { seed: o.seed });
      const b = bar('training', o.steps, !!o.json);
      const { losses } = trainWorld(m, { steps: o.steps, lr: o.lr, minLrRatio: 0.05, seed: o.seed + 1, onStep: b.tick });
      b.stop();
      m.save(o.out);
      const avg = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
      const summary = { out: o.out, steps: o.steps, first_loss: avg(losses.slice(0, 20)), last_loss: avg(losses.slice(-50)), seconds: (Date.now() - t0) / 1000 };
      process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `trained ${o.steps} steps: loss ${summary.first_loss.toFixed(3)} → ${summary.last_loss.toFixed(3)} (${summary.seconds.toFixed(1)} s); saved ${o.out}\n`);
    });
}
