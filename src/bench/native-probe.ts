/**
 * The benchmark's view of the native addon (src/backend/native-addon.ts): the addon when it is built and loads,
 * else the loader's reason, so the suite runs without it and says why peak-based numbers are missing.
 * Used for the fp32 FMA peak probe, the thread count and the ISA the kernels dispatch on.
 */
import { loadNativeAddon, nativeAddonStatus, type NativeAddon } from '../backend/native-addon.js';

export interface NativeStatus {
  addon: NativeAddon | null;
  /** Why the addon is absent (null when present). */
  reason: string | null;
}

/** The addon or the reason it is absent; never throws. */
export async function nativeStatus(): Promise<NativeStatus> {
  try {
    const addon = loadNativeAddon();
    return { addon, reason: addon ? null : `native addon not available: ${nativeAddonStatus() ?? 'unknown reason'}` };
  } catch (e) {
    return { addon: null, reason: `native addon failed to load: ${(e as Error).message}` };
  }
}
