/** Reference reductions over the middle axis of a contiguous [outer, r, inner] array. */
import type { Backend, ReduceOp } from '../backend.js';

export const reduceKernels: Pick<Backend, 'reduce' | 'argReduce'> = {
  reduce(op: ReduceOp, x: Float32Array, outer: number, r: number, inner: number, out: Float32Array): void {
    for (let o = 0; o < outer; o++) {
      const base = o * r * inner;
      const ob = o * inner;
      if (op === 'sum') {
        // f64 accumulation: the reference should be the accurate one.
        for (let i = 0; i < inner; i++) {
          let acc = 0;
          for (let j = 0; j < r; j++) acc += x[base + j * inner + i];
          out[ob + i] = acc;
        }
      } else {
        const better = op === 'max' ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
        for (let i = 0; i < inner; i++) {
          let best = r > 0 ? x[base + i] : op === 'max' ? -Infinity : Infinity;
          for (let j = 1; j < r; j++) {
            const v = x[base + j * inner + i];
            if (better(v, best) || Number.isNaN(v)) best = v;
            if (Number.isNaN(best)) break;
          }
          out[ob + i] = best;
        }
      }
    }
  },

  argReduce(op: 'max' | 'min', x: Float32Array, outer: number, r: number, inner: number, out: Int32Array): void {
    for (let o = 0; o < outer; o++) {
      const base = o * r * inner;
      for (let i = 0; i < inner; i++) {
        let best = x[base + i];
        let bi = 0;
        for (let j = 1; j < r && !Number.isNaN(best); j++) {
          const v = x[base + j * inner + i];
          if ((op === 'max' ? v > best : v < best) || Number.isNaN(v)) {
            best = v;
            bi = j;
          }
        }
        out[o * inner + i] = bi;
      }
    }
  },
};
