/**
 * Reference convolution kernels: im2col and its adjoint col2im for one sample of an N-d convolution with spatial
 * rank 1..3. Plain counted loops over contiguous arrays with every size explicit, so a native version is a
 * line-for-line port.
 *
 * Letters: C = channels, (D, H, W) = input spatial size, (kD, kH, kW) = kernel, (oD, oH, oW) = output size,
 * K = kD·kH·kW, L = oD·oH·oW. A rank-r geometry is read as the last r of (D, H, W) with the leading ones set to 1
 * (kernel 1, stride 1, padding 0, dilation 1).
 *
 *   x   // [C, D, H, W]
 *   col // [C·K, L], row (c, kd, kh, kw), column (od, oh, ow) — the layout of a weight [Cout, C, kD, kH, kW]
 *
 * col[(c, kd, kh, kw), (od, oh, ow)] = x[c, od·sD − pD + kd·dD, oh·sH − pH + kh·dH, ow·sW − pW + kw·dW], zero where
 * that position falls in the padding. col2im adds every column entry back into the position it was read from.
 *
 * Chunking: only the output positions whose outermost spatial index lies in [outStart, outStart + outCount) are
 * produced (col has outCount·prod(outSize[1:]) columns), so a caller can bound the column buffer for large inputs.
 */
import type { Backend } from '../backend.js';

/** The last ≤3 entries of `a` left-filled with `fill` to exactly 3. */
function three(a: readonly number[], fill: number): [number, number, number] {
  const r = a.length;
  return [r >= 3 ? a[r - 3] : fill, r >= 2 ? a[r - 2] : fill, a[r - 1]];
}

/** Range [lo, hi) of output positions o whose input position o·s + off lies in [0, n). */
function validRange(n: number, s: number, off: number, on: number): [number, number] {
  const lo = off >= 0 ? 0 : Math.min(on, Math.ceil(-off / s));
  const hi = n - 1 - off < 0 ? 0 : Math.min(on, Math.floor((n - 1 - off) / s) + 1);
  return [lo, Math.max(lo, hi)];
}

/**
 * Loop bounds over the 3-padded output grid with the outermost real spatial dim restricted to
 * [outStart, outStart + outCount): lo/hi per dim.
 */
function bounds(outSize: readonly number[], outStart: number, outCount: number): [number[], number[]] {
  const lo = [0, 0, 0];
  const hi = three(outSize, 1);
  const rd = 3 - outSize.length;
  lo[rd] = outStart;
  hi[rd] = outStart + outCount;
  return [lo, hi];
}

export const convKernels: Pick<Backend, 'im2col' | 'col2im'> = {
  im2col(x, channels, inSize, kernel, stride, padding, dilation, outSize, outStart, outCount, col) {
    const [D, H, W] = three(inSize, 1);
    const [kD, kH, kW] = three(kernel, 1);
    const [sD, sH, sW] = three(stride, 1);
    const [pD, pH, pW] = three(padding, 0);
    const [dD, dH, dW] = three(dilation, 1);
    const [[d0, h0, w0], [d1, h1, w1]] = bounds(outSize, outStart, outCount);
    const [nH, nW] = [h1 - h0, w1 - w0];
    const L = (d1 - d0) * nH * nW;
    let row = 0;
    for (let c = 0; c < channels; c++) {
      for (let kd = 0; kd < kD; kd++) {
        for (let kh = 0; kh < kH; kh++) {
          for (let kw = 0; kw < kW; kw++, row++) {
            const rowBase = row * L - w0;
            const offW = kw * dW - pW;
            const [vLo, vHi] = validRange(W, sW, offW, w1);
            const [wLo, wHi] = [Math.max(vLo, w0), Math.max(Math.max(vLo, w0), vHi)];
            for (let od = d0; od < d1; od++) {
              const id = od * sD - pD + kd * dD;
              for (let oh = h0; oh < h1; oh++) {
                const ih = oh * sH - pH + kh * dH;
                const cb = rowBase + ((od - d0) * nH + (oh - h0)) * nW;
                if (id < 0 || id >= D || ih < 0 || ih >= H) {
                  for (let ow = w0; ow < w1; ow++) col[cb + ow] = 0;
                  continue;
                }
                const xb = ((c * D + id) * H + ih) * W + offW;
                for (let ow = w0; ow < wLo; ow++) col[cb + ow] = 0;
                if (sW === 1) for (let ow = wLo; ow < wHi; ow++) col[cb + ow] = x[xb + ow];
                else for (let ow = wLo; ow < wHi; ow++) col[cb + ow] = x[xb + ow * sW];
                for (let ow = wHi; ow < w1; ow++) col[cb + ow] = 0;
              }
            }
          }
        }
      }
    }
  },

  col2im(col, channels, inSize, kernel, stride, padding, dilation, outSize, outStart, outCount, x) {
    const [D, H, W] = three(inSize, 1);
    const [kD, kH, kW] = three(kernel, 1);
    const [sD, sH, sW] = three(stride, 1);
    const [pD, pH, pW] = three(padding, 0);
    const [dD, dH, dW] = three(dilation, 1);
    const [[d0, h0, w0], [d1, h1, w1]] = bounds(outSize, outStart, outCount);
    const [nH, nW] = [h1 - h0, w1 - w0];
    const L = (d1 - d0) * nH * nW;
    let row = 0;
    for (let c = 0; c < channels; c++) {
      for (let kd = 0; kd < kD; kd++) {
        for (let kh = 0; kh < kH; kh++) {
          for (let kw = 0; kw < kW; kw++, row++) {
            const rowBase = row * L - w0;
            const offW = kw * dW - pW;
            const [vLo, vHi] = validRange(W, sW, offW, w1);
            const [wLo, wHi] = [Math.max(vLo, w0), vHi];
            if (wLo >= wHi) continue;
            for (let od = d0; od < d1; od++) {
              const id = od * sD - pD + kd * dD;
              if (id < 0 || id >= D) continue;
              for (let oh = h0; oh < h1; oh++) {
                const ih = oh * sH - pH + kh * dH;
                if (ih < 0 || ih >= H) continue;
                const cb = rowBase + ((od - d0) * nH + (oh - h0)) * nW;
                const xb = ((c * D + id) * H + ih) * W + offW;
                if (sW === 1) for (let ow = wLo; ow < wHi; ow++) x[xb + ow] += col[cb + ow];
                else for (let ow = wLo; ow < wHi; ow++) x[xb + ow * sW] += col[cb + ow];
              }
            }
          }
        }
      }
    }
  },
};
