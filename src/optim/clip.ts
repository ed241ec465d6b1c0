/** Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_): scales every grad by min(1, max/‖g‖₂). */
import { backend } from '../backend/index.js';
import type { Tensor } from '../tensor/tensor.js';

/** Returns the total norm before clipping. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  let sq = 0;
  for (const p of params) {
    if (!p.grad) continue;
    sq += backend().sumSquares(p.grad.data() as Float32Array);
  }
  const norm = Math.sqrt(sq);
  const scale = maxNorm / (norm + 1e-6);
  if (scale < 1)
    for (const p of params) {
      if (!p.grad) continue;
      const g = (p.grad.storage.data as Float32Array).subarray(p.grad.offset, p.grad.offset + p.grad.size);
      backend().binaryScalar('mul', { data: g, shape: [g.length], strides: [1], offset: 0 }, scale, g, false); // in place
    }
  return norm;
}
