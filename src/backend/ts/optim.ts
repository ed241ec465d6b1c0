/** Optimizer kernels of the TypeScript reference backend (native twin: native/kernels-optim.cc). */
import type { Backend } from '../backend.js';

/** Sum-of-squares block (the native kernel sums blocks of this size on its threads, then the blocks in order). */
export const SUM_SQUARES_BLOCK = 1 << 15;

export const optimKernels: Pick<Backend, 'adamwStep' | 'sumSquares'> = {
  adamwStep(w, g, m, v, b1, b2, c1, c2, lr, decay, eps) {
    for (let i = 0; i < w.length; i++) {
      const gi = g[i];
      const mi = b1 * m[i] + (1 - b1) * gi;
      const vi = b2 * v[i] + (1 - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      w[i] = w[i] * decay - (lr * mi * c1) / (Math.sqrt(vi * c2) + eps);
    }
  },
  sumSquares(x) {
    let total = 0;
    for (let b = 0; b < x.length; b += SUM_SQUARES_BLOCK) {
      let s = 0;
      for (let i = b, e = Math.min(x.length, b + SUM_SQUARES_BLOCK); i < e; i++) s += x[i] * x[i];
      total += s;
    }
    return total;
  },
};
