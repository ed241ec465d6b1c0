/**
 * The built-in video operators (definitions only; the work lives in probe/shots/cut/metrics/... beside this file).
 * Item types: "video" (a source file, then probed) and "clip" (a shot of a video; fields listed in docs/datapipe.md).
 */
import { join } from 'node:path';
import { KilnError } from '../../errors.js';
import { pBool, pInt, pList, pNum, pOnly, pOptNum, pStr } from '../params.js';
import { listInputs } from '../sources.js';
import { safeKey } from '../store.js';
import type { Item, Json, OperatorDef, Params } from '../types.js';
import { bucketOf, DEFAULT_BUCKETS } from './buckets.js';
import { getCaptioner } from './captioners.js';
import { cutClip } from './cut.js';
import { clipMetrics, MetricsAccumulator, metricsSize, type ClipMetrics, type MetricOptions } from './metrics.js';
import { hamming } from './phash.js';
import { probeVideo, type VideoInfo } from './probe.js';
import { writeShards } from './shards.js';
import { detectShots, DEFAULT_SHOT_OPTIONS } from './shots.js';

const VIDEO_EXT = ['mp4', 'mkv', 'mov', 'webm', 'avi', 'm4v', 'mpg', 'mpeg', 'ts', 'flv'];
const num = (it: Item, k: string): number => {
  const v = it[k];
  if (typeof v !== 'number') throw new KilnError('E_DATAPIPE', `item ${it.id}: field "${k}" missing; add the stage ` +
    'that computes it (probe / detect-shots / clip-metrics) upstream');
  return v;
};
const str = (it: Item, k: string): string => {
  const v = it[k];
  if (typeof v !== 'string') throw new KilnError('E_DATAPIPE', `item ${it.id}: field "${k}" missing`);
  return v;
};

export const videoFiles: OperatorDef = {
  name: 'video-files', kind: 'source', inType: 'none', outType: 'video', resources: { cpu: 0 },
  description: 'List video files under --input (dir, glob or file) as items { id, source }',
  create(p, env) {
    pOnly(p, ['extensions', 'input']);
    const ext = pList<string>(p, 'extensions', VIDEO_EXT, 'string').map((e) => e.toLowerCase());
    const input = typeof p.input === 'string' ? p.input : env.input;
    return { kind: 'source', run: async function* () {
      for (const f of listInputs(input, ext)) yield { id: f.id, source: f.path };
    } };
  },
};

export const probe: OperatorDef = {
  name: 'probe', kind: 'map', inType: 'video', outType: 'video', resources: { cpu: 0.5, memoryMb: 64 },
  description: 'ffprobe: duration, fps, frames, width/height (display), codec, rotation',
  create(p, env) {
    pOnly(p, []);
    return { kind: 'map', run: async (it, ctx) => {
      const i = await probeVideo(env.ffprobe, str(it, 'source'), ctx.signal);
      return { ...it, duration: Math.round(i.duration * 1e6) / 1e6, fps: i.fps, fps_rational: i.fpsRational,
        frames: i.frames, width: i.displayWidth, height: i.displayHeight, codec: i.codec, rotation: i.rotation };
    } };
  },
};

export const detectShotsOp: OperatorDef = {
  name: 'detect-shots', kind: 'flatMap', inType: 'video', outType: 'clip', resources: { cpu: 1, memoryMb: 128 },
  description: 'HSV content + adaptive threshold shot detection; emits one clip item per shot',
  create(p, env) {
    pOnly(p, ['analysis_width', 'threshold', 'min_content', 'window', 'min_shot_frames', 'min_shot_s']);
    const o = {
      analysisWidth: pInt(p, 'analysis_width', DEFAULT_SHOT_OPTIONS.analysisWidth, 16, 4096),
      adaptiveThreshold: pNum(p, 'threshold', DEFAULT_SHOT_OPTIONS.adaptiveThreshold, 1),
      minContent: pNum(p, 'min_content', DEFAULT_SHOT_OPTIONS.minContent, 0),
      window: pInt(p, 'window', DEFAULT_SHOT_OPTIONS.window, 1, 30),
      minShotFrames: pInt(p, 'min_shot_frames', DEFAULT_SHOT_OPTIONS.minShotFrames, 1),
    };
    const minShotS = pOptNum(p, 'min_shot_s');
    return { kind: 'flatMap', run: async (it, ctx) => {
      const src = str(it, 'source');
      // Reuse the probe stage's fields when present (saves an ffprobe per video).
      const known = ['fps', 'frames', 'width', 'height', 'duration'].every((k) => typeof it[k] === 'number') &&
        typeof it.codec === 'string';
      const info: VideoInfo = known ? { duration: num(it, 'duration'), fps: num(it, 'fps'),
        fpsRational: String(it.fps_rational ?? it.fps), frames: num(it, 'frames'), width: num(it, 'width'),
        height: num(it, 'height'), displayWidth: num(it, 'width'), displayHeight: num(it, 'height'),
        codec: str(it, 'codec'), rotation: Number(it.rotation ?? 0), pixFmt: 'unknown' }
        : await probeVideo(env.ffprobe, src, ctx.signal);
      const minF = minShotS !== undefined ? Math.max(1, Math.round(minShotS * info.fps)) : o.minShotFrames;
      const r = await detectShots(env.ffmpeg, src, info, { ...o, minShotFrames: minF }, ctx.heartbeat, ctx.signal);
      return r.shots.map((s, k): Item => ({
        id: `${it.id}-shot${String(k).padStart(4, '0')}`, video_id: it.id, source: src, shot: k,
        start_frame: s.start_frame, end_frame: s.end_frame, start_s: s.start_s, end_s: s.end_s,
        duration: Math.round((s.end_s - s.start_s) * 1e6) / 1e6, fps: info.fps, width: info.displayWidth,
        height: info.displayHeight, codec: info.codec, video_frames: r.frames,
      }));
    } };
  },
};

export const cutClips: OperatorDef = {
  name: 'cut-clips', kind: 'map', inType: 'clip', outType: 'clip', resources: { cpu: 1, memoryMb: 256 },
  description: 'Cut each shot to <out>/<dir>/<id>.mp4 (frame-accurate H.264 re-encode, or stream copy)',
  create(p, env) {
    pOnly(p, ['copy', 'crf', 'preset', 'threads', 'dir', 'metrics']);
    const o = { copy: pBool(p, 'copy', false), crf: pInt(p, 'crf', 23, 0, 51), preset: pStr(p, 'preset', 'veryfast'),
      threads: pInt(p, 'threads', 1, 0, 64) };
    const dir = pStr(p, 'dir', 'clips');
    // `metrics: true` (or clip-metrics' params) computes the clip metrics from the frames being cut, in the same
    // ffmpeg process: one decode and one process start instead of two.
    const mp = p.metrics ?? false;
    if (typeof mp !== 'boolean' && (typeof mp !== 'object' || mp === null || Array.isArray(mp)))
      throw new KilnError('E_CONFIG', 'param "metrics" must be true/false or an object of clip-metrics params');
    if (mp !== false && o.copy) throw new KilnError('E_CONFIG', 'param "metrics" needs a re-encode; drop "copy: true"');
    const mo = mp === false ? undefined : metricOptions(mp === true ? {} : (mp as Params));
    return { kind: 'map', run: async (it, ctx) => {
      const rel = `${dir}/${safeKey(it.id)}.mp4`;
      const frames = num(it, 'end_frame') - num(it, 'start_frame');
      let acc: MetricsAccumulator | undefined;
      if (mo) {
        const { w, h } = metricsSize(num(it, 'width'), num(it, 'height'), mo.width);
        acc = new MetricsAccumulator(w, h, frames, mo);
      }
      await cutClip(env.ffmpeg, str(it, 'source'), join(ctx.outDir, rel), num(it, 'start_frame'), num(it, 'end_frame'),
        num(it, 'fps'), o, ctx.signal, acc && { w: acc.w, h: acc.h, onFrame: (f) => acc!.push(f) });
      if (!acc) return { ...it, clip: rel };
      return { ...it, clip: rel, ...metricFields(acc.result(), frames, rel) };
    } };
  },
};

function metricOptions(p: Params): MetricOptions {
  pOnly(p, ['width', 'black_luma', 'static_motion']);
  return { width: pInt(p, 'width', 160, 16, 4096), blackLuma: pNum(p, 'black_luma', 24, 0, 255),
    staticMotion: pNum(p, 'static_motion', 0.1, 0) };
}

/** The manifest's metric fields; a frame count other than the shot's means a bad cut or decode. */
function metricFields(m: ClipMetrics, expectedFrames: number, where: string): Record<string, Json> {
  if (m.frames !== expectedFrames)
    throw new KilnError('E_DATAPIPE', `${where}: ${m.frames} frames analysed, expected ${expectedFrames}`);
  return { motion: m.motion, brightness: m.brightness, sharpness: m.sharpness, black: m.black, static: m.static,
    phash: m.phash };
}

export const clipMetricsOp: OperatorDef = {
  name: 'clip-metrics', kind: 'map', inType: 'clip', outType: 'clip', resources: { cpu: 1, memoryMb: 64 },
  description: 'motion, brightness, sharpness (Laplacian variance), black, static, phash of each clip',
  create(p, env) {
    const o = metricOptions(p);
    return { kind: 'map', run: async (it, ctx) => {
      const frames = num(it, 'end_frame') - num(it, 'start_frame');
      const clip = typeof it.clip === 'string' ? join(ctx.outDir, it.clip) : undefined;
      const seek = clip ? undefined : { startS: Math.max(0, (num(it, 'start_frame') - 0.5) / num(it, 'fps')), frames };
      const m = await clipMetrics(env.ffmpeg, clip ?? str(it, 'source'), num(it, 'width'), num(it, 'height'), frames,
        o, seek, ctx.signal);
      return { ...it, ...metricFields(m, clip ? frames : m.frames, clip ?? str(it, 'source')) };
    } };
  },
};

export const clipFilter: OperatorDef = {
  name: 'clip-filter', kind: 'filter', inType: 'clip', outType: 'clip', resources: { cpu: 0.1, memoryMb: 8 },
  description: 'Drop clips by thresholds (motion, brightness, sharpness, duration, black, static) with a reason',
  create(p) {
    const keys = ['min_motion', 'max_motion', 'min_brightness', 'max_brightness', 'min_sharpness', 'min_duration_s',
      'max_duration_s', 'drop_black', 'drop_static'];
    pOnly(p, keys);
    const lim = Object.fromEntries(keys.slice(0, 7).map((k) => [k, pOptNum(p, k)]));
    const dropBlack = pBool(p, 'drop_black', true), dropStatic = pBool(p, 'drop_static', true);
    return { kind: 'filter', run: async (it) => {
      if (dropBlack && it.black === true) return { keep: false, reason: `black (brightness ${it.brightness})` };
      if (dropStatic && it.static === true) return { keep: false, reason: `static (motion ${it.motion})` };
      const checks: Array<[string, string, number | undefined, 1 | -1]> = [
        ['min_motion', 'motion', lim.min_motion, 1], ['max_motion', 'motion', lim.max_motion, -1],
        ['min_brightness', 'brightness', lim.min_brightness, 1], ['max_brightness', 'brightness', lim.max_brightness, -1],
        ['min_sharpness', 'sharpness', lim.min_sharpness, 1], ['min_duration_s', 'duration', lim.min_duration_s, 1],
        ['max_duration_s', 'duration', lim.max_duration_s, -1]];
      for (const [k, field, t, dir] of checks) {
        if (t === undefined) continue;
        const v = num(it, field);
        if (dir === 1 ? v < t : v > t) return { keep: false, reason: `${field} ${v} ${dir === 1 ? '<' : '>'} ${k} ${t}` };
      }
      return true;
    } };
  },
};

export const dedupPhash: OperatorDef = {
  name: 'dedup-phash', kind: 'batch', inType: 'clip', outType: 'clip', resources: { cpu: 1, memoryMb: 256 },
  description: 'Near-duplicate removal across the run: keep the first (by id) of clips within max_distance bits',
  create(p) {
    pOnly(p, ['max_distance']);
    const maxD = pInt(p, 'max_distance', 12, 0, 1024);
    return { kind: 'batch', size: 'all', run: async (items) => {
      // Multi-index hashing: hashes within d bits of each other share at least one of their bytes when d is
      // smaller than the number of bytes (pigeonhole); otherwise compare with every kept clip.
      const index = new Map<string, Item[]>();
      const kept: Item[] = [];
      const dropped: Array<{ item: Item; reason: string }> = [];
      for (const it of items) {
        const h = str(it, 'phash');
        const nb = h.length / 2;
        const keys = Array.from({ length: nb }, (_, b) => `${b}:${h.slice(2 * b, 2 * b + 2)}`);
        const cands = maxD < nb ? [...new Set(keys.flatMap((k) => index.get(k) ?? []))] : kept;
        let dup: Item | undefined;
        let dd = 0;
        for (const c of cands) {
          const d = hamming(h, c.phash as string);
          if (d <= maxD && (c.phash as string).length === h.length && (dup === undefined || c.id < dup.id)) (dup = c, (dd = d));
        }
        if (dup) {
          dropped.push({ item: it, reason: `near-duplicate of ${dup.id} (phash distance ${dd})` });
          continue;
        }
        kept.push(it);
        for (const k of keys) {
          const l = index.get(k);
          if (l) l.push(it);
          else index.set(k, [it]);
        }
      }
      return { out: kept, dropped };
    } };
  },
};

export const bucket: OperatorDef = {
  name: 'bucket', kind: 'map', inType: 'clip', outType: 'clip', resources: { cpu: 0.1, memoryMb: 8 },
  description: 'Aspect-ratio / resolution / duration buckets',
  create(p) {
    pOnly(p, ['aspects', 'resolutions', 'durations']);
    const o = { aspects: pList<string>(p, 'aspects', DEFAULT_BUCKETS.aspects, 'string'),
      resolutions: pList<number>(p, 'resolutions', DEFAULT_BUCKETS.resolutions, 'number'),
      durations: pList<number>(p, 'durations', DEFAULT_BUCKETS.durations, 'number') };
    for (const a of o.aspects) if (!/^\d+:\d+$/.test(a)) throw new KilnError('E_CONFIG', `aspect "${a}" must look like 16:9`);
    return { kind: 'map', run: async (it) => ({ ...it, ...bucketOf(num(it, 'width'), num(it, 'height'),
      num(it, 'end_s') - num(it, 'start_s'), o) }) };
  },
};

export const caption: OperatorDef = {
  name: 'caption', kind: 'map', inType: 'clip', outType: 'clip', resources: { cpu: 0.25, accelerator: 1, memoryMb: 512 },
  description: 'Caption each clip with a pluggable captioner (default "metadata"); an accelerator stage',
  create(p) {
    pOnly(p, ['captioner']);
    const cap = getCaptioner(pStr(p, 'captioner', 'metadata'));
    return { kind: 'map', run: async (it) => ({ ...it, caption: await cap(it) }) };
  },
};

export const webdataset: OperatorDef = {
  name: 'webdataset', kind: 'sink', inType: 'clip', outType: 'clip', resources: { cpu: 1, memoryMb: 256 },
  description: 'Pack clips into WebDataset tar shards (<key>.mp4 + <key>.json) of about target_mb, with a manifest',
  create(p) {
    pOnly(p, ['target_mb', 'dir', 'prefix']);
    const target = Math.round(pNum(p, 'target_mb', 256, 0.001) * 2 ** 20);
    const dir = pStr(p, 'dir', 'shards'), prefix = pStr(p, 'prefix', 'shard');
    return { kind: 'sink', size: 'all', run: async (items, ctx) => {
      const samples = items.map((it) => ({ key: safeKey(it.id).replace(/\./g, '_'), mp4: join(ctx.outDir, str(it, 'clip')),
        json: it }));
      const shards = await writeShards(join(ctx.outDir, dir), prefix, samples, target);
      const where = new Map<string, string>();
      for (const s of shards) for (const k of s.samples) where.set(k, `${dir}/${s.name}`);
      return { out: items.map((it, i) => ({ ...it, shard: where.get(samples[i].key)! })) };
    } };
  },
};

export const VIDEO_OPERATORS: OperatorDef[] = [videoFiles, probe, detectShotsOp, cutClips, clipMetricsOp, clipFilter,
  dedupPhash, bucket, caption, webdataset];
