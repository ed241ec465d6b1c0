/**
 * Backend selection. `native` (the N-API addon, overriding the hot kernels) is the default when the addon built;
 * `KILN_BACKEND=ts` or `setBackend('ts')` forces the TypeScript reference.
 */
import { KilnError } from '../errors.js';
import type { Backend } from './backend.js';
import { createNativeBackend } from './native.js';
import { tsBackend } from './ts/index.js';

export type BackendName = 'ts' | 'native';

let nativeBackend: Backend | null | undefined;
let current: Backend | undefined;

function native(): Backend | null {
  if (nativeBackend === undefined) nativeBackend = createNativeBackend(tsBackend);
  return nativeBackend;
}

/** The active backend. */
export function backend(): Backend {
  if (!current) current = process.env.KILN_BACKEND === 'ts' ? tsBackend : (native() ?? tsBackend);
  return current;
}

export function setBackend(name: BackendName): void {
  if (name === 'ts') current = tsBackend;
  else {
    const n = native();
    if (!n) throw new KilnError('E_NATIVE', "setBackend('native'): the native addon is not available (it did not build at install time, or KILN_BACKEND=ts); run `npm rebuild kiln` and read its warning");
    current = n;
  }
}

export function getBackendName(): BackendName {
  return backend() === tsBackend ? 'ts' : 'native';
}

export function nativeAvailable(): boolean {
  return native() !== null;
}

export { tsBackend };
export type { Backend };
