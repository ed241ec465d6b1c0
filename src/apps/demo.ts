/**
 * Measurements of the four applications on the synthetic subjects world (`subjects.ts`) with a tiny pixel-space
 * model (`train-world.ts`). Every number is computed from generated videos; `kiln app demo` prints them and the
 * tests assert on them.
 *   t2v          prompted colour right (nearest named colour) and prompted direction right, over 4 colours × 4 directions
 *   i2v          max |first frame − image|; later frames' subject colour error vs the image's subject
 *   inpaint      max |Δ| outside the mask (must be 0 in pixel space); recolouring a subject's tube mask by prompt:
 *                subject colour error to the prompted colour, before (input) and after
 *   avatar       subject colour error to the reference, vs. to another sample's reference (shuffled); direction right
 *   personalize  LoRA (rank 8, lr 2e-2, 150 steps, prior preservation 0.25 on base generations of the 16 named prompts)
 *                on 4 "sks" clips (right/down); "sks left/up" colour error to the subject with and without
 *                the adapter; a base prompt ("red left") with the adapter still red
 */
import { noGrad } from '../tensor/autograd.js';
import { Generator } from '../tensor/random.js';
import { fromArray } from '../tensor/creation.js';
import { setLoraEnabled } from '../nn/lora.js';
import { avatarVideo } from './avatar.js';
import { imageToVideo, type I2vMethod } from './image-to-video.js';
import { inpaintVideo } from './inpaint.js';
import { personalize, sksClips } from './personalize.js';
import { guidedSample } from './sampler.js';
import { DIRECTIONS, NAMED_COLOURS, SKS_COLOUR, SUBJECT_RADIUS, colourDistance, randomColour, referenceImages, startFor, subjectColour, subjectMotion, subjectVideos, videosOf, type Rgb, type SubjectClip } from './subjects.js';
import type { VideoModel } from './video-model.js';

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);
const nearestNamed = (c: Rgb) => Object.entries(NAMED_COLOURS).sort((a, b) => colourDistance(c, a[1]) - colourDistance(c, b[1]))[0][0];

export interface AppsDemoOptions {
  steps?: number;
  seed?: number;
  guidance?: number;
  loraSteps?: number;
  loraRank?: number;
  loraLr?: number;
  /** prior-preservation prompts for the LoRA (default: every named colour × direction); [] = none */
  priorPrompts?: string[];
  priorWeight?: number;
  /** skip the LoRA part (it adds an adapter to the model, then removes its effect by disabling it) */
  skipPersonalize?: boolean;
}

export interface AppsDemoResult {
  t2v: { colour_right: number; direction_right: number; total: number; colour_error: number };
  i2v: { method: I2vMethod; first_frame_max_diff: number; later_colour_error: number; direction_right: number; total: number };
  inpaint: { unmasked_max_diff: number; masked_mean_change: number; colour_error_before: number; colour_error_after: number; total: number };
  /** every i2v method, for models trained with image_condition */
  i2v_methods?: AppsDemoResult['i2v'][];
  avatar: { colour_error_own: number; colour_error_other: number; direction_right: number; total: number };
  personalize?: { steps: number; first_loss: number; last_loss: number; colour_error_with: number; colour_error_without: number; base_prompt_colour_error_with: number; total: number; seconds: number };
}

function geometry(model: VideoModel) {
  return { T: model.config.frames, H: model.config.height, W: model.config.width };
}

export function measureT2v(model: VideoModel, o: AppsDemoOptions = {}): AppsDemoResult['t2v'] {
  const { T, H, W } = geometry(model);
  const prompts = Object.keys(NAMED_COLOURS).flatMap((c) => Object.keys(DIRECTIONS).map((d) => `${c} ${d}`));
  const x = noGrad(() => guidedSample(model.velocity(), [prompts.length, 3, T, H, W], model.condition(prompts), { steps: o.steps ?? model.config.sample_steps, seed: o.seed ?? 1, guidance: o.guidance ?? model.config.guidance, shift: model.sigmaShift([prompts.length, 3, T, H, W]) }));
  let cr = 0, dr = 0;
  const err: number[] = [];
  videosOf(x).forEach((v, i) => {
    const [c, d] = prompts[i].split(' ');
    const col = subjectColour(v, T, H, W);
    err.push(colourDistance(col, NAMED_COLOURS[c]));
    if (nearestNamed(col) === c) cr++;
    if (subjectMotion(v, T, H, W).direction === d) dr++;
  });
  return { colour_right: cr, direction_right: dr, total: prompts.length, colour_error: mean(err) };
}

export function measureI2v(model: VideoModel, o: AppsDemoOptions & { method?: I2vMethod } = {}): AppsDemoResult['i2v'] {
  const { T, H, W } = geometry(model);
  const gen = new Generator((o.seed ?? 1) + 10);
  const dirs = Object.keys(DIRECTIONS);
  const clips: SubjectClip[] = dirs.map((direction) => ({ colour: NAMED_COLOURS[Object.keys(NAMED_COLOURS)[Math.floor(gen.uniform() * 4)]], direction, ...startFor(direction, T, H, W, gen) }));
  const names = clips.map((c) => nearestNamed(c.colour));
  const images = subjectVideos(clips, 1, H, W);
  const method = o.method ?? (model.config.image_condition ? 'both' : 'replace');
  return noGrad(() => {
    const v = imageToVideo(model, images, { prompts: clips.map((c, i) => `${names[i]} ${c.direction}`), steps: o.steps, seed: o.seed ?? 2, guidance: o.guidance, method });
    const first = v.slice(2, 0, 1);
    const diff = first.sub(images).abs().amax().item();
    let dr = 0;
    const err: number[] = [];
    videosOf(v.slice(2, 1).contiguous()).forEach((vid, i) => err.push(colourDistance(subjectColour(vid, T - 1, H, W), clips[i].colour)));
    videosOf(v).forEach((vid, i) => { if (subjectMotion(vid, T, H, W).direction === clips[i].direction) dr++; });
    return { method, first_frame_max_diff: diff, later_colour_error: mean(err), direction_right: dr, total: clips.length };
  });
}

export function measureInpaint(model: VideoModel, o: AppsDemoOptions = {}): AppsDemoResult['inpaint'] {
  const { T, H, W } = geometry(model);
  const gen = new Generator((o.seed ?? 1) + 20);
  const names = Object.keys(NAMED_COLOURS);
  const dirs = Object.keys(DIRECTIONS);
  // each clip's subject is recoloured to the next named colour, same motion
  const clips: SubjectClip[] = dirs.map((direction, i) => ({ colour: NAMED_COLOURS[names[i]], direction, ...startFor(direction, T, H, W, gen) }));
  const targets = clips.map((_, i) => names[(i + 1) % names.length]);
  const video = subjectVideos(clips, T, H, W);
  const mask = fromArray(subjectTubeMaskData(clips, T, H, W), [clips.length, 1, T, H, W]);
  return noGrad(() => {
    const out = inpaintVideo(model, video, mask, { prompts: clips.map((c, i) => `${targets[i]} ${c.direction}`), steps: o.steps, seed: o.seed ?? 3, guidance: o.guidance });
    const keep = mask.neg().add(1);
    const unmasked = out.sub(video).mul(keep).abs().amax().item();
    const masked = out.sub(video).abs().mul(mask).sum().item() / (3 * mask.sum().item());
    const before: number[] = [];
    const after: number[] = [];
    videosOf(video).forEach((v, i) => before.push(colourDistance(subjectColour(v, T, H, W), NAMED_COLOURS[targets[i]])));
    videosOf(out).forEach((v, i) => after.push(colourDistance(subjectColour(v, T, H, W), NAMED_COLOURS[targets[i]])));
    return { unmasked_max_diff: unmasked, masked_mean_change: masked, colour_error_before: mean(before), colour_error_after: mean(after), total: clips.length };
  });
}

/** A mask [N, 1, T, H, W] (flat) covering each clip's subject in every frame (its square plus one pixel). */
export function subjectTubeMaskData(clips: readonly SubjectClip[], T: number, H: number, W: number): Float32Array {
  const m = new Float32Array(clips.length * T * H * W);
  clips.forEach((s, b) => {
    const [vx, vy] = DIRECTIONS[s.direction];
    for (let t = 0; t < T; t++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++)
          if (Math.abs(j + 0.5 - (s.x0 + vx * t)) <= SUBJECT_RADIUS + 1 && Math.abs(i + 0.5 - (s.y0 + vy * t)) <= SUBJECT_RADIUS + 1) m[((b * T + t) * H + i) * W + j] = 1;
  });
  return m;
}

export function measureAvatar(model: VideoModel, o: AppsDemoOptions = {}): AppsDemoResult['avatar'] {
  const { T, H, W } = geometry(model);
  const gen = new Generator((o.seed ?? 1) + 30);
  const n = 8;
  const colours = Array.from({ length: n }, () => randomColour(gen));
  const dirs = Array.from({ length: n }, (_, i) => Object.keys(DIRECTIONS)[i % 4]);
  return noGrad(() => {
    const v = avatarVideo(model, referenceImages(colours, H, W), { prompts: dirs, steps: o.steps, seed: o.seed ?? 4, guidance: o.guidance });
    const own: number[] = [];
    const other: number[] = [];
    let dr = 0;
    videosOf(v).forEach((vid, i) => {
      const c = subjectColour(vid, T, H, W);
      own.push(colourDistance(c, colours[i]));
      other.push(colourDistance(c, colours[(i + n / 2) % n]));
      if (subjectMotion(vid, T, H, W).direction === dirs[i]) dr++;
    });
    return { colour_error_own: mean(own), colour_error_other: mean(other), direction_right: dr, total: n };
  });
}

/** Trains a LoRA adapter on the "sks" clips (adds it to model.dit) and measures with and without it. */
export function measurePersonalize(model: VideoModel, o: AppsDemoOptions = {}): NonNullable<AppsDemoResult['personalize']> {
  const { T, H, W } = geometry(model);
  const { clips, captions } = sksClips(T, H, W);
  const t0 = Date.now();
  const steps = o.loraSteps ?? 150;
  const priorPrompts = o.priorPrompts ?? Object.keys(NAMED_COLOURS).flatMap((c) => Object.keys(DIRECTIONS).map((d) => `${c} ${d}`));
  const { losses } = personalize(model, { clips, captions, steps, rank: o.loraRank ?? 8, lr: o.loraLr ?? 2e-2, seed: o.seed ?? 5, priorPrompts, priorWeight: o.priorWeight ?? 0.25 });
  const seconds = (Date.now() - t0) / 1000;
  const prompts = ['sks left', 'sks up', 'red left'];
  const gen = (on: boolean) => noGrad(() => {
    setLoraEnabled(model.dit, on);
    const x = guidedSample(model.velocity(), [prompts.length, 3, T, H, W], model.condition(prompts), { steps: o.steps ?? model.config.sample_steps, seed: o.seed ?? 6, guidance: o.guidance ?? model.config.guidance, shift: model.sigmaShift([prompts.length, 3, T, H, W]) });
    setLoraEnabled(model.dit, true);
    return videosOf(x).map((v) => subjectColour(v, T, H, W));
  });
  const withA = gen(true);
  const without = gen(false);
  return {
    steps,
    first_loss: mean(losses.slice(0, 10)),
    last_loss: mean(losses.slice(-10)),
    colour_error_with: mean(withA.slice(0, 2).map((c) => colourDistance(c, SKS_COLOUR))),
    colour_error_without: mean(without.slice(0, 2).map((c) => colourDistance(c, SKS_COLOUR))),
    base_prompt_colour_error_with: colourDistance(withA[2], NAMED_COLOURS.red),
    total: 2,
    seconds,
  };
}

export function runAppsDemo(model: VideoModel, o: AppsDemoOptions = {}): AppsDemoResult {
  const r: AppsDemoResult = { t2v: measureT2v(model, o), i2v: measureI2v(model, o), inpaint: measureInpaint(model, o), avatar: measureAvatar(model, o) };
  if (model.config.image_condition) r.i2v_methods = (['replace', 'concat', 'both'] as const).map((method) => measureI2v(model, { ...o, method }));
  if (!o.skipPersonalize) r.personalize = measurePersonalize(model, o);
  return r;
}
