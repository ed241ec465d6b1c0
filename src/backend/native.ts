/**
 * The native backend: the TypeScript reference with its hot kernels replaced by the N-API addon's. Each kernel
 * family's bindings live in src/backend/native/<family>.ts and return the Backend methods they override.
 * Returns null when the addon is not available.
 */
import type { Backend } from './backend.js';
import { loadNativeAddon } from './native-addon.js';
import { gemmKernels } from './native/gemm.js';
import { attentionKernels } from './native/attention.js';
import { ropeKernels } from './native/rope.js';
import { convKernels } from './native/conv.js';
import { elementwiseKernels } from './native/elementwise.js';
import { reduceKernels } from './native/reduce.js';
import { nnKernels } from './native/nn.js';
import { indexKernels } from './native/indexing.js';
import { deepseekKernels } from './native/deepseek.js';
import { optimKernels } from './native/optim.js';
import { relAttentionKernels } from './native/relattn.js';

export function createNativeBackend(reference: Backend): Backend | null {
  const addon = loadNativeAddon();
  if (!addon) return null;
  return {
    ...reference,
    name: 'native',
    ...gemmKernels(addon),
    ...attentionKernels(addon),
    ...ropeKernels(addon),
    ...convKernels(addon),
    ...elementwiseKernels(addon),
    ...reduceKernels(addon),
    ...nnKernels(addon),
    ...indexKernels(addon),
    ...deepseekKernels(addon),
    ...optimKernels(addon),
    ...relAttentionKernels(addon),
  };
}
