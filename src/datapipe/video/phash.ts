/**
 * Perceptual hash (pHash) of a grayscale frame: area-resample to 32x32, 2-D DCT-II, keep the 8x8 lowest
 * frequencies, set bit i when coefficient i is above their median (DC excluded from the median). 64 bits as 16 hex
 * digits. Near-duplicate frames differ in few bits (`hamming`).
 */
const N = 32;
/** Largest AC coefficient of a flat frame: about 4 grey levels of noise over the 32x32 image. */
const FLAT_PEAK = 128;
const COS = (() => {
  const c = new Float64Array(8 * N);
  for (let u = 0; u < 8; u++) for (let x = 0; x < N; x++) c[u * N + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * N));
  return c;
})();

/** Area-average a w x h gray image down (or nearest up) to 32x32. */
export function resample32(gray: Uint8Array, w: number, h: number): Float64Array {
  const out = new Float64Array(N * N);
  for (let y = 0; y < N; y++) {
    const y0 = Math.floor((y * h) / N), y1 = Math.max(y0 + 1, Math.floor(((y + 1) * h) / N));
    for (let x = 0; x < N; x++) {
      const x0 = Math.floor((x * w) / N), x1 = Math.max(x0 + 1, Math.floor(((x + 1) * w) / N));
      let s = 0;
      for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) s += gray[yy * w + xx];
      out[y * N + x] = s / ((y1 - y0) * (x1 - x0));
    }
  }
  return out;
}

export function phash(gray: Uint8Array, w: number, h: number): string {
  const img = resample32(gray, w, h);
  // Separable DCT, only the 8 lowest frequencies in each direction.
  const rows = new Float64Array(N * 8);
  for (let y = 0; y < N; y++)
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < N; x++) s += img[y * N + x] * COS[u * N + x];
      rows[y * 8 + u] = s;
    }
  const coef = new Float64Array(64);
  for (let v = 0; v < 8; v++)
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let y = 0; y < N; y++) s += rows[y * 8 + u] * COS[v * N + y];
      coef[v * 8 + u] = s;
    }
  // A flat frame (black, one colour) has only noise in its AC terms: hash it as all zeros so that two flat frames
  // match instead of differing at random.
  let peak = 0;
  for (let k = 1; k < 64; k++) peak = Math.max(peak, Math.abs(coef[k]));
  if (peak < FLAT_PEAK) return '0'.repeat(16);
  const sorted = Array.from(coef.subarray(1)).sort((a, b) => a - b);
  const med = (sorted[31] + sorted[32]) / 2;
  let hex = '';
  for (let k = 0; k < 64; k += 4) {
    let nib = 0;
    for (let b = 0; b < 4; b++) nib = (nib << 1) | (coef[k + b] > med ? 1 : 0);
    hex += nib.toString(16);
  }
  return hex;
}

export function hamming(a: string, b: string): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    let x = parseInt(a[i], 16) ^ parseInt(b[i], 16);
    while (x) (d += x & 1, (x >>= 1));
  }
  return d;
}
