/**
 * The Aquarius demo world: one coloured, textured shape moving in a straight line in a named direction over a flat
 * neutral background. A `Scene` is the ground truth of one clip; `captionOf` writes its caption, `parsePrompt` reads
 * the attributes back from a prompt, `renderScene` draws it as RGB frames [T, H, W, 3].
 * Design choices that make the automatic check (check.ts) exact on ground truth: backgrounds are neutral grey
 * (saturation 0) and every object pixel, texture included, is a saturated colour, so the object is exactly the
 * saturated pixels; textures darken the colour (same hue) instead of mixing hues.
 */
import { KilnError } from '../../errors.js';
import type { Frames } from '../../io/video.js';

export const COLORS = { red: [220, 40, 40], green: [40, 200, 60], blue: [50, 80, 230], yellow: [230, 210, 40] } as const;
export const SHAPES = ['square', 'circle', 'triangle'] as const;
export const TEXTURES = ['plain', 'striped', 'checkered'] as const;
export const DIRECTIONS = { left: [-1, 0], right: [1, 0], up: [0, -1], down: [0, 1] } as const;
export const BACKGROUNDS = { dark: 25, grey: 110, light: 200 } as const;

export type Color = keyof typeof COLORS;
export type Shape = (typeof SHAPES)[number];
export type Texture = (typeof TEXTURES)[number];
export type Direction = keyof typeof DIRECTIONS;
export type Background = keyof typeof BACKGROUNDS;
export const COLOR_NAMES = Object.keys(COLORS) as Color[];
export const DIRECTION_NAMES = Object.keys(DIRECTIONS) as Direction[];
export const BACKGROUND_NAMES = Object.keys(BACKGROUNDS) as Background[];

export interface Scene {
  color: Color;
  shape: Shape;
  texture: Texture;
  direction: Direction;
  background: Background;
  width: number;
  height: number;
  frames: number;
  /** offset of the path's centre from the frame centre, pixels, perpendicular and along the motion */
  jitter: [number, number];
}

/** "a red striped square moving left on a dark background" ("plain" is not said). */
export function captionOf(s: Pick<Scene, 'color' | 'shape' | 'texture' | 'direction' | 'background'>): string {
  return `a ${s.color}${s.texture === 'plain' ? '' : ` ${s.texture}`} ${s.shape} moving ${s.direction} on a ${s.background} background`;
}

/** The attributes a prompt names (each vocabulary's first word found in it; undefined when absent). */
export function parsePrompt(prompt: string): { color?: Color; shape?: Shape; texture?: Texture; direction?: Direction; background?: Background } {
  const words = prompt.toLowerCase().split(/[^a-z]+/);
  const find = <T extends string>(names: readonly T[]): T | undefined => names.find((n) => words.includes(n));
  return { color: find(COLOR_NAMES), shape: find(SHAPES), texture: find(TEXTURES) ?? (find(COLOR_NAMES) ? 'plain' : undefined),
    direction: find(DIRECTION_NAMES), background: find(BACKGROUND_NAMES) };
}

/** Object half-size in pixels for a frame size. */
export function objectRadius(width: number, height: number): number {
  return Math.max(3, Math.round(0.22 * Math.min(width, height)));
}

/** Centre of the object at frame t: the path (length 45% of the frame along the motion) is centred, plus jitter. */
export function objectCentre(s: Scene, t: number): [number, number] {
  const [dx, dy] = DIRECTIONS[s.direction];
  const along = dx !== 0 ? s.width : s.height;
  const travel = 0.45 * along;
  const f = s.frames > 1 ? t / (s.frames - 1) - 0.5 : 0;
  const cx = s.width / 2 + dx * (travel * f + s.jitter[1]) + (dx === 0 ? s.jitter[0] : 0);
  const cy = s.height / 2 + dy * (travel * f + s.jitter[1]) + (dy === 0 ? s.jitter[0] : 0);
  return [cx, cy];
}

function inside(shape: Shape, u: number, v: number, r: number): boolean {
  // u, v: pixel centre relative to the object centre
  if (shape === 'square') return Math.abs(u) <= r && Math.abs(v) <= r;
  if (shape === 'circle') return u * u + v * v <= r * r;
  // triangle with its apex up: base 2r at v = r, apex at v = −r
  return v >= -r && v <= r && Math.abs(u) <= (v + r) / 2;
}

function textureScale(tex: Texture, u: number, v: number): number {
  if (tex === 'striped') return Math.floor((v + 64) / 2) % 2 === 0 ? 1 : 0.65;
  if (tex === 'checkered') return (Math.floor((u + 64) / 3) + Math.floor((v + 64) / 3)) % 2 === 0 ? 1 : 0.65;
  return 1;
}

/** RGB frames of a scene. */
export function renderScene(s: Scene): Frames {
  const { width: W, height: H, frames: T } = s;
  if (![W, H, T].every((n) => Number.isInteger(n) && n > 0)) throw new KilnError('E_ARG', `renderScene: bad size ${W}x${H}x${T}`);
  const data = new Uint8Array(T * H * W * 3).fill(BACKGROUNDS[s.background]);
  const r = objectRadius(W, H);
  const col = COLORS[s.color];
  for (let t = 0; t < T; t++) {
    const [cx, cy] = objectCentre(s, t);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const u = x + 0.5 - cx, v = y + 0.5 - cy;
        if (!inside(s.shape, u, v, r)) continue;
        const k = textureScale(s.texture, Math.round(u), Math.round(v));
        const o = ((t * H + y) * W + x) * 3;
        for (let c = 0; c < 3; c++) data[o + c] = Math.round(col[c] * k);
      }
  }
  return { data, frames: T, height: H, width: W, fps: 8 };
}
