/**
 * Reference memory-efficient attention kernels (FlashAttention-style, Dao et al. 2022 / FlashAttention-2 2023).
 *
 * Letters: B = batch, H = query heads, Hkv = key/value heads (H % Hkv == 0; query head h reads kv head
 * ⌊h / (H/Hkv)⌋, as HF's `repeat_kv`), Tq / Tk = query / key lengths, D = q·k head dim, Dv = value head dim.
 * Layouts (dense row-major): q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv], out/dout [B, H, Tq, Dv],
 * lse [B, H, Tq]. `mask` (optional) is an additive f32 view already broadcast to [B, H, Tq, Tk] (stride 0 on
 * broadcast dims; −Infinity blocks). `causal`: query i sees keys j ≤ i + Tk − Tq (bottom-right aligned, as with a
 * KV cache).
 *
 * Forward: for each block of blockQ query rows, walk key/value blocks of blockK keys keeping per-row running
 * statistics (max m, sum l) and an un-normalised output accumulator: the Tq×Tk score matrix is never formed; the
 * scratch is O(blockQ·(blockK + Dv)). Saves lse = m + log l per row for the backward. A row whose keys are all
 * blocked gets output 0 and lse = −Infinity (no NaN).
 * Backward: recomputes each score from q, k (and the mask), P = exp(S − lse), with Dᵢ = Σ dOᵢ∘Oᵢ:
 *   dV_j += P_ij dO_i,  dS_ij = P_ij (dO_i·V_j − Dᵢ),  dQ_i += scale·dS_ij K_j,  dK_j += scale·dS_ij Q_i.
 * Scratch O(Tq·D + blockK·(D + Dv)); dk/dv sum over the query heads that share a kv head.
 * Scalars and accumulators are f64; inputs and outputs f32. Plain loops with explicit sizes, so the native port is a
 * transliteration (parallelise over (b, h) in the forward and over (b, kv head) in the backward).
 */
import { KilnError } from '../../errors.js';
import type { Backend, View } from '../backend.js';

export const attentionKernels: Pick<Backend, 'attentionForward' | 'attentionBackward'> = {
  attentionForward(q, k, v, mask, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, blockQ, blockK, out, lse) {
    checkBlocks(blockQ, blockK);
    const rep = H / Hkv;
    const shift = Tk - Tq; // causal: query i sees keys j ≤ i + shift
    const S = new Float64Array(blockK); // scores of one query row against one key block
    const acc = new Float64Array(blockQ * Dv); // un-normalised outputs of the query block
    const m = new Float64Array(blockQ); // running row max
    const l = new Float64Array(blockQ); // running row sum of exp(s − m)
    const md = mask ? mask.data : null;
    const [msB, msH, msQ, msK] = maskStrides(mask);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const bh = b * H + h;
        const kvh = b * Hkv + Math.floor(h / rep);
        const qBase = bh * Tq * D;
        const kBase = kvh * Tk * D;
        const vBase = kvh * Tk * Dv;
        const oBase = bh * Tq * Dv;
        const mBase = mask ? mask.offset + b * msB + h * msH : 0;
        for (let i0 = 0; i0 < Tq; i0 += blockQ) {
          const nq = Math.min(blockQ, Tq - i0);
          m.fill(-Infinity, 0, nq);
          l.fill(0, 0, nq);
          acc.fill(0, 0, nq * Dv);
          // key blocks past the last key visible to this query block are skipped entirely
          const kEnd = causal ? Math.max(0, Math.min(Tk, i0 + nq + shift)) : Tk;
          for (let j0 = 0; j0 < kEnd; j0 += blockK) {
            const nk = Math.min(blockK, kEnd - j0);
            for (let r = 0; r < nq; r++) {
              const i = i0 + r;
              const jEnd = causal ? Math.min(j0 + nk, i + shift + 1) : j0 + nk; // exclusive
              if (jEnd <= j0) continue;
              const qi = qBase + i * D;
              const mRow = mBase + i * msQ;
              let rowMax = -Infinity;
              for (let j = j0; j < jEnd; j++) {
                const kj = kBase + j * D;
                let s = dot(q, qi, k, kj, D) * scale;
                if (md) s += md[mRow + j * msK];
                S[j - j0] = s;
                if (s > rowMax) rowMax = s;
              }
              if (rowMax === -Infinity) continue; // every key of this block is blocked for row i
              const aRow = r * Dv;
              const mOld = m[r];
              if (rowMax > mOld) {
                const alpha = Math.exp(mOld - rowMax); // 0 when mOld = −∞
                l[r] *= alpha;
                for (let e = 0; e < Dv; e++) acc[aRow + e] *= alpha;
                m[r] = rowMax;
              }
              const mr = m[r];
              let sum = 0;
              for (let j = j0; j < jEnd; j++) {
                const p = Math.exp(S[j - j0] - mr);
                if (p === 0) continue;
                sum += p;
                const vj = vBase + j * Dv;
                for (let e = 0; e < Dv; e++) acc[aRow + e] += p * v[vj + e];
              }
              l[r] += sum;
            }
          }
          for (let r = 0; r < nq; r++) {
            const i = i0 + r;
            const o = oBase + i * Dv;
            if (l[r] === 0) {
              for (let e = 0; e < Dv; e++) out[o + e] = 0;
              lse[bh * Tq + i] = -Infinity;
            } else {
              const inv = 1 / l[r];
              for (let e = 0; e < Dv; e++) out[o + e] = acc[r * Dv + e] * inv;
              lse[bh * Tq + i] = m[r] + Math.log(l[r]);
            }
          }
        }
      }
    }
  },

  attentionBackward(q, k, v, mask, out, lse, dout, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, blockQ, blockK, dq, dk, dv) {
    checkBlocks(blockQ, blockK);
    const rep = H / Hkv;
    const shift = Tk - Tq;
    dk.fill(0, 0, B * Hkv * Tk * D);
    dv.fill(0, 0, B * Hkv * Tk * Dv);
    const Di = new Float64Array(Tq); // rowsum(dO ∘ O)
    const dqAcc = new Float64Array(Tq * D);
    const dkAcc = new Float64Array(blockK * D);
    const dvAcc = new Float64Array(blockK * Dv);
    const md = mask ? mask.data : null;
    const [msB, msH, msQ, msK] = maskStrides(mask);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const bh = b * H + h;
        const kvh = b * Hkv + Math.floor(h / rep);
        const qBase = bh * Tq * D;
        const kBase = kvh * Tk * D;
        const vBase = kvh * Tk * Dv;
        const oBase = bh * Tq * Dv;
        const mBase = mask ? mask.offset + b * msB + h * msH : 0;
        for (let i = 0; i < Tq; i++) {
          let s = 0;
          for (let e = 0; e < Dv; e++) s += dout[oBase + i * Dv + e] * out[oBase + i * Dv + e];
          Di[i] = s;
        }
        dqAcc.fill(0);
        for (let j0 = 0; j0 < Tk; j0 += blockK) {
          const nk = Math.min(blockK, Tk - j0);
          dkAcc.fill(0, 0, nk * D);
          dvAcc.fill(0, 0, nk * Dv);
          // causal: only queries with i + shift ≥ j0 see any key of this block
          const iStart = causal ? Math.max(0, j0 - shift) : 0;
          for (let i0 = iStart; i0 < Tq; i0 += blockQ) {
            const iEnd = Math.min(i0 + blockQ, Tq);
            for (let i = i0; i < iEnd; i++) {
              const L = lse[bh * Tq + i];
              if (L === -Infinity) continue; // fully blocked row: output 0, no gradient
              const jEnd = causal ? Math.min(j0 + nk, i + shift + 1) : j0 + nk;
              const qi = qBase + i * D;
              const oi = oBase + i * Dv;
              const mRow = mBase + i * msQ;
              const di = Di[i];
              for (let j = j0; j < jEnd; j++) {
                const kj = kBase + j * D;
                let s = dot(q, qi, k, kj, D) * scale;
                if (md) s += md[mRow + j * msK];
                const p = Math.exp(s - L);
                if (p === 0) continue; // blocked (or underflowed) key: contributes nothing
                const c = j - j0;
                const vj = vBase + j * Dv;
                let dp = 0;
                for (let e = 0; e < Dv; e++) {
                  const g = dout[oi + e];
                  dp += g * v[vj + e];
                  dvAcc[c * Dv + e] += p * g;
                }
                const ds = p * (dp - di) * scale;
                const dqRow = i * D;
                const dkRow = c * D;
                for (let d = 0; d < D; d++) {
                  dqAcc[dqRow + d] += ds * k[kj + d];
                  dkAcc[dkRow + d] += ds * q[qi + d];
                }
              }
            }
          }
          for (let c = 0; c < nk; c++) {
            const kj = kBase + (j0 + c) * D;
            for (let d = 0; d < D; d++) dk[kj + d] += dkAcc[c * D + d];
            const vj = vBase + (j0 + c) * Dv;
            for (let e = 0; e < Dv; e++) dv[vj + e] += dvAcc[c * Dv + e];
          }
        }
        for (let x = 0; x < Tq * D; x++) dq[qBase + x] = dqAcc[x];
      }
    }
  },
};

/** Σ_d a[ai + d]·b[bi + d] in f64, four independent partial sums (the add chain's latency dominates otherwise). */
function dot(a: Float32Array, ai: number, b: Float32Array, bi: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let d = 0;
  for (; d + 3 < n; d += 4) {
    s0 += a[ai + d] * b[bi + d];
    s1 += a[ai + d + 1] * b[bi + d + 1];
    s2 += a[ai + d + 2] * b[bi + d + 2];
    s3 += a[ai + d + 3] * b[bi + d + 3];
  }
  for (; d < n; d++) s0 += a[ai + d] * b[bi + d];
  return s0 + s1 + (s2 + s3);
}

function maskStrides(mask: View | null): [number, number, number, number] {
  if (!mask) return [0, 0, 0, 0];
  const s = mask.strides;
  return [s[0], s[1], s[2], s[3]];
}

function checkBlocks(blockQ: number, blockK: number): void {
  if (!(Number.isInteger(blockQ) && blockQ > 0 && Number.isInteger(blockK) && blockK > 0))
    throw new KilnError('E_ARG', `attention kernel: block sizes must be positive integers, got blockQ=${blockQ}, blockK=${blockK}`);
}
