/**
 * Reference DeepSeek-V3 training kernels (contracts in src/backend/backend.ts): the fused LM-head cross-entropy that
 * writes its gradient over the logits (`crossEntropyInPlace`), the MoE combine — each token's K expert rows
 * weighted by their gates and summed (`moeCombine`, `moeCombineBackward`) — and the SwiGLU activation with its
 * one-pass backward (`swiglu`, `swigluBackward`). Plain loops with f64 accumulation; the
 * native twins (native/kernels-deepseek-train.cc) are checked against these.
 */
import { KilnError } from '../../errors.js';
import type { Backend } from '../backend.js';

function checkPos(pos: Int32Array, n: number, R: number, who: string): void {
  const seen = new Uint8Array(R);
  for (let i = 0; i < n; i++) {
    const p = pos[i];
    if (!(p >= 0 && p < R)) throw new KilnError('E_ARG', `${who}: pos[${i}] = ${p} is outside the ${R} rows of src`);
    if (seen[p]) throw new KilnError('E_ARG', `${who}: pos[${i}] = ${p} repeats an earlier entry (pos must be distinct rows)`);
    seen[p] = 1;
  }
}

export const deepseekTrainKernels: Pick<Backend, 'crossEntropyInPlace' | 'moeCombine' | 'moeCombineBackward' | 'swiglu' | 'swigluBackward'> = {
  crossEntropyInPlace(x, rows, cols, targets, ignoreIndex, loss) {
    for (let r = 0; r < rows; r++) {
      const t = targets[r];
      if (t !== ignoreIndex && !(t >= 0 && t < cols))
        throw new KilnError('E_ARG', `crossEntropyInPlace: targets[${r}] = ${t} is outside [0, ${cols}) and is not the ignore index`);
    }
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const t = targets[r];
      if (t === ignoreIndex) {
        loss[r] = 0;
        x.fill(0, o, o + cols);
        continue;
      }
      let m = -Infinity;
      for (let c = 0; c < cols; c++) if (x[o + c] > m) m = x[o + c];
      let s = 0;
      for (let c = 0; c < cols; c++) s += Math.exp(x[o + c] - m);
      loss[r] = m + Math.log(s) - x[o + t];
      for (let c = 0; c < cols; c++) x[o + c] = Math.exp(x[o + c] - m) / s;
      x[o + t] -= 1;
    }
  },

  moeCombine(src, R, d, pos, gates, N, K, out) {
    checkPos(pos, N * K, R, 'moeCombine');
    for (let n = 0; n < N; n++)
      for (let i = 0; i < d; i++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += (gates ? gates[n * K + k] : 1) * src[pos[n * K + k] * d + i];
        out[n * d + i] = acc;
      }
  },

  moeCombineBackward(dy, src, R, d, pos, gates, N, K, dsrc, dgates) {
    checkPos(pos, N * K, R, 'moeCombineBackward');
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k++) {
        const row = pos[n * K + k];
        const g = gates ? gates[n * K + k] : 1;
        let dot = 0;
        for (let i = 0; i < d; i++) {
          dsrc[row * d + i] = g * dy[n * d + i];
          dot += dy[n * d + i] * src[row * d + i];
        }
        if (dgates) dgates[n * K + k] = dot;
      }
  },

  swiglu(G, U, n, A) {
    for (let i = 0; i < n; i++) {
      const g = G[i];
      A[i] = (g / (1 + Math.exp(-g))) * U[i];
    }
  },

  swigluBackward(G, U, dA, n, dG, dU) {
    for (let i = 0; i < n; i++) {
      const g = G[i];
      const u = U[i];
      const da = dA[i];
      const sg = 1 / (1 + Math.exp(-g));
      const s = g * sg;
      dU[i] = da * s;
      dG[i] = da * u * (sg + s * (1 - sg));
    }
  },
};
