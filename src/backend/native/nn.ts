/**
 * Native fused NN bindings (native/kernels-nn.cc): softmax / log-softmax and backward, cross-entropy (ignore index,
 * label smoothing, optional dlogits), RMSNorm and LayerNorm with backward (dw / db accumulate), on contiguous
 * [rows, cols], with the reference's semantics (src/backend/ts/nn.ts). Numerical notes: native/kernels.h. Tiny
 * inputs (rows·cols below nativeCutoff.elements) use the reference.
 */
import type { Backend } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';
import { nnKernels as reference } from '../ts/nn.js';
import { nativeCutoff } from './elementwise.js';

const tiny = (rows: number, cols: number): boolean => rows * cols < nativeCutoff.elements;

export function nnKernels(
  addon: NativeAddon,
): Pick<Backend, 'softmax' | 'softmaxBackward' | 'crossEntropy' | 'rmsNorm' | 'rmsNormBackward' | 'layerNorm' | 'layerNormBackward'> {
  return {
    softmax: (x, rows, cols, out, log) =>
      tiny(rows, cols) ? reference.softmax(x, rows, cols, out, log) : addon.softmax(x, rows, cols, out, log),
    softmaxBackward: (y, dy, rows, cols, dx, log) =>
      tiny(rows, cols) ? reference.softmaxBackward(y, dy, rows, cols, dx, log) : addon.softmaxBackward(y, dy, rows, cols, dx, log),
    crossEntropy: (logits, rows, cols, targets, ignoreIndex, smoothing, loss, dlogits) =>
      tiny(rows, cols)
        ? reference.crossEntropy(logits, rows, cols, targets, ignoreIndex, smoothing, loss, dlogits)
        : addon.crossEntropy(logits, rows, cols, targets, ignoreIndex, smoothing, loss, dlogits),
    rmsNorm: (x, w, rows, cols, eps, y, rstd) =>
      tiny(rows, cols) ? reference.rmsNorm(x, w, rows, cols, eps, y, rstd) : addon.rmsNorm(x, w, rows, cols, eps, y, rstd),
    rmsNormBackward: (x, w, rstd, dy, rows, cols, dx, dw) =>
      tiny(rows, cols)
        ? reference.rmsNormBackward(x, w, rstd, dy, rows, cols, dx, dw)
        : addon.rmsNormBackward(x, w, rstd, dy, rows, cols, dx, dw),
    layerNorm: (x, w, b, rows, cols, eps, y, mean, rstd) =>
      tiny(rows, cols)
        ? reference.layerNorm(x, w, b, rows, cols, eps, y, mean, rstd)
        : addon.layerNorm(x, w, b, rows, cols, eps, y, mean, rstd),
    layerNormBackward: (x, w, mean, rstd, dy, rows, cols, dx, dw, db) =>
      tiny(rows, cols)
        ? reference.layerNormBackward(x, w, mean, rstd, dy, rows, cols, dx, dw, db)
        : addon.layerNormBackward(x, w, mean, rstd, dy, rows, cols, dx, dw, db),
  };
}
