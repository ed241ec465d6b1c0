/** Typed readers for operator params that fail with a clear E_CONFIG message (the param, its value, the fix). */
import { KilnError } from '../errors.js';
import type { Params } from './types.js';

function bad(key: string, want: string, got: unknown): never {
  throw new KilnError('E_CONFIG', `param "${key}" must be ${want}, got ${JSON.stringify(got)}`);
}

export function pNum(p: Params, key: string, def: number, min = -Infinity, max = Infinity): number {
  const v = p[key] ?? def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    bad(key, `a number in [${min}, ${max}]`, v);
  return v;
}

export function pOptNum(p: Params, key: string): number | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(key, 'a number', v);
  return v;
}

export function pInt(p: Params, key: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = pNum(p, key, def, min, max);
  if (!Number.isInteger(v)) bad(key, 'an integer', v);
  return v;
}

export function pBool(p: Params, key: string, def: boolean): boolean {
  const v = p[key] ?? def;
  if (typeof v !== 'boolean') bad(key, 'true or false', v);
  return v;
}

export function pStr(p: Params, key: string, def: string): string {
  const v = p[key] ?? def;
  if (typeof v !== 'string') bad(key, 'a string', v);
  return v;
}

export function pList<T extends string | number>(p: Params, key: string, def: T[], type: 'string' | 'number'): T[] {
  const v = p[key] ?? def;
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== type)) bad(key, `a non-empty list of ${type}s`, v);
  return v as T[];
}

/** Reject params the operator does not know (catches typos like "min_shot_frame"). */
export function pOnly(p: Params, keys: string[]): void {
  for (const k of Object.keys(p))
    if (!keys.includes(k)) throw new KilnError('E_CONFIG', `unknown param "${k}"; known params: ${keys.join(', ') || '(none)'}`);
}
