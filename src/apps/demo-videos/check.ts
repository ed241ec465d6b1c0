/**
 * The automatic check of demo videos: reads back from RGB frames what the prompt asked for, with no model —
 * - object mask: saturated pixels (HSV S ≥ 0.45 and V ≥ 0.2); demo backgrounds are neutral grey, objects saturated;
 * - colour: majority vote of the mask pixels' nearest named hue (circular hue distance);
 * - the object: per frame, the largest 4-connected component of the mask (codec noise leaves stray pixels);
 * - direction: least-squares slope of the mask centroid over time; the larger axis and its sign (left/right/up/down),
 *   "none" when the centroid moves less than 1 pixel over the clip;
 * - shape: per frame, the mask fraction in k×k patches (k = a fifth of the box) at the corners of the bounding box
 *   (trimmed to rows/columns holding ≥ 15% of the fullest one): all
 *   four filled (≥ 0.5) → square, only the bottom two → triangle (apex up), else circle; majority over frames.
 * `scoreVideos` compares what was read with each prompt's attributes and reports accuracy per attribute.
 */
import type { Frames } from '../../io/video.js';
import { COLOR_NAMES, COLORS, parsePrompt, type Color, type Direction, type Shape } from './scene.js';

export interface SceneReading {
  color: Color | 'none';
  direction: Direction | 'none';
  shape: Shape | 'none';
  /** centroid (x, y) per frame, null where no object pixel was found */
  track: Array<[number, number] | null>;
  /** fraction of pixels in the mask, averaged over frames */
  coverage: number;
}

function hsv(r: number, g: number, b: number): [number, number, number] {
  const mx = Math.max(r, g, b), mn = Math.min(r, g, b), d = mx - mn;
  let h = 0;
  if (d > 0) h = mx === r ? ((g - b) / d + 6) % 6 : mx === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return [h * 60, mx > 0 ? d / mx : 0, mx / 255];
}

const HUES = COLOR_NAMES.map((c) => hsv(...(COLORS[c] as unknown as [number, number, number]))[0]);

function nearestColor(h: number): number {
  let best = 0, bd = Infinity;
  HUES.forEach((hc, i) => {
    const d = Math.min(Math.abs(h - hc), 360 - Math.abs(h - hc));
    if (d < bd) (bd = d, (best = i));
  });
  return best;
}

function majority<T extends string>(votes: T[], none: T): T {
  const n = new Map<T, number>();
  for (const v of votes) n.set(v, (n.get(v) ?? 0) + 1);
  let best = none, bn = 0;
  for (const [k, c] of n) if (c > bn) (bn = c, (best = k));
  return best;
}

/** Reads colour, motion direction and shape of the (single) saturated object in `f`. */
export function readScene(f: Frames): SceneReading {
  const { width: W, height: H, frames: T, data } = f;
  const colorVotes = new Float64Array(COLOR_NAMES.length);
  const track: Array<[number, number] | null> = [];
  const shapes: Shape[] = [];
  let coverage = 0;
  const mask = new Uint8Array(H * W);
  const comp = new Int32Array(H * W);
  const stack: number[] = [];
  for (let t = 0; t < T; t++) {
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const o = ((t * H + y) * W + x) * 3;
        const [h, s, v] = hsv(data[o], data[o + 1], data[o + 2]);
        const m = s >= 0.45 && v >= 0.2 ? 1 : 0;
        mask[y * W + x] = m;
        if (m) colorVotes[nearestColor(h)]++;
      }
    // keep the largest 4-connected component (codec noise leaves stray saturated pixels)
    comp.fill(0);
    let best = 0, bestN = 0, label = 0;
    for (let p = 0; p < H * W; p++) {
      if (!mask[p] || comp[p]) continue;
      let n = 0;
      comp[p] = ++label;
      stack.push(p);
      while (stack.length > 0) {
        const q = stack.pop()!;
        n++;
        const qy = Math.floor(q / W), qx = q % W;
        for (const [ny, nx] of [[qy - 1, qx], [qy + 1, qx], [qy, qx - 1], [qy, qx + 1]])
          if (ny >= 0 && ny < H && nx >= 0 && nx < W && mask[ny * W + nx] && !comp[ny * W + nx]) (comp[ny * W + nx] = label), stack.push(ny * W + nx);
      }
      if (n > bestN) (bestN = n, (best = label));
    }
    let n = 0, sx = 0, sy = 0, x0 = W, x1 = -1, y0 = H, y1 = -1;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const m = best > 0 && comp[y * W + x] === best ? 1 : 0;
        mask[y * W + x] = m;
        if (!m) continue;
        n++, (sx += x + 0.5), (sy += y + 0.5);
        x0 = Math.min(x0, x), (x1 = Math.max(x1, x)), (y0 = Math.min(y0, y)), (y1 = Math.max(y1, y));
      }
    coverage += n / (H * W * T);
    if (n < 3) {
      track.push(null);
      continue;
    }
    track.push([sx / n, sy / n]);
    // trim thin spurs: the box spans the rows/columns holding at least 15% of the fullest row/column
    const rows = new Float64Array(H), cols = new Float64Array(W);
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) if (mask[y * W + x]) (rows[y]++, cols[x]++);
    const mr = Math.max(...rows), mc = Math.max(...cols);
    while (rows[y0] < 0.15 * mr) y0++;
    while (rows[y1] < 0.15 * mr) y1--;
    while (cols[x0] < 0.15 * mc) x0++;
    while (cols[x1] < 0.15 * mc) x1--;
    const bh = y1 - y0 + 1, bw = x1 - x0 + 1;
    // mask fraction in a k×k patch at each corner of the bounding box
    const k = Math.max(1, Math.round(Math.min(bh, bw) / 5));
    const patch = (ya: number, xa: number): number => {
      let s = 0;
      for (let y = ya; y < ya + k; y++) for (let x = xa; x < xa + k; x++) s += mask[y * W + x];
      return s / (k * k);
    };
    const top = (patch(y0, x0) + patch(y0, x1 + 1 - k)) / 2, bottom = (patch(y1 + 1 - k, x0) + patch(y1 + 1 - k, x1 + 1 - k)) / 2;
    shapes.push(top >= 0.5 && bottom >= 0.5 ? 'square' : bottom >= 0.5 ? 'triangle' : 'circle');
  }
  const colorIdx = colorVotes.reduce((bi, v, i, a) => (v > a[bi] ? i : bi), 0);
  const color: Color | 'none' = colorVotes[colorIdx] > 0 ? COLOR_NAMES[colorIdx] : 'none';
  // least-squares slope of the centroid over the frames where it exists
  const pts = track.map((p, t) => (p ? [t, p[0], p[1]] : null)).filter((p): p is number[] => p !== null);
  let direction: Direction | 'none' = 'none';
  if (pts.length >= 2) {
    const mt = pts.reduce((s, p) => s + p[0], 0) / pts.length;
    const mx = pts.reduce((s, p) => s + p[1], 0) / pts.length;
    const my = pts.reduce((s, p) => s + p[2], 0) / pts.length;
    let stt = 0, stx = 0, sty = 0;
    for (const [t, x, y] of pts) (stt += (t - mt) ** 2), (stx += (t - mt) * (x - mx)), (sty += (t - mt) * (y - my));
    const vx = stx / stt, vy = sty / stt;
    const span = (T - 1) * Math.max(Math.abs(vx), Math.abs(vy));
    if (span >= 1) direction = Math.abs(vx) >= Math.abs(vy) ? (vx > 0 ? 'right' : 'left') : vy > 0 ? 'down' : 'up';
  }
  return { color, direction, shape: majority<Shape | 'none'>(shapes, 'none'), track, coverage };
}

export interface CheckRow {
  prompt: string;
  expected: { color?: string; direction?: string; shape?: string };
  read: { color: string; direction: string; shape: string };
  ok: { color: boolean; direction: boolean; shape: boolean };
}

export interface CheckSummary {
  n: number;
  /** fraction right per attribute, and all three at once */
  accuracy: { color: number; direction: number; shape: number; all: number };
  rows: CheckRow[];
}

/** Checks one video against its prompt. */
export function checkVideo(f: Frames, prompt: string): CheckRow {
  const e = parsePrompt(prompt);
  const r = readScene(f);
  return {
    prompt, expected: { color: e.color, direction: e.direction, shape: e.shape },
    read: { color: r.color, direction: r.direction, shape: r.shape },
    ok: { color: r.color === e.color, direction: r.direction === e.direction, shape: r.shape === e.shape },
  };
}

export function summarize(rows: CheckRow[]): CheckSummary {
  const frac = (k: 'color' | 'direction' | 'shape'): number => rows.filter((r) => r.ok[k]).length / Math.max(1, rows.length);
  return { n: rows.length, accuracy: { color: frac('color'), direction: frac('direction'), shape: frac('shape'),
    all: rows.filter((r) => r.ok.color && r.ok.direction && r.ok.shape).length / Math.max(1, rows.length) }, rows };
}
