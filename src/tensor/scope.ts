/**
 * Memory scopes. Every tensor created while a scope is open belongs to the innermost one; when `tidy(fn)` returns,
 * every tensor created inside it is disposed except those it returns (which move to the enclosing scope) and those
 * passed to `keep()`. Parameters, gradients and optimizer state are kept; intermediates are not, so training loops
 * reuse the same pooled buffers step after step.
 */
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** Called by the Tensor constructor. */
export function track(t: Tensor): void {
  if (scopes.length > 0) scopes[scopes.length - 1].add(t);
}

/** Removes `t` from every open scope so it outlives them (until `t.dispose()`). Returns `t`. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, out: Tensor[], isTensor: (v: unknown) => v is Tensor, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if (isTensor(value)) out.push(value);
  else if (Array.isArray(value)) for (const v of value) collect(v, out, isTensor, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) collect(v, out, isTensor, depth + 1);
}

let tensorCheck: (v: unknown) => v is Tensor = (_v): _v is Tensor => false;
/** Set once by tensor.ts (avoids an import cycle at module-evaluation time). */
export function setTensorCheck(f: (v: unknown) => v is Tensor): void {
  tensorCheck = f;
}

/**
 * Runs `fn` in a new scope and disposes every tensor it created, except the tensors in its result (a tensor, or
 * arrays / plain objects of them), which are handed to the enclosing scope. Must not be given an async function.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  const kept: Tensor[] = [];
  collect(result, kept, tensorCheck);
  for (const t of kept) scope.delete(t);
  for (const t of scope) t.dispose();
  if (scopes.length > 0) for (const t of kept) scopes[scopes.length - 1].add(t);
  return result;
}

/** Number of open scopes (for tests). */
export function scopeDepth(): number {
  return scopes.length;
}
