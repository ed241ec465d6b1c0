/**
 * Pluggable captioners for the `caption` stage. A captioner turns a clip item into text; model captioners (a VLM
 * through src/infer/) register here later under their own name. The default, `metadata`, writes a caption from the
 * clip's probe and metrics so the stage is useful (and deterministic) without a model.
 */
import { basename } from 'node:path';
import { KilnError } from '../../errors.js';
import type { Item } from '../types.js';

export type Captioner = (clip: Item) => Promise<string>;
const num = (v: unknown, d = 0): number => (typeof v === 'number' ? v : d);

export const metadataCaptioner: Captioner = async (c) => {
  const dur = num(c.end_s) - num(c.start_s);
  const motion = num(c.motion);
  const mv = motion < 0.5 ? 'a static shot' : motion < 3 ? 'a shot with little motion' : motion < 10
    ? 'a shot with moderate motion' : 'a shot with strong motion';
  const b = num(c.brightness, 128);
  const light = b < 40 ? 'dark' : b > 180 ? 'bright' : 'evenly lit';
  const src = typeof c.source === 'string' ? basename(c.source) : 'an unknown source';
  return `A ${dur.toFixed(1)} second ${light} clip, ${mv}, ${c.width}x${c.height} at ${num(c.fps).toFixed(2)} fps, ` +
    `from ${src}.`;
};

const captioners = new Map<string, () => Captioner>([['metadata', () => metadataCaptioner]]);

export function registerCaptioner(name: string, factory: () => Captioner): void {
  captioners.set(name, factory);
}

export function getCaptioner(name: string): Captioner {
  const f = captioners.get(name);
  if (!f) throw new KilnError('E_CONFIG', `unknown captioner "${name}"; known: ${[...captioners.keys()].join(', ')}`);
  return f();
}
