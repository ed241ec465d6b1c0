/** Reference fused NN kernels on contiguous [rows, cols] arrays: softmax, cross-entropy, RMSNorm, LayerNorm. */
import type { Backend } from '../backend.js';

export const nnKernels: Pick<
  Backend,
  'softmax' | 'softmaxBackward' | 'crossEntropy' | 'rmsNorm' | 'rmsNormBackward' | 'layerNorm' | 'layerNormBackward'
> = {
  softmax(x, rows, cols, out, log) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let m = -Infinity;
      for (let c = 0; c < cols; c++) if (x[o + c] > m) m = x[o + c];
      if (m === -Infinity) m = 0; // a fully masked row: exp(-inf) = 0 everywhere, keep it finite-safe
      let s = 0;
      for (let c = 0; c < cols; c++) s += Math.exp(x[o + c] - m);
      if (log) {
        const lse = m + Math.log(s);
        for (let c = 0; c < cols; c++) out[o + c] = x[o + c] - lse;
      } else {
        const inv = 1 / s;
        for (let c = 0; c < cols; c++) out[o + c] = Math.exp(x[o + c] - m) * inv;
      }
    }
  },

  softmaxBackward(y, dy, rows, cols, dx, log) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      if (log) {
        for (let c = 0; c < cols; c++) s += dy[o + c];
        for (let c = 0; c < cols; c++) dx[o + c] = dy[o + c] - Math.exp(y[o + c]) * s;
      } else {
        for (let c = 0; c < cols; c++) s += dy[o + c] * y[o + c];
        for (let c = 0; c < cols; c++) dx[o + c] = y[o + c] * (dy[o + c] - s);
      }
    }
  },

  crossEntropy(logits, rows, cols, targets, ignoreIndex, smoothing, loss, dlogits) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const t = targets[r];
      if (t === ignoreIndex) {
        loss[r] = 0;
        if (dlogits) dlogits.fill(0, o, o + cols);
        continue;
      }
      let m = -Infinity;
      for (let c = 0; c < cols; c++) if (logits[o + c] > m) m = logits[o + c];
      let s = 0;
      let sumLogits = 0;
      for (let c = 0; c < cols; c++) {
        s += Math.exp(logits[o + c] - m);
        sumLogits += logits[o + c];
      }
      const lse = m + Math.log(s);
      // smoothed target: (1 − ε) on t, ε/C spread uniformly
      const nll = lse - logits[o + t];
      const uniform = lse - sumLogits / cols;
      loss[r] = (1 - smoothing) * nll + smoothing * uniform;
      if (dlogits) {
        const eps = smoothing / cols;
        for (let c = 0; c < cols; c++) dlogits[o + c] = Math.exp(logits[o + c] - lse) - eps;
        dlogits[o + t] -= 1 - smoothing;
      }
    }
  },

  rmsNorm(x, w, rows, cols, eps, y, rstd) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let ss = 0;
      for (let c = 0; c < cols; c++) ss += x[o + c] * x[o + c];
      const rs = 1 / Math.sqrt(ss / cols + eps);
      rstd[r] = rs;
      for (let c = 0; c < cols; c++) y[o + c] = x[o + c] * rs * (w ? w[c] : 1);
    }
  },

  rmsNormBackward(x, w, rstd, dy, rows, cols, dx, dw) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const rs = rstd[r];
      // xhat = x·rs; g = dy·w; dx = rs·(g − xhat·mean(g·xhat))
      let dot = 0;
      for (let c = 0; c < cols; c++) dot += dy[o + c] * (w ? w[c] : 1) * x[o + c] * rs;
      dot /= cols;
      for (let c = 0; c < cols; c++) {
        const xhat = x[o + c] * rs;
        dx[o + c] = rs * (dy[o + c] * (w ? w[c] : 1) - xhat * dot);
        if (dw) dw[c] += dy[o + c] * xhat;
      }
    }
  },

  layerNorm(x, w, b, rows, cols, eps, y, mean, rstd) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += x[o + c];
      const mu = s / cols;
      let v = 0;
      for (let c = 0; c < cols; c++) v += (x[o + c] - mu) ** 2;
      const rs = 1 / Math.sqrt(v / cols + eps);
      mean[r] = mu;
      rstd[r] = rs;
      for (let c = 0; c < cols; c++) y[o + c] = (x[o + c] - mu) * rs * (w ? w[c] : 1) + (b ? b[c] : 0);
    }
  },

  layerNormBackward(x, w, mean, rstd, dy, rows, cols, dx, dw, db) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const mu = mean[r];
      const rs = rstd[r];
      let sg = 0;
      let sgx = 0;
      for (let c = 0; c < cols; c++) {
        const g = dy[o + c] * (w ? w[c] : 1);
        const xhat = (x[o + c] - mu) * rs;
        sg += g;
        sgx += g * xhat;
        if (dw) dw[c] += dy[o + c] * xhat;
        if (db) db[c] += dy[o + c];
      }
      sg /= cols;
      sgx /= cols;
      for (let c = 0; c < cols; c++) {
        const xhat = (x[o + c] - mu) * rs;
        dx[o + c] = rs * (dy[o + c] * (w ? w[c] : 1) - sg - xhat * sgx);
      }
    }
  },
};
