/** Reference indexing kernels: indexSelect/indexAdd, gather/scatterAdd along the middle axis, top-k. */
import type { Backend } from '../backend.js';

export const indexKernels: Pick<Backend, 'indexSelect' | 'indexAdd' | 'gather' | 'scatterAdd' | 'topk'> = {
  indexSelect(x, outer, n, inner, idx, out) {
    const m = idx.length;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < m; j++) {
        const src = (o * n + idx[j]) * inner;
        out.set(x.subarray(src, src + inner), (o * m + j) * inner);
      }
    }
  },

  indexAdd(acc, outer, n, inner, idx, src) {
    const m = idx.length;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < m; j++) {
        const d = (o * n + idx[j]) * inner;
        const s = (o * m + j) * inner;
        for (let i = 0; i < inner; i++) acc[d + i] += src[s + i];
      }
    }
  },

  gather(x, outer, n, inner, idx, m, out) {
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < m; j++)
        for (let i = 0; i < inner; i++) {
          const p = (o * m + j) * inner + i;
          out[p] = x[(o * n + idx[p]) * inner + i];
        }
  },

  scatterAdd(acc, outer, n, inner, idx, m, src) {
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < m; j++)
        for (let i = 0; i < inner; i++) {
          const p = (o * m + j) * inner + i;
          acc[(o * n + idx[p]) * inner + i] += src[p];
        }
  },

  topk(x, rows, cols, k, largest, values, indices) {
    const order = new Int32Array(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) order[c] = c;
      // Stable sort by value (NaN counts as the largest, as in torch); ties keep the lower index first.
      const key = (c: number) => (Number.isNaN(x[o + c]) ? Infinity : x[o + c]);
      const sorted = Array.from(order).sort((a, b) => {
        const d = largest ? key(b) - key(a) : key(a) - key(b);
        return d !== 0 && !Number.isNaN(d) ? d : a - b;
      });
      for (let j = 0; j < k; j++) {
        indices[r * k + j] = sorted[j];
        values[r * k + j] = x[o + sorted[j]];
      }
    }
  },
};
