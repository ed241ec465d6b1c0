/**
 * Image/video quality metrics over plain arrays (no autograd): PSNR and SSIM (Wang et al. 2004, "Image quality
 * assessment: from error visibility to structural similarity"), the SSIM computed as scikit-image's
 * `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`: an 11×11 Gaussian window
 * (σ = 1.5; smaller, odd, when a frame is smaller), K1 = 0.01, K2 = 0.03, L = the data range, averaged over the
 * valid (uncropped-by-padding) window positions, every channel and every frame.
 * Videos are [N, C, T, H, W] tensors (or [N, C, H, W] images); the default data range 2 fits [−1, 1] pixels.
 */
import { KilnError } from '../../errors.js';
import type { Tensor } from '../../tensor/tensor.js';

function pair(a: Tensor, b: Tensor, op: string): [Float32Array, Float32Array] {
  if (a.ndim !== b.ndim || a.shape.some((d, i) => d !== b.shape[i]))
    throw new KilnError('E_SHAPE', `${op}: shapes differ: [${a.shape}] vs [${b.shape}]`);
  return [a.contiguous().data() as Float32Array, b.contiguous().data() as Float32Array];
}

/** 10·log10(range² / MSE) in dB (Infinity for identical inputs). */
export function psnr(a: Tensor, b: Tensor, dataRange = 2): number {
  const [x, y] = pair(a, b, 'psnr');
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) ** 2;
  const mse = s / x.length;
  return mse === 0 ? Infinity : 10 * Math.log10((dataRange * dataRange) / mse);
}

function gaussianWindow(size: number, sigma: number): Float64Array {
  const w = new Float64Array(size);
  const c = (size - 1) / 2;
  let s = 0;
  for (let i = 0; i < size; i++) s += w[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
  for (let i = 0; i < size; i++) w[i] /= s;
  return w;
}

/** Mean SSIM of one H×W plane pair. */
export function ssimPlane(x: ArrayLike<number>, y: ArrayLike<number>, H: number, W: number, dataRange = 2): number {
  let size = Math.min(11, H, W);
  if (size % 2 === 0) size -= 1;
  const g = gaussianWindow(size, 1.5);
  const C1 = (0.01 * dataRange) ** 2;
  const C2 = (0.03 * dataRange) ** 2;
  let total = 0;
  let count = 0;
  for (let i = 0; i + size <= H; i++) {
    for (let j = 0; j + size <= W; j++) {
      let mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
      for (let u = 0; u < size; u++) {
        for (let v = 0; v < size; v++) {
          const w = g[u] * g[v];
          const p = x[(i + u) * W + j + v];
          const q = y[(i + u) * W + j + v];
          mx += w * p;
          my += w * q;
          xx += w * p * p;
          yy += w * q * q;
          xy += w * p * q;
        }
      }
      const vx = xx - mx * mx;
      const vy = yy - my * my;
      const cxy = xy - mx * my;
      total += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
      count++;
    }
  }
  return total / count;
}

/** Mean SSIM over every (sample, channel, frame) plane of [N, C, T, H, W] or [N, C, H, W]. */
export function ssim(a: Tensor, b: Tensor, dataRange = 2): number {
  const [x, y] = pair(a, b, 'ssim');
  if (a.ndim < 2) throw new KilnError('E_SHAPE', `ssim: inputs must end in [H, W], got [${a.shape}]`);
  const H = a.shape[a.ndim - 2];
  const W = a.shape[a.ndim - 1];
  const planes = x.length / (H * W);
  let s = 0;
  for (let p = 0; p < planes; p++) s += ssimPlane(x.subarray(p * H * W, (p + 1) * H * W), y.subarray(p * H * W, (p + 1) * H * W), H, W, dataRange);
  return s / planes;
}
