/**
 * The procedural captioned demo dataset for Aquarius (issue item 9):
 * - `sampleScenes(count, seed)`: scenes with balanced attributes (colour, shape, texture, direction, background
 *   cycle through a seeded shuffle of all combinations) over several sizes (32×32, 48×32, 32×48) and lengths (5, 9);
 * - `writeDemoVideos(dir, o)`: renders each scene to a real H.264 MP4 `<dir>/videos/demo-<i>.mp4` plus its caption
 *   JSON `demo-<i>.json` (`{ caption, scene }`);
 * - `demoDatapipeSpec()` / `buildDemoShards(videosDir, outDir)`: the datapipe graph that turns them into WebDataset
 *   shards with buckets, using the stock operators (probe → detect-shots → cut-clips (+metrics) → bucket → caption →
 *   webdataset). The only addition is the `sidecar` captioner, registered through the datapipe's captioner plugin
 *   point, which takes each clip's caption from the JSON beside its source video.
 * Why here (src/apps/, the applications layer): it renders with src/io and drives src/datapipe, and the trainers in
 * src/train/ read only the shards it produces, never this module.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinRegistry, compileGraph, registerCaptioner, runLocal, type PipelineSpec, type RunSummary } from '../../datapipe/index.js';
import { KilnError } from '../../errors.js';
import { ffmpegPaths } from '../../io/ffmpeg.js';
import { writeMp4 } from '../../io/video.js';
import { Generator } from '../../tensor/random.js';
import {
  BACKGROUND_NAMES, captionOf, COLOR_NAMES, DIRECTION_NAMES, renderScene, SHAPES, TEXTURES, type Scene,
} from './scene.js';

/** (width, height) of the demo clips: 1:1, 3:2 and 2:3. */
export const DEMO_SIZES: ReadonlyArray<[number, number]> = [[32, 32], [48, 32], [32, 48]];
/** Frame counts (1 + 4k, the causal VAE's temporal grid). */
export const DEMO_LENGTHS: readonly number[] = [5, 9];
export const DEMO_FPS = 8;

export interface SceneOptions {
  sizes?: ReadonlyArray<[number, number]>;
  lengths?: readonly number[];
}

/** `count` scenes; attributes cycle through a seeded permutation of all combinations, so counts stay balanced. */
export function sampleScenes(count: number, seed = 0, o: SceneOptions = {}): Scene[] {
  const sizes = o.sizes ?? DEMO_SIZES, lengths = o.lengths ?? DEMO_LENGTHS;
  const g = new Generator(seed);
  const combos: Array<[number, number, number, number, number]> = [];
  for (let c = 0; c < COLOR_NAMES.length; c++)
    for (let s = 0; s < SHAPES.length; s++)
      for (let t = 0; t < TEXTURES.length; t++)
        for (let d = 0; d < DIRECTION_NAMES.length; d++)
          for (let b = 0; b < BACKGROUND_NAMES.length; b++) combos.push([c, s, t, d, b]);
  for (let i = combos.length - 1; i > 0; i--) {
    const j = Math.floor(g.uniform() * (i + 1));
    [combos[i], combos[j]] = [combos[j], combos[i]];
  }
  return Array.from({ length: count }, (_, i) => {
    const [c, s, t, d, b] = combos[i % combos.length];
    const [width, height] = sizes[i % sizes.length];
    const frames = lengths[Math.floor(i / sizes.length) % lengths.length];
    return {
      color: COLOR_NAMES[c], shape: SHAPES[s], texture: TEXTURES[t], direction: DIRECTION_NAMES[d], background: BACKGROUND_NAMES[b],
      width, height, frames, jitter: [(g.uniform() * 2 - 1) * 0.12 * Math.min(width, height), (g.uniform() * 2 - 1) * 1.5],
    };
  });
}

export interface DemoVideo {
  key: string;
  path: string;
  caption: string;
  scene: Scene;
}

/** Renders `count` scenes to `<dir>/demo-<i>.mp4` + `.json`. */
export async function writeDemoVideos(dir: string, { count = 192, seed = 0, onVideo }: { count?: number; seed?: number; onVideo?: (i: number) => void } = {}): Promise<DemoVideo[]> {
  if (!Number.isInteger(count) || count <= 0) throw new KilnError('E_ARG', `demo videos: count ${count} must be a positive integer`);
  mkdirSync(dir, { recursive: true });
  const out: DemoVideo[] = [];
  const scenes = sampleScenes(count, seed);
  for (const [i, scene] of scenes.entries()) {
    const key = `demo-${String(i).padStart(5, '0')}`;
    const path = join(dir, `${key}.mp4`);
    await writeMp4(renderScene(scene), path, { fps: DEMO_FPS, crf: 12 });
    const caption = captionOf(scene);
    writeFileSync(join(dir, `${key}.json`), JSON.stringify({ caption, scene }) + '\n');
    out.push({ key, path, caption, scene });
    onVideo?.(i);
  }
  return out;
}

/** `count` check prompts with their clip geometry (scenes of another seed than the training data's). */
export function checkPromptSet(count: number, seed = 1000): Array<{ prompt: string; frames: number; width: number; height: number }> {
  return sampleScenes(count, seed).map((s) => ({ prompt: captionOf(s), frames: s.frames, width: s.width, height: s.height }));
}

/** Caption from `<source without extension>.json` (written by `writeDemoVideos`). */
export function registerSidecarCaptioner(): void {
  registerCaptioner('sidecar', () => async (clip) => {
    const src = String(clip.source ?? '');
    const path = src.replace(/\.[^./]+$/, '') + '.json';
    let j: { caption?: unknown };
    try {
      j = JSON.parse(readFileSync(path, 'utf8')) as { caption?: unknown };
    } catch (e) {
      throw new KilnError('E_DATAPIPE', `sidecar captioner: cannot read ${path} (${(e as Error).message}); every video needs a <name>.json with "caption"`);
    }
    if (typeof j.caption !== 'string') throw new KilnError('E_DATAPIPE', `sidecar captioner: ${path} has no string "caption"`);
    return j.caption;
  });
}

/**
 * The curation graph for the demo videos. Each video is one shot (no cuts: `min_shot_frames` above any length);
 * clips are re-encoded near-losslessly (crf 12) so colours survive; buckets: aspect 2:3 / 1:1 / 3:2, resolution
 * class 32p, duration below or from 1 s (5 vs 9 frames at 8 fps).
 */
export function demoDatapipeSpec(): PipelineSpec {
  return {
    name: 'aquarius-demo',
    stages: [
      { name: 'videos', op: 'video-files', params: { extensions: ['mp4'] } },
      { name: 'probe', op: 'probe', input: 'videos' },
      { name: 'shots', op: 'detect-shots', input: 'probe', params: { min_shot_frames: 100000 } },
      { name: 'cut', op: 'cut-clips', input: 'shots', params: { crf: 12, preset: 'veryfast', metrics: { width: 32 } } },
      { name: 'bucket', op: 'bucket', input: 'cut', params: { aspects: ['2:3', '1:1', '3:2'], resolutions: [32], durations: [1] } },
      { name: 'caption', op: 'caption', input: 'bucket', params: { captioner: 'sidecar' } },
      { name: 'shards', op: 'webdataset', input: 'caption', params: { target_mb: 1 } },
    ],
  };
}

/** Runs the demo graph over `videosDir` into `outDir` (shards in `<outDir>/shards/`, manifest `<outDir>/manifest.jsonl`). */
export async function buildDemoShards(videosDir: string, outDir: string, { cpus = 2 }: { cpus?: number } = {}): Promise<RunSummary> {
  registerSidecarCaptioner();
  const graph = compileGraph(demoDatapipeSpec(), builtinRegistry(), { input: videosDir, ...ffmpegPaths() });
  const { summary } = await runLocal(graph, { outDir, cpus });
  return summary;
}
