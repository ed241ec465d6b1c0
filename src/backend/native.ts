/**
 * The native backend: the TypeScript reference with its hot kernels replaced by the N-API addon's.
 * Returns null when the addon is not available.
 */
import type { Backend } from './backend.js';

export function createNativeBackend(reference: Backend): Backend | null {
  void reference;
  return null;
}
