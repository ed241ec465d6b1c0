/**
 * Per-clip metrics from one streaming grayscale decode at `width` (aspect kept):
 *   brightness  mean luma (0..255) over all frames
 *   motion      mean |frame t - frame t-1| per pixel (0..255), averaged over consecutive pairs
 *   sharpness   variance of the 4-neighbour Laplacian, averaged over frames
 *   black       fraction of frames with mean luma < blackLuma is >= 0.9
 *   static      motion < staticMotion
 *   phash       perceptual hashes of the frames at 1/4, 1/2 and 3/4 of the clip, concatenated (48 hex digits)
 */
import { decodeArgs, streamFrames } from './ffmpeg.js';
import { phash } from './phash.js';

export interface ClipMetrics {
  frames: number;
  brightness: number;
  motion: number;
  sharpness: number;
  black: boolean;
  static: boolean;
  phash: string;
}

export interface MetricOptions {
  width: number;
  blackLuma: number;
  staticMotion: number;
}

export function laplacianVariance(g: Uint8Array, w: number, h: number): number {
  let s = 0, s2 = 0, n = 0;
  for (let y = 1; y < h - 1; y++)
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const l = g[i - 1] + g[i + 1] + g[i - w] + g[i + w] - 4 * g[i];
      s += l;
      s2 += l * l;
      n++;
    }
  if (n === 0) return 0;
  const m = s / n;
  return s2 / n - m * m;
}

const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** Analysis frame size for metrics: `width` wide (at most the source), aspect kept, both even. */
export function metricsSize(srcW: number, srcH: number, width: number): { w: number; h: number } {
  const w = Math.min(width, srcW) & ~1;
  return { w, h: Math.max(2, Math.round((w * srcH) / srcW / 2) * 2) };
}

/** Accumulates the metrics over a stream of w x h grayscale frames (fed in order by `push`). */
export class MetricsAccumulator {
  private prev: Uint8Array;
  private cur: Uint8Array;
  private bright = 0;
  private motion = 0;
  private sharp = 0;
  private dark = 0;
  private t = 0;
  private readonly at: number[];
  private readonly hashes = new Map<number, string>();

  constructor(readonly w: number, readonly h: number, expectedFrames: number, readonly o: MetricOptions) {
    this.prev = new Uint8Array(w * h);
    this.cur = new Uint8Array(w * h);
    this.at = [1, 2, 3].map((q) => Math.floor((q * expectedFrames) / 4));
  }

  push(f: Uint8Array): void {
    const { w, h } = this;
    const n = w * h;
    const cur = this.cur;
    cur.set(f);
    let s = 0;
    for (let i = 0; i < n; i++) s += cur[i];
    const mean = s / n;
    this.bright += mean;
    if (mean < this.o.blackLuma) this.dark++;
    this.sharp += laplacianVariance(cur, w, h);
    if (this.t > 0) {
      const prev = this.prev;
      let d = 0;
      for (let i = 0; i < n; i++) {
        const x = cur[i] - prev[i];
        d += x < 0 ? -x : x;
      }
      this.motion += d / n;
    }
    if (this.at.includes(this.t)) this.hashes.set(this.t, phash(cur, w, h));
    else if (this.t === 0) this.hashes.set(-1, phash(cur, w, h));
    this.cur = this.prev;
    this.prev = cur;
    this.t++;
  }

  result(): ClipMetrics {
    const frames = this.t;
    const m = frames > 1 ? this.motion / (frames - 1) : 0;
    return {
      frames, brightness: r4(this.bright / frames), motion: r4(m), sharpness: r4(this.sharp / frames),
      black: this.dark / frames >= 0.9, static: m < this.o.staticMotion,
      phash: this.at.map((t) => this.hashes.get(t) ?? this.hashes.get(-1)!).join(''),
    };
  }
}

/** `seek` decodes a frame range of a longer source instead of a whole clip file. */
export async function clipMetrics(ffmpeg: string, path: string, srcW: number, srcH: number, expectedFrames: number,
    o: MetricOptions, seek?: { startS: number; frames: number }, signal?: AbortSignal): Promise<ClipMetrics> {
  const { w, h } = metricsSize(srcW, srcH, o.width);
  const acc = new MetricsAccumulator(w, h, expectedFrames, o);
  await streamFrames(ffmpeg, decodeArgs(path, `scale=${w}:${h}:flags=area`, 'gray', seek), w * h, `metrics ${path}`,
    (f) => acc.push(f), signal);
  return acc.result();
}
