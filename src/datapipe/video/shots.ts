/**
 * Shot-boundary detection, after PySceneDetect's ContentDetector + AdaptiveDetector:
 *   score[t]  = mean over pixels of (|dH| + |dS| + |dV|) / 3 between frames t-1 and t, in OpenCV's 8-bit HSV
 *               (H in [0,180), S and V in [0,255]), computed on frames downscaled to `analysisWidth`;
 *   ratio[t]  = score[t] / mean(score of the `window` frames on each side of t);
 *   cut at t  when ratio[t] >= adaptiveThreshold and score[t] >= minContent and the current shot is at least
 *             `minShotFrames` long.
 * A fade changes every frame a little, so its scores are uniform and the ratio stays near 1: no cuts inside fades.
 * Still or black segments score ~0 and never cut. Frames stream through a pipe (constant memory).
 */
import { decodeArgs, streamFrames } from './ffmpeg.js';
import type { VideoInfo } from './probe.js';

export interface ShotOptions {
  analysisWidth: number;
  adaptiveThreshold: number;
  minContent: number;
  window: number;
  minShotFrames: number;
}

export const DEFAULT_SHOT_OPTIONS: ShotOptions = {
  analysisWidth: 128, adaptiveThreshold: 3, minContent: 15, window: 2, minShotFrames: 15,
};

export interface Shot {
  start_frame: number;
  /** Exclusive. */
  end_frame: number;
  start_s: number;
  end_s: number;
}

export interface ShotResult {
  fps: number;
  frames: number;
  shots: Shot[];
  /** Per-frame content scores (score[0] = 0). */
  scores: Float32Array;
}

/** Analysis frame size for a video: `width` wide, aspect kept, both even. */
export function analysisSize(info: VideoInfo, width: number): { w: number; h: number } {
  const w = Math.min(width, info.displayWidth) & ~1;
  const h = Math.max(2, Math.round((w * info.displayHeight) / info.displayWidth / 2) * 2);
  return { w, h };
}

const HSV_SHIFT = 12;
/** OpenCV's integer division tables for RGB -> HSV (8-bit, H in [0,180)). */
const SDIV = new Int32Array(256);
const HDIV = new Int32Array(256);
for (let i = 1; i < 256; i++) {
  SDIV[i] = Math.round((255 << HSV_SHIFT) / i);
  HDIV[i] = Math.round((180 << HSV_SHIFT) / (6 * i));
}

/** RGB24 -> 8-bit HSV exactly as OpenCV's cvtColor(RGB2HSV) computes it, planar into `out` (H, S, V planes). */
export function rgbToHsv(rgb: Uint8Array, n: number, out: Uint8Array): void {
  const half = 1 << (HSV_SHIFT - 1);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const r = rgb[j], g = rgb[j + 1], b = rgb[j + 2];
    let v = b > g ? b : g;
    if (r > v) v = r;
    let mn = b < g ? b : g;
    if (r < mn) mn = r;
    const diff = v - mn;
    const sat = (diff * SDIV[v] + half) >> HSV_SHIFT;
    let h = v === r ? g - b : v === g ? b - r + 2 * diff : r - g + 4 * diff;
    h = (h * HDIV[diff] + half) >> HSV_SHIFT;
    if (h < 0) h += 180;
    out[i] = h;
    out[n + i] = sat;
    out[2 * n + i] = v;
  }
}

/**
 * Mean |dH| + |dS| + |dV| over pixels, divided by 3. Hue and saturation are meaningless near black (a pixel fading
 * to black keeps its hue until it becomes 0, then jumps), so their differences are weighted by the brighter of the
 * two pixels' V: 0 below V=24, full above V=96. Without this, the last frame of a fade to black scores like a cut.
 */
export function contentScore(prev: Uint8Array, cur: Uint8Array, n: number): number {
  let hs = 0;
  let vv = 0;
  for (let i = 0; i < n; i++) {
    const v0 = prev[2 * n + i], v1 = cur[2 * n + i];
    const dv = v1 - v0;
    vv += dv < 0 ? -dv : dv;
    const wq = (v0 > v1 ? v0 : v1) - 24;
    if (wq <= 0) continue;
    const dh = cur[i] - prev[i];
    const ds = cur[n + i] - prev[n + i];
    hs += ((dh < 0 ? -dh : dh) + (ds < 0 ? -ds : ds)) * (wq >= 72 ? 1 : wq / 72);
  }
  return (hs + vv) / (3 * n);
}

/**
 * rgbToHsv + contentScore fused in one pass (the hot loop of shot detection): converts `rgb` into `cur` (planar HSV)
 * and returns the content score against `prev`, or 0 when `first`.
 */
export function hsvAndScore(rgb: Uint8Array, prev: Uint8Array, cur: Uint8Array, n: number, first: boolean): number {
  const half = 1 << (HSV_SHIFT - 1);
  const n2 = 2 * n;
  let hs = 0;
  let vv = 0;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const r = rgb[j], g = rgb[j + 1], b = rgb[j + 2];
    let v = b > g ? b : g;
    if (r > v) v = r;
    let mn = b < g ? b : g;
    if (r < mn) mn = r;
    const diff = v - mn;
    const sat = (diff * SDIV[v] + half) >> HSV_SHIFT;
    let h = v === r ? g - b : v === g ? b - r + 2 * diff : r - g + 4 * diff;
    h = (h * HDIV[diff] + half) >> HSV_SHIFT;
    if (h < 0) h += 180;
    cur[i] = h;
    cur[n + i] = sat;
    cur[n2 + i] = v;
    if (first) continue;
    const v0 = prev[n2 + i];
    const dv = v - v0;
    vv += dv < 0 ? -dv : dv;
    const wq = (v0 > v ? v0 : v) - 24;
    if (wq <= 0) continue;
    const dh = h - prev[i];
    const ds = sat - prev[n + i];
    const t = (dh < 0 ? -dh : dh) + (ds < 0 ? -ds : ds);
    hs += wq >= 72 ? t : (t * wq) / 72;
  }
  return first ? 0 : (hs + vv) / (3 * n);
}

/** Turn per-frame scores into shots (the adaptive rule above). */
export function shotsFromScores(scores: Float32Array, fps: number, o: ShotOptions): Shot[] {
  const n = scores.length;
  const cuts: number[] = [];
  let last = 0;
  for (let t = 1; t < n; t++) {
    const s = scores[t];
    if (s < o.minContent || t - last < o.minShotFrames) continue;
    let sum = 0;
    let cnt = 0;
    for (let k = t - o.window; k <= t + o.window; k++)
      if (k !== t && k >= 1 && k < n) (sum += scores[k], cnt++);
    const avg = cnt > 0 ? sum / cnt : 0;
    const ratio = avg < 1e-5 ? 255 : s / avg;
    if (ratio >= o.adaptiveThreshold) {
      cuts.push(t);
      last = t;
    }
  }
  // A final fragment shorter than minShotFrames joins the previous shot.
  if (cuts.length > 0 && n - cuts[cuts.length - 1] < o.minShotFrames) cuts.pop();
  const bounds = [0, ...cuts, n];
  const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;
  const shots: Shot[] = [];
  for (let i = 0; i + 1 < bounds.length; i++)
    shots.push({ start_frame: bounds[i], end_frame: bounds[i + 1], start_s: r6(bounds[i] / fps),
      end_s: r6(bounds[i + 1] / fps) });
  return shots;
}

export async function detectShots(ffmpeg: string, path: string, info: VideoInfo, opts: Partial<ShotOptions> = {},
    onProgress?: () => void, signal?: AbortSignal): Promise<ShotResult> {
  const o = { ...DEFAULT_SHOT_OPTIONS, ...opts };
  const { w, h } = analysisSize(info, o.analysisWidth);
  const n = w * h;
  let prev = new Uint8Array(3 * n);
  let cur = new Uint8Array(3 * n);
  let scores = new Float32Array(Math.max(16, info.frames + 8));
  const frames = await streamFrames(ffmpeg, decodeArgs(path, `scale=${w}:${h}:flags=area`, 'rgb24'), 3 * n,
    `shot detection ${path}`, (frame, t) => {
      const s = hsvAndScore(frame, prev, cur, n, t === 0);
      if (t >= scores.length) {
        const g = new Float32Array(scores.length * 2);
        g.set(scores);
        scores = g;
      }
      scores[t] = s;
      const tmp = prev;
      prev = cur;
      cur = tmp;
      if ((t & 255) === 0) onProgress?.();
    }, signal);
  scores = scores.slice(0, frames);
  return { fps: info.fps, frames, shots: shotsFromScores(scores, info.fps, o), scores };
}
