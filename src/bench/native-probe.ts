/**
 * The benchmark's view of the native addon: `loadNativeAddon()` from src/backend/native-addon.ts, looked up at run
 * time so the suite works (and says why numbers are missing) when the addon is not built. Only the functions the
 * benchmark needs are typed here: the fp32 FMA peak probe, the thread count and the ISA the kernels dispatch on.
 */

export interface NativeBenchAddon {
  /** Measured fp32 FMA peak in GFLOP/s on `threads` threads, probing for about `seconds`. */
  peakGflops(threads: number, seconds: number): number;
  setNumThreads(n: number): void;
  numThreads(): number;
  /** The instruction set the kernels dispatch on (e.g. "avx512"). */
  isa(): string;
}

export interface NativeStatus {
  addon: NativeBenchAddon | null;
  /** Why the addon is absent (null when present). */
  reason: string | null;
}

let cached: Promise<NativeStatus> | undefined;

function isAddon(v: unknown): v is NativeBenchAddon {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return ['peakGflops', 'setNumThreads', 'numThreads', 'isa'].every((k) => typeof o[k] === 'function');
}

/** Loads the addon once; never throws. */
export function nativeStatus(): Promise<NativeStatus> {
  cached ??= (async (): Promise<NativeStatus> => {
    const spec = '../backend/native-addon.js';
    let mod: Record<string, unknown>;
    try {
      mod = (await import(spec)) as Record<string, unknown>;
    } catch {
      return { addon: null, reason: 'native addon not in this build (src/backend/native-addon.ts absent)' };
    }
    if (typeof mod.loadNativeAddon !== 'function') return { addon: null, reason: 'native-addon.js exports no loadNativeAddon()' };
    try {
      const addon: unknown = (mod.loadNativeAddon as () => unknown)();
      if (!addon) return { addon: null, reason: 'native addon not built (loadNativeAddon() returned nothing; run `npm rebuild kiln`)' };
      if (!isAddon(addon)) return { addon: null, reason: 'native addon lacks peakGflops/setNumThreads/numThreads/isa' };
      return { addon, reason: null };
    } catch (e) {
      return { addon: null, reason: `native addon failed to load: ${(e as Error).message}` };
    }
  })();
  return cached;
}
