/**
 * Reference kernels of Transformer-XL relative-position attention (Dai et al. 2019, §3.3; the attention of every
 * ERNIE 3.0 layer) and of the seeded dropout mask they share with the hidden dropout.
 *
 * Letters: B batch, H heads, T new tokens (queries), M memory tokens, K = M + T keys, Dh head dim, d = H·Dh,
 * P rows of position keys. Layouts (dense row-major, the projections' own layouts, so no transposes are needed):
 *   q [B, T, H, Dh], k / v [B, K, H, Dh] (keys [memory; new]), rk [P, H, Dh] (W_kR·R_r; row p ↔ distance
 *   r = M + T − 1 − p, P ≥ K + T − 1), u / vb [H, Dh] (the content and position biases), keyMask [B, K] (keep:
 *   nonzero = attend) or null, out / dout [B, T, H, Dh], lse [B, H, T].
 * Query i (position M + i) and key j (position j), distance r = M + i − j, position-key row p = T − 1 − i + j:
 *   s_ij = scale·((q_i + u)·k_j + (q_i + vb)·rk_p)
 *   visible: (not causal or j ≤ M + i) and keyMask[b, j] ≠ 0; P_ij = softmax_j over the visible keys
 *   attention dropout (rate `dropP`): P̃_ij = P_ij·keep_ij/(1 − dropP), keep_ij = dropKeep(seed0, seed1,
 *   ((b·H + h)·T + i)·K + j, dropP); out_i = Σ_j P̃_ij v_j; lse_i = log Σ_j exp(s_ij) over the visible keys.
 * A row whose keys are all blocked gets output 0 and lse = −Infinity, and passes no gradient.
 * Backward (Dᵢ = dOᵢ·Oᵢ = Σ_j P_ij dP_ij):  dP̃_ij = dOᵢ·v_j,  dP_ij = dP̃_ij·keep_ij/(1 − dropP),
 *   dS_ij = scale·P_ij (dP_ij − Dᵢ),  dq_i = Σ_j dS_ij (k_j + rk_p),  dk_j = Σ_i dS_ij (q_i + u),
 *   drk_p = Σ dS_ij (q_i + vb),  dv_j = Σ_i P̃_ij dOᵢ,  du = Σ dS_ij k_j,  dvb = Σ dS_ij rk_p (over b, i, j).
 * Accumulation in f64. Plain loops over contiguous arrays: the native kernel (native/kernels-relattn.cc) is the
 * same computation tiled.
 *
 * The dropout hash: x = fmix32(lo ⊕ seed0); x = fmix32(x ⊕ (hi·0x9E3779B9 + seed1)) with n = hi·2³² + lo, and
 * u = (x >>> 8)/2²⁴; kept iff u ≥ p (murmur3's finaliser; counter-based, so any thread order gives the same mask).
 */
import { KilnError } from '../../errors.js';
import type { Backend, RelAttentionDims } from '../backend.js';

function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The uniform in [0, 1) (24 bits) of element n of the seeded stream (seed0, seed1). */
export function dropUniform(seed0: number, seed1: number, n: number): number {
  const lo = n >>> 0;
  const hi = Math.floor(n / 4294967296) >>> 0;
  let x = fmix32((lo ^ seed0) >>> 0);
  x = fmix32((x ^ ((Math.imul(hi, 0x9e3779b9) + seed1) >>> 0)) >>> 0);
  return (x >>> 8) / 16777216;
}

export function checkRelDims(d: RelAttentionDims): number {
  const { B, H, T, M, Dh, P } = d;
  for (const [n, v] of Object.entries({ B, H, T, M, Dh, P }))
    if (!Number.isInteger(v) || v < 0) throw new KilnError('E_ARG', `relAttention: ${n} must be a non-negative integer, got ${v}`);
  const K = M + T;
  if (T > 0 && P < K + T - 1) throw new KilnError('E_ARG', `relAttention: rk has ${P} rows but the ${T} queries over ${K} keys need P ≥ K + T − 1 = ${K + T - 1}`);
  if (!(d.dropP >= 0 && d.dropP < 1)) throw new KilnError('E_ARG', `relAttention: the dropout rate must be in [0, 1), got ${d.dropP}`);
  return K;
}

export const relAttentionKernels: Pick<Backend, 'relAttentionForward' | 'relAttentionBackward' | 'dropoutMask'> = {
  relAttentionForward(q, k, v, rk, u, vb, keyMask, d, out, lse) {
    const K = checkRelDims(d);
    const { B, H, T, M, Dh, scale, causal, dropP, seed0, seed1 } = d;
    const dm = H * Dh;
    const s = new Float64Array(K);
    const o = new Float64Array(Dh);
    const inv = 1 / (1 - dropP);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < T; i++) {
          const qo = (b * T + i) * dm + h * Dh;
          let mx = -Infinity;
          for (let j = 0; j < K; j++) {
            if ((causal && j > M + i) || (keyMask && keyMask[b * K + j] === 0)) {
              s[j] = -Infinity;
              continue;
            }
            const ko = (b * K + j) * dm + h * Dh;
            const ro = (T - 1 - i + j) * dm + h * Dh;
            let ac = 0;
            let bd = 0;
            for (let e = 0; e < Dh; e++) {
              ac += (q[qo + e] + u[h * Dh + e]) * k[ko + e];
              bd += (q[qo + e] + vb[h * Dh + e]) * rk[ro + e];
            }
            s[j] = scale * (ac + bd);
            if (s[j] > mx) mx = s[j];
          }
          o.fill(0);
          if (mx === -Infinity) {
            lse[(b * H + h) * T + i] = -Infinity;
          } else {
            let sum = 0;
            for (let j = 0; j < K; j++) sum += s[j] === -Infinity ? 0 : Math.exp(s[j] - mx);
            const l = mx + Math.log(sum);
            lse[(b * H + h) * T + i] = l;
            const n0 = ((b * H + h) * T + i) * K;
            for (let j = 0; j < K; j++) {
              if (s[j] === -Infinity) continue;
              let p = Math.exp(s[j] - l);
              if (dropP > 0) p = dropUniform(seed0, seed1, n0 + j) >= dropP ? p * inv : 0;
              if (p === 0) continue;
              const vo = (b * K + j) * dm + h * Dh;
              for (let e = 0; e < Dh; e++) o[e] += p * v[vo + e];
            }
          }
          for (let e = 0; e < Dh; e++) out[qo + e] = o[e];
        }
  },

  relAttentionBackward(q, k, v, rk, u, vb, keyMask, d, out, lse, dout, dq, dk, dv, drk, du, dvb) {
    const K = checkRelDims(d);
    const { B, H, T, M, Dh, P, scale, causal, dropP, seed0, seed1 } = d;
    const dm = H * Dh;
    dq.fill(0, 0, B * T * dm);
    dk.fill(0, 0, B * K * dm);
    dv.fill(0, 0, B * K * dm);
    drk.fill(0, 0, P * dm);
    du.fill(0, 0, dm);
    dvb.fill(0, 0, dm);
    const inv = 1 / (1 - dropP);
    // f64 accumulators of the shared gradients
    const gk = new Float64Array(B * K * dm);
    const gv = new Float64Array(B * K * dm);
    const gr = new Float64Array(P * dm);
    const gu = new Float64Array(dm);
    const gvb = new Float64Array(dm);
    const gqc = new Float64Array(Dh);
    const gqp = new Float64Array(Dh);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < T; i++) {
          const l = lse[(b * H + h) * T + i];
          if (l === -Infinity) continue; // fully blocked row: output 0, no gradient
          const qo = (b * T + i) * dm + h * Dh;
          let Di = 0;
          for (let e = 0; e < Dh; e++) Di += dout[qo + e] * out[qo + e];
          gqc.fill(0);
          gqp.fill(0);
          const n0 = ((b * H + h) * T + i) * K;
          for (let j = 0; j < K; j++) {
            if ((causal && j > M + i) || (keyMask && keyMask[b * K + j] === 0)) continue;
            const ko = (b * K + j) * dm + h * Dh;
            const ro = (T - 1 - i + j) * dm + h * Dh;
            let ac = 0;
            let bd = 0;
            let dpd = 0;
            for (let e = 0; e < Dh; e++) {
              ac += (q[qo + e] + u[h * Dh + e]) * k[ko + e];
              bd += (q[qo + e] + vb[h * Dh + e]) * rk[ro + e];
              dpd += dout[qo + e] * v[ko + e];
            }
            const p = Math.exp(scale * (ac + bd) - l);
            const keepScale = dropP > 0 ? (dropUniform(seed0, seed1, n0 + j) >= dropP ? inv : 0) : 1;
            const pd = p * keepScale;
            const ds = scale * p * (dpd * keepScale - Di);
            for (let e = 0; e < Dh; e++) {
              gv[ko + e] += pd * dout[qo + e];
              gqc[e] += ds * k[ko + e];
              gqp[e] += ds * rk[ro + e];
              gk[ko + e] += ds * (q[qo + e] + u[h * Dh + e]);
              gr[ro + e] += ds * (q[qo + e] + vb[h * Dh + e]);
            }
          }
          for (let e = 0; e < Dh; e++) {
            dq[qo + e] = gqc[e] + gqp[e];
            gu[h * Dh + e] += gqc[e];
            gvb[h * Dh + e] += gqp[e];
          }
        }
    for (let x = 0; x < B * K * dm; x++) {
      dk[x] = gk[x];
      dv[x] = gv[x];
    }
    for (let x = 0; x < P * dm; x++) drk[x] = gr[x];
    for (let x = 0; x < dm; x++) {
      du[x] = gu[x];
      dvb[x] = gvb[x];
    }
  },

  dropoutMask(out, n, p, seed0, seed1) {
    if (!(p >= 0 && p < 1)) throw new KilnError('E_ARG', `dropoutMask: the rate must be in [0, 1), got ${p}`);
    const inv = 1 / (1 - p);
    for (let x = 0; x < n; x++) out[x] = dropUniform(seed0, seed1, x) >= p ? inv : 0;
  },
};
