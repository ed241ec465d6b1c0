/**
 * Native im2col / col2im (native/kernels-conv.{h,cc}): the Backend's convolution helpers on the addon, for spatial
 * rank 1..3 with the reference's layouts and chunking (src/backend/ts/conv.ts) and identical results; parallel
 * and race-free (col2im: each input row is owned by one thread). Geometry arrays are passed to the addon padded to
 * three dims (leading kernel/stride/dilation/size 1, padding 0) with the rank alongside.
 */
import { KilnError } from '../../errors.js';
import type { Backend } from '../backend.js';
import type { NativeAddon } from '../native-addon.js';

/** The last ≤3 entries of `a` left-filled with `fill` to exactly 3. */
function three(a: readonly number[], fill: number): [number, number, number] {
  const r = a.length;
  return [r >= 3 ? a[r - 3] : fill, r >= 2 ? a[r - 2] : fill, a[r - 1]];
}

type Geometry = [number, number, number, number, number, number, number, number, number, number, number, number,
  number, number, number, number, number, number];

function geometry(
  inSize: readonly number[], kernel: readonly number[], stride: readonly number[], padding: readonly number[],
  dilation: readonly number[], outSize: readonly number[], op: string,
): Geometry {
  const r = inSize.length;
  if (r < 1 || r > 3 || [kernel, stride, padding, dilation, outSize].some((a) => a.length !== r))
    throw new KilnError('E_ARG', `${op}: spatial rank must be 1..3 with one entry per dim in every size array, got inSize [${inSize}], kernel [${kernel}], stride [${stride}], padding [${padding}], dilation [${dilation}], outSize [${outSize}]`);
  return [...three(inSize, 1), ...three(kernel, 1), ...three(stride, 1), ...three(padding, 0), ...three(dilation, 1), ...three(outSize, 1)];
}

export function convKernels(addon: NativeAddon): Pick<Backend, 'im2col' | 'col2im'> {
  return {
    im2col(x, channels, inSize, kernel, stride, padding, dilation, outSize, outStart, outCount, col) {
      const g = geometry(inSize, kernel, stride, padding, dilation, outSize, 'im2col');
      addon.im2col(x, channels, inSize.length, ...g, outStart, outCount, col);
    },
    col2im(col, channels, inSize, kernel, stride, padding, dilation, outSize, outStart, outCount, x) {
      const g = geometry(inSize, kernel, stride, padding, dilation, outSize, 'col2im');
      addon.col2im(col, channels, inSize.length, ...g, outStart, outCount, x);
    },
  };
}
