/**
 * Reference rotary-embedding kernel (RoFormer, Su et al. 2021). x [rows, D] contiguous; the first `rotaryDim`
 * columns of each row are rotated in pairs, the rest copied. Row r reads row r % tableRows of the cos/sin tables
 * [tableRows, rotaryDim/2] (so a [T, rotaryDim/2] table serves every leading dim of an x laid out [..., T, D]).
 *   interleaved: pairs (x[2i], x[2i+1])       — GPT-J, Meta's original Llama, DeepSeek-V3's reference code
 *   half:        pairs (x[i], x[i + rotaryDim/2]) — HF Llama `rotate_half`
 * (a, b) → (a·cos θ − b·sin θ, b·cos θ + a·sin θ); `inverse` rotates by −θ (the transpose, hence the gradient).
 */
import type { Backend } from '../backend.js';

export const ropeKernels: Pick<Backend, 'rotary'> = {
  rotary(x, rows, D, rotaryDim, cos, sin, tableRows, interleaved, inverse, out) {
    const half = rotaryDim >> 1;
    const sgn = inverse ? -1 : 1;
    // pair i = (x[o + i·step], x[o + i·step + gap])
    const step = interleaved ? 2 : 1;
    const gap = interleaved ? 1 : half;
    for (let r = 0; r < rows; r++) {
      const o = r * D;
      const t = (r % tableRows) * half;
      for (let i = 0; i < half; i++) {
        const c = cos[t + i];
        const s = sgn * sin[t + i];
        const ia = o + i * step;
        const ib = ia + gap;
        const a = x[ia];
        const b = x[ib];
        out[ia] = a * c - b * s;
        out[ib] = b * c + a * s;
      }
      for (let d = rotaryDim; d < D; d++) out[o + d] = x[o + d];
    }
  },
};
