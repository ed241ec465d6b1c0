/**
 * Video training data from WebDataset shards (the datapipe's `webdataset` sink: `<key>.mp4` + `<key>.json` per
 * sample, `shard-manifest.json` listing the shards) or from a plain directory of videos, with bucketed batching.
 *
 * - `loadVideoSamples(path, o)` finds the shards (a shard dir, a datapipe output dir with `shards/`, or one .tar),
 *   reads every sample's caption and bucket from its JSON, fixes one clip shape per bucket (`bucketShape`: the
 *   bucket's smallest width/height rounded down to `spatialMultiple`, its shortest length rounded down to
 *   1 + k·`temporalMultiple`) and decodes every clip to that shape (ffmpeg area resize, first T frames). A
 *   directory of videos (no shards) works too: caption from `<name>.json` ("caption") if present, bucket = the
 *   exact W×H×T. Everything is decoded once into memory: right for the demo (200 clips ≈ 8 MB); a large corpus
 *   would decode per batch behind the same interface.
 * - `BucketBatcher`: every batch comes from ONE bucket (same T × H × W, so it stacks into one tensor); per epoch,
 *   each bucket's samples are shuffled and cut into batches (the last one may be short), then all batches are
 *   shuffled together — so every sample is seen exactly once per epoch and a bucket is drawn in proportion to its
 *   size. Seeded: the order is a function of (seed, epoch).
 * - `batchVideo(samples)`: [B, 3, T, H, W] f32 in [−1, 1] plus the captions.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import tar from 'tar-stream';
import { KilnError } from '../errors.js';
import { decodeVideoBytes, probeMedia, readVideo, type Frames } from '../io/video.js';
import { fromArray } from '../tensor/creation.js';
import { Generator as Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

export interface VideoSample {
  key: string;
  caption: string;
  bucket: string;
  /** decoded to the bucket's shape */
  frames: Frames;
  /** the sample's JSON record (datapipe manifest fields) */
  meta: Record<string, unknown>;
}

export interface LoadOptions {
  /** clip width/height are rounded down to a multiple of this (8 for the VAE, the patch size in pixel space) */
  spatialMultiple?: number;
  /** clip length is rounded down to 1 + k·this (4 for the causal VAE) */
  temporalMultiple?: number;
  /** at most this many samples (in key order) */
  limit?: number;
  /** decodes in flight (ffmpeg processes) */
  concurrency?: number;
  onSample?: (done: number, total: number) => void;
}

interface RawSample {
  key: string;
  bytes?: Uint8Array;
  path?: string;
  meta: Record<string, unknown>;
  width: number;
  height: number;
  frames: number;
  bucket: string;
  caption: string;
}

/** The shard files a path points at. */
export function findShards(path: string): string[] {
  if (!existsSync(path)) throw new KilnError('E_IO', `video data ${path}: no such file or directory`);
  if (statSync(path).isFile()) {
    if (!path.endsWith('.tar')) throw new KilnError('E_ARG', `video data ${path}: expected a .tar shard, a shard directory or a video directory`);
    return [path];
  }
  const dir = existsSync(join(path, 'shards')) && statSync(join(path, 'shards')).isDirectory() ? join(path, 'shards') : path;
  const manifest = readdirSync(dir).find((f) => f.endsWith('-manifest.json'));
  if (manifest) {
    const m = JSON.parse(readFileSync(join(dir, manifest), 'utf8')) as { shards?: Array<{ name: string }> };
    return (m.shards ?? []).map((s) => join(dir, s.name));
  }
  return readdirSync(dir).filter((f) => f.endsWith('.tar')).sort().map((f) => join(dir, f));
}

async function readTar(path: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (b: unknown) => parts.push(b as Buffer));
      stream.on('end', () => {
        out.set(h.name, Buffer.concat(parts));
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', (e: Error) => reject(new KilnError('E_FORMAT', `shard ${path}: not a readable tar (${e.message})`)));
  });
  ex.end(readFileSync(path));
  await done;
  return out;
}

const numField = (m: Record<string, unknown>, k: string, where: string): number => {
  const v = m[k];
  if (typeof v !== 'number') throw new KilnError('E_FORMAT', `${where}: field "${k}" missing; shards must come from the datapipe's webdataset sink (probe + bucket stages)`);
  return v;
};

async function rawFromShards(shards: string[]): Promise<RawSample[]> {
  const out: RawSample[] = [];
  for (const shard of shards) {
    const entries = await readTar(shard);
    for (const [name, buf] of entries) {
      if (!name.endsWith('.json')) continue;
      const key = name.slice(0, -5);
      const mp4 = entries.get(`${key}.mp4`);
      const where = `${basename(shard)}:${key}`;
      if (!mp4) throw new KilnError('E_FORMAT', `${where}: has a .json but no .mp4`);
      const meta = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
      const frames = numField(meta, 'end_frame', where) - numField(meta, 'start_frame', where);
      out.push({ key, bytes: mp4, meta, width: numField(meta, 'width', where), height: numField(meta, 'height', where), frames,
        bucket: typeof meta.bucket === 'string' ? meta.bucket : 'all', caption: typeof meta.caption === 'string' ? meta.caption : '' });
    }
  }
  return out;
}

const VIDEO_EXT = new Set(['.mp4', '.webm', '.mkv', '.mov', '.gif', '.avi']);

async function rawFromDir(dir: string): Promise<RawSample[]> {
  const files = readdirSync(dir).filter((f) => VIDEO_EXT.has(extname(f).toLowerCase())).sort();
  const out: RawSample[] = [];
  for (const f of files) {
    const path = join(dir, f);
    const info = await probeMedia(path);
    const side = path.slice(0, -extname(f).length) + '.json';
    const j = existsSync(side) ? (JSON.parse(readFileSync(side, 'utf8')) as Record<string, unknown>) : {};
    // count frames by decoding when the container does not say (GIF, WebM)
    const frames = info.frames > 0 ? info.frames : (await readVideo(path)).frames;
    out.push({ key: f.slice(0, -extname(f).length), path, meta: j, width: info.width, height: info.height, frames,
      bucket: `${info.width}x${info.height}x${frames}`, caption: typeof j.caption === 'string' ? j.caption : '' });
  }
  return out;
}

/** The clip shape of a bucket (see the file header). */
export function bucketShape(members: ReadonlyArray<{ width: number; height: number; frames: number }>, spatialMultiple = 1, temporalMultiple = 1):
    { width: number; height: number; frames: number } {
  const down = (v: number, m: number): number => Math.floor(v / m) * m;
  const width = down(Math.min(...members.map((s) => s.width)), spatialMultiple);
  const height = down(Math.min(...members.map((s) => s.height)), spatialMultiple);
  const frames = 1 + down(Math.min(...members.map((s) => s.frames)) - 1, temporalMultiple);
  return { width, height, frames };
}

/** Reads and decodes every sample under `path` (shards or a video directory). */
export async function loadVideoSamples(path: string, o: LoadOptions = {}): Promise<VideoSample[]> {
  const shards = statSync(path).isDirectory() && !existsSync(join(path, 'shards')) &&
    readdirSync(path).some((f) => VIDEO_EXT.has(extname(f).toLowerCase())) ? [] : findShards(path);
  let raw = shards.length > 0 ? await rawFromShards(shards) : await rawFromDir(path);
  if (raw.length === 0) throw new KilnError('E_IO', `video data ${path}: no samples found (expected datapipe shards or video files)`);
  raw.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (o.limit !== undefined) raw = raw.slice(0, o.limit);
  const groups = new Map<string, RawSample[]>();
  for (const r of raw) groups.set(r.bucket, [...(groups.get(r.bucket) ?? []), r]);
  const shapes = new Map([...groups].map(([b, m]) => [b, bucketShape(m, o.spatialMultiple ?? 1, o.temporalMultiple ?? 1)]));
  for (const [b, s] of shapes)
    if (s.width <= 0 || s.height <= 0 || s.frames <= 0)
      throw new KilnError('E_SHAPE', `bucket ${b}: clips too small for multiples ${o.spatialMultiple}/${o.temporalMultiple} (${JSON.stringify(s)})`);
  const out: VideoSample[] = new Array(raw.length);
  let next = 0, done = 0;
  const worker = async (): Promise<void> => {
    while (next < raw.length) {
      const i = next++;
      const r = raw[i];
      const s = shapes.get(r.bucket)!;
      const ro = { size: { width: s.width, height: s.height }, frames: s.frames };
      const frames = r.bytes ? await decodeVideoBytes(r.bytes, r.key, ro) : await readVideo(r.path!, ro);
      if (frames.frames !== s.frames)
        throw new KilnError('E_FORMAT', `sample ${r.key}: decoded ${frames.frames} frames, its bucket ${r.bucket} needs ${s.frames}`);
      out[i] = { key: r.key, caption: r.caption, bucket: r.bucket, frames, meta: r.meta };
      o.onSample?.(++done, raw.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 2) }, worker));
  return out;
}

export interface BatcherOptions {
  batchSize: number;
  seed?: number;
  /** drop each bucket's last short batch (default false: every sample once per epoch) */
  dropLast?: boolean;
}

/** Bucketed, seeded batching of sample indices (see the file header). */
export class BucketBatcher {
  readonly buckets: Map<string, number[]>;
  constructor(samples: ReadonlyArray<{ bucket: string }>, readonly o: BatcherOptions) {
    if (!Number.isInteger(o.batchSize) || o.batchSize <= 0) throw new KilnError('E_ARG', `BucketBatcher: batchSize ${o.batchSize} must be a positive integer`);
    this.buckets = new Map();
    samples.forEach((s, i) => this.buckets.set(s.bucket, [...(this.buckets.get(s.bucket) ?? []), i]));
  }

  /** The batches (lists of sample indices) of epoch `e`. */
  epoch(e: number): number[][] {
    const g = new Rng(((this.o.seed ?? 0) * 1000003 + e) >>> 0);
    const shuffle = <T>(a: T[]): T[] => {
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(g.uniform() * (i + 1));
        [a[i], a[j]] = [a[j], a[i]];
      }
      return a;
    };
    const batches: number[][] = [];
    for (const key of [...this.buckets.keys()].sort()) {
      const idx = shuffle([...this.buckets.get(key)!]);
      for (let i = 0; i < idx.length; i += this.o.batchSize) {
        const b = idx.slice(i, i + this.o.batchSize);
        if (!this.o.dropLast || b.length === this.o.batchSize) batches.push(b);
      }
    }
    return shuffle(batches);
  }

  /** An endless stream of batches, epoch after epoch. */
  *batches(): Generator<number[], never, unknown> {
    for (let e = 0; ; e++) {
      const ep = this.epoch(e);
      if (ep.length === 0) throw new KilnError('E_ARG', 'BucketBatcher: no batch in an epoch (every bucket smaller than the batch with dropLast)');
      yield* ep;
    }
  }
}

/** Frames [T, H, W, 3] uint8 → one clip [3, T, H, W] in [−1, 1], written at `offset` of `out`. */
export function framesToChw(f: Frames, out: Float32Array, offset = 0): void {
  const { frames: T, height: H, width: W, data } = f;
  const plane = T * H * W;
  for (let p = 0; p < plane; p++)
    for (let c = 0; c < 3; c++) out[offset + c * plane + p] = data[p * 3 + c] / 127.5 - 1;
}

/** [3, T, H, W] in [−1, 1] (at `offset` of x) → Frames. */
export function chwToFrames(x: Float32Array, T: number, H: number, W: number, offset = 0, fps?: number): Frames {
  const plane = T * H * W;
  const data = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++)
    for (let c = 0; c < 3; c++) data[p * 3 + c] = Math.round(Math.min(1, Math.max(-1, x[offset + c * plane + p])) * 127.5 + 127.5);
  return { data, frames: T, height: H, width: W, fps };
}

/** A batch of same-shape samples → video [B, 3, T, H, W] in [−1, 1] and captions. */
export function batchVideo(samples: readonly VideoSample[]): { video: Tensor; captions: string[] } {
  const f0 = samples[0].frames;
  const n = 3 * f0.frames * f0.height * f0.width;
  const out = new Float32Array(samples.length * n);
  samples.forEach((s, b) => {
    if (s.frames.frames !== f0.frames || s.frames.height !== f0.height || s.frames.width !== f0.width)
      throw new KilnError('E_SHAPE', `batchVideo: sample ${s.key} is ${s.frames.width}x${s.frames.height}x${s.frames.frames}, the batch is ${f0.width}x${f0.height}x${f0.frames}`);
    framesToChw(s.frames, out, b * n);
  });
  return { video: fromArray(out, [samples.length, 3, f0.frames, f0.height, f0.width]), captions: samples.map((s) => s.caption) };
}
