/**
 * Sets the number of threads Kiln's kernels run on for a measurement and reports what it actually got: the native
 * addon's pool size when the native backend is active; 1 for the TypeScript reference backend, which is
 * single-threaded (the note says so, so a "2 threads" row is never mistaken for a parallel run).
 */
import { getBackendName } from '../backend/index.js';
import { nativeStatus } from './native-probe.js';

export interface KilnThreads {
  requested: number;
  used: number;
  note: string | null;
}

export async function setKilnThreads(threads: number): Promise<KilnThreads> {
  const { addon } = await nativeStatus();
  if (getBackendName() === 'native' && addon) {
    addon.setNumThreads(threads);
    return { requested: threads, used: addon.numThreads(), note: null };
  }
  return { requested: threads, used: 1, note: threads > 1 ? 'ts reference backend is single-threaded' : null };
}
