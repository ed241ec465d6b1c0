/**
 * The synthetic "subjects" world the tiny application models train and are measured on: a coloured square (the
 * subject; its colour is its identity) moving one pixel per frame in one of four directions over a fixed grey
 * background, as [3, T, H, W] in [−1, 1]. Captions are "<colour> <direction>" for the named colours, "<direction>"
 * when the identity comes from a reference image instead (avatar), and "sks <direction>" for the personalization
 * subject (yellow, never named in the base training data).
 * Measurements: `subjectColour` (mean colour of the pixels farthest from the background, per frame) and
 * `subjectMotion` (displacement of those pixels' centroid), so tests can check identity and motion of generations.
 */
import { fromArray } from '../tensor/creation.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

export type Rgb = [number, number, number];

export const BACKGROUND: Rgb = [-0.5, -0.5, -0.5];
export const NAMED_COLOURS: Record<string, Rgb> = { red: [1, -1, -1], green: [-1, 1, -1], blue: [-1, -1, 1], white: [1, 1, 1] };
/** The personalization subject's colour (never a named colour of the base data). */
export const SKS_COLOUR: Rgb = [1, 1, -1];
export const DIRECTIONS: Record<string, [number, number]> = { right: [1, 0], left: [-1, 0], down: [0, 1], up: [0, -1] };
/** Half side of the subject square (pixels): the square covers (2r)² pixels. */
export const SUBJECT_RADIUS = 1.5;

export interface SubjectClip {
  colour: Rgb;
  direction: string;
  /** top-left centre of frame 0 (pixels) */
  x0: number;
  y0: number;
}

/** Renders a clip into `out` at `offset` ([3, T, H, W] block). */
export function renderSubject(s: SubjectClip, T: number, H: number, W: number, out: Float32Array, offset = 0): void {
  const [vx, vy] = DIRECTIONS[s.direction];
  for (let t = 0; t < T; t++) {
    const cx = s.x0 + vx * t;
    const cy = s.y0 + vy * t;
    for (let i = 0; i < H; i++)
      for (let j = 0; j < W; j++) {
        const inside = Math.abs(j + 0.5 - cx) <= SUBJECT_RADIUS && Math.abs(i + 0.5 - cy) <= SUBJECT_RADIUS;
        for (let c = 0; c < 3; c++) out[offset + ((c * T + t) * H + i) * W + j] = inside ? s.colour[c] : BACKGROUND[c];
      }
  }
}

/** A start position that keeps the subject inside the frame for all T frames. */
export function startFor(direction: string, T: number, H: number, W: number, gen: Generator): { x0: number; y0: number } {
  const [vx, vy] = DIRECTIONS[direction];
  const span = (n: number, v: number) => {
    const lo = SUBJECT_RADIUS + (v < 0 ? -v * (T - 1) : 0);
    const hi = n - SUBJECT_RADIUS - (v > 0 ? v * (T - 1) : 0);
    return Math.round(lo + gen.uniform() * Math.max(0, hi - lo) - 0.5) + 0.5;
  };
  return { x0: span(W, vx), y0: span(H, vy) };
}

export function randomColour(gen: Generator): Rgb {
  // keep away from the background so the subject is always visible
  for (;;) {
    const c: Rgb = [gen.uniform() * 2 - 1, gen.uniform() * 2 - 1, gen.uniform() * 2 - 1];
    if (colourDistance(c, BACKGROUND) > 0.9) return c;
  }
}

export function colourDistance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** Clips [N, 3, T, H, W]. */
export function subjectVideos(clips: readonly SubjectClip[], T: number, H: number, W: number): Tensor {
  const n = 3 * T * H * W;
  const out = new Float32Array(clips.length * n);
  clips.forEach((s, b) => renderSubject(s, T, H, W, out, b * n));
  return fromArray(out, [clips.length, 3, T, H, W]);
}

/** Reference images [N, 3, 1, H, W]: each subject still, centred at (W/2, H/2) on the background (on an even grid the rasteriser draws it (2r + 1)² = 4 × 4 pixels, one more than in the clips). */
export function referenceImages(colours: readonly Rgb[], H: number, W: number): Tensor {
  return subjectVideos(colours.map((colour) => ({ colour, direction: 'right', x0: W / 2, y0: H / 2 })), 1, H, W);
}

function pixelsOf(video: Float32Array, T: number, H: number, W: number, t: number): { colour: Rgb; score: number; i: number; j: number }[] {
  const px: { colour: Rgb; score: number; i: number; j: number }[] = [];
  for (let i = 0; i < H; i++)
    for (let j = 0; j < W; j++) {
      const colour = [0, 1, 2].map((c) => video[((c * T + t) * H + i) * W + j]) as Rgb;
      px.push({ colour, score: colourDistance(colour, BACKGROUND), i, j });
    }
  return px.sort((a, b) => b.score - a.score);
}

/** The subject's apparent colour in one video [3, T, H, W]: mean over frames of the (2r)² pixels farthest from the background. */
export function subjectColour(video: Float32Array, T: number, H: number, W: number): Rgb {
  const k = Math.round((2 * SUBJECT_RADIUS) ** 2);
  const acc: Rgb = [0, 0, 0];
  for (let t = 0; t < T; t++) for (const p of pixelsOf(video, T, H, W, t).slice(0, k)) for (let c = 0; c < 3; c++) acc[c] += p.colour[c] / (k * T);
  return acc;
}

/** Centroid displacement (pixels, last frame − first) of the subject pixels, and the nearest named direction. */
export function subjectMotion(video: Float32Array, T: number, H: number, W: number): { dx: number; dy: number; direction: string } {
  const k = Math.round((2 * SUBJECT_RADIUS) ** 2);
  const centroid = (t: number) => {
    const px = pixelsOf(video, T, H, W, t).slice(0, k);
    return [px.reduce((s, p) => s + p.j, 0) / k, px.reduce((s, p) => s + p.i, 0) / k];
  };
  const [ax, ay] = centroid(0);
  const [bx, by] = centroid(T - 1);
  const dx = bx - ax;
  const dy = by - ay;
  let direction = 'none';
  let best = 0;
  for (const [name, [vx, vy]] of Object.entries(DIRECTIONS))
    if (vx * dx + vy * dy > best) [direction, best] = [name, vx * dx + vy * dy];
  return { dx, dy, direction };
}

/** Splits a batch [N, 3, T, H, W] into per-video arrays. */
export function videosOf(x: Tensor): Float32Array[] {
  const [N] = x.shape;
  const d = x.contiguous().data() as Float32Array;
  const n = d.length / N;
  return Array.from({ length: N }, (_, b) => d.slice(b * n, (b + 1) * n));
}
