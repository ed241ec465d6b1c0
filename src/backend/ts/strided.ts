/**
 * Strided iteration shared by the reference kernels: walks every index of `shape` row by row, calling
 * `row(len, offsets)` with the offset of each operand at the start of the innermost row. Operands advance by their
 * own strides; the innermost stride is passed so a kernel's inner loop is a plain counted loop.
 */
export function forEachRow(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
  row: (len: number, offs: number[], inner: readonly number[]) => void,
): void {
  const nd = shape.length;
  const nOps = strides.length;
  const offs = offsets.slice();
  if (nd === 0) {
    row(1, offs, strides.map(() => 0));
    return;
  }
  const len = shape[nd - 1];
  const inner = strides.map((s) => s[nd - 1]);
  for (const d of shape) if (d === 0) return;
  const idx = new Array<number>(nd).fill(0);
  for (;;) {
    row(len, offs, inner);
    let d = nd - 2;
    for (; d >= 0; d--) {
      idx[d]++;
      for (let o = 0; o < nOps; o++) offs[o] += strides[o][d];
      if (idx[d] < shape[d]) break;
      for (let o = 0; o < nOps; o++) offs[o] -= strides[o][d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

export function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}
