/** Small tensor comparisons shared by tests. */
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/index.js';

/** max |a − b| over all elements; the shapes must be equal. */
export function maxDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.contiguous().data() as Float32Array;
  const y = b.contiguous().data() as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}
