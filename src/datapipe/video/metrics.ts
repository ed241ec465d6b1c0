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

/** `seek` decodes a frame range of a longer source instead of a whole clip file. */
export async function clipMetrics(ffmpeg: string, path: string, srcW: number, srcH: number, expectedFrames: number,
    o: MetricOptions, seek?: { startS: number; frames: number }, signal?: AbortSignal): Promise<ClipMetrics> {
  const w = Math.min(o.width, srcW) & ~1;
  const h = Math.max(2, Math.round((w * srcH) / srcW / 2) * 2);
  const n = w * h;
  let prev = new Uint8Array(n);
  let cur = new Uint8Array(n);
  let bright = 0, motion = 0, sharp = 0, dark = 0;
  const at = [1, 2, 3].map((q) => Math.floor((q * expectedFrames) / 4));
  const hashes = new Map<number, string>();
  const frames = await streamFrames(ffmpeg, decodeArgs(path, `scale=${w}:${h}:flags=area`, 'gray', seek), n,
    `metrics ${path}`, (f, t) => {
      cur.set(f);
      let s = 0;
      for (let i = 0; i < n; i++) s += cur[i];
      const mean = s / n;
      bright += mean;
      if (mean < o.blackLuma) dark++;
      sharp += laplacianVariance(cur, w, h);
      if (t > 0) {
        let d = 0;
        for (let i = 0; i < n; i++) {
          const x = cur[i] - prev[i];
          d += x < 0 ? -x : x;
        }
        motion += d / n;
      }
      if (at.includes(t)) hashes.set(t, phash(cur, w, h));
      else if (t === 0) hashes.set(-1, phash(cur, w, h));
      const tmp = prev;
      prev = cur;
      cur = tmp;
    }, signal);
  const m = frames > 1 ? motion / (frames - 1) : 0;
  return {
    frames, brightness: r4(bright / frames), motion: r4(m), sharpness: r4(sharp / frames),
    black: dark / frames >= 0.9, static: m < o.staticMotion,
    phash: at.map((t) => hashes.get(t) ?? hashes.get(-1)!).join(''),
  };
}
