/**
 * Helpers for the native-vs-reference parity tests of the elementwise, reduction, NN and indexing kernels
 * (test/native/{elementwise,nn,indexing}.test.ts): the native backend built over the reference, a seeded RNG,
 * a runner that repeats a check under every ISA the CPU has and at 1 and 2 pool threads, and closeness checks
 * that treat NaN as equal to NaN and can require the sign of zero to match.
 */
import assert from 'node:assert/strict';
import type { Backend } from '../../src/backend/backend.js';
import { tsBackend } from '../../src/backend/index.js';
import { createNativeBackend } from '../../src/backend/native.js';
import { loadNativeAddon, nativeAddonStatus, type NativeAddon, type NativeIsa } from '../../src/backend/native-addon.js';
import { nativeCutoff } from '../../src/backend/native/elementwise.js';
export { rng } from './gemm-reference.js';

// Exercise the native kernels on every size (the bindings otherwise hand tiny inputs to the reference).
nativeCutoff.elements = 0;

export const addon: NativeAddon | null = loadNativeAddon();
export const native: Backend | null = createNativeBackend(tsBackend);
export const ref: Backend = tsBackend;
/** `skip` option for node:test: skipped without the addon unless KILN_REQUIRE_NATIVE=1 (then the tests fail). */
export const skip: string | false =
  addon === null && process.env.KILN_REQUIRE_NATIVE !== '1' ? `native addon unavailable: ${nativeAddonStatus()}` : false;

export function nb(): Backend {
  if (native === null) throw new Error(`KILN_REQUIRE_NATIVE=1 but the native addon is unavailable: ${nativeAddonStatus()}`);
  return native;
}

/** The addon and the native backend together (throws when unavailable, which only happens under KILN_REQUIRE_NATIVE=1). */
export function nativeSetup(): { addon: NativeAddon; be: Backend } {
  if (addon === null) throw new Error(`KILN_REQUIRE_NATIVE=1 but the native addon is unavailable: ${nativeAddonStatus()}`);
  return { addon, be: nb() };
}

/** n values uniform in [-scale, scale). */
export function randn(r: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/** Runs fn under each ISA this CPU supports and at 1 and 2 threads, restoring both afterwards. */
export function eachConfig(fn: (label: string) => void): void {
  const a = addon;
  if (a === null) throw new Error(`native addon unavailable: ${nativeAddonStatus()}`);
  const isas: NativeIsa[] = a.bestIsa() === 'avx512' ? ['avx512', 'avx2', 'scalar'] : a.bestIsa() === 'avx2' ? ['avx2', 'scalar'] : ['scalar'];
  const isa0 = a.isa();
  const threads0 = a.numThreads();
  try {
    for (const isa of isas)
      for (const threads of [1, 2]) {
        a.setIsa(isa);
        a.setNumThreads(threads);
        fn(`${isa}/${threads}t`);
      }
  } finally {
    a.setIsa(isa0);
    a.setNumThreads(threads0);
  }
}

/**
 * |actual − expected| ≤ atol + rtol·(|expected| + scale[i]) elementwise (scale optional: the magnitude of the terms
 * that produced element i, for results with cancellation); NaN must match NaN, infinities must match exactly.
 * With `signedZero`, a zero must also match the sign of the expected zero.
 */
export function assertClose(
  actual: ArrayLike<number>, expected: ArrayLike<number>, label: string,
  o: { rtol?: number; atol?: number; scale?: ArrayLike<number>; signedZero?: boolean } = {},
): void {
  const rtol = o.rtol ?? 0;
  const atol = o.atol ?? 0;
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      assert.ok(Number.isNaN(a) && Number.isNaN(e), `${label}[${i}]: got ${a}, expected ${e}`);
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      assert.equal(a, e, `${label}[${i}]: got ${a}, expected ${e}`);
      continue;
    }
    if (o.signedZero && e === 0 && a === 0) {
      assert.ok(Object.is(a, e), `${label}[${i}]: got ${Object.is(a, -0) ? '-0' : '+0'}, expected ${Object.is(e, -0) ? '-0' : '+0'}`);
      continue;
    }
    const tol = atol + rtol * (Math.abs(e) + (o.scale ? o.scale[i] : 0));
    if (!(Math.abs(a - e) <= tol)) assert.fail(`${label}[${i}]: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > tol ${tol})`);
  }
}

/** Exact equality (NaN equals NaN, the sign of zero must match). */
export function assertSame(actual: ArrayLike<number | bigint>, expected: ArrayLike<number | bigint>, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++)
    if (!Object.is(actual[i], expected[i])) assert.fail(`${label}[${i}]: got ${String(actual[i])}, expected ${String(expected[i])}`);
}

/** Special values every elementwise test mixes in. */
export const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 1e-30, -1e-30, 1e-40, 88, -88, 100, -100, 1, -1, 0.5];
