/**
 * Reference DeepSeek-V3 fused decode kernels (contracts in src/backend/backend.ts: `mlaDecode`, `moeDecode`): one
 * absorbed-MLA half and one MoE / dense-MLP half of a decoder layer for a few new rows of one sequence, in plain loops
 * with f64 accumulation. They compute what `MultiHeadLatentAttention.forwardAbsorbed` + residual and
 * `DeepseekMoE.forward` + residual compute through the op set, without tensors (the native twins in
 * native/kernels-deepseek.cc are checked against these).
 */
import { MLA_DIMS, MOE_DIMS, type Backend } from '../backend.js';

/** y[t, i] = Σ_k W[i, k]·x[t, k] (W [N, K]), f64 accumulation. */
function gemv(W: Float32Array, N: number, K: number, x: Float32Array, xOff: number, y: Float32Array, yOff: number): void {
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += W[i * K + k] * x[xOff + k];
    y[yOff + i] = s;
  }
}

function rmsNormRow(x: Float32Array, xOff: number, w: Float32Array, n: number, eps: number, y: Float32Array, yOff: number): void {
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[xOff + i] * x[xOff + i];
  const rs = 1 / Math.sqrt(ss / n + eps);
  for (let i = 0; i < n; i++) y[yOff + i] = x[xOff + i] * rs * w[i];
}

/** Rotates p numbers at x[off …] by table row (cos, sin)[row]: pairs (2i, 2i+1) when interleaved, else (i, i + p/2). */
function ropeRow(x: Float32Array, off: number, p: number, cos: Float32Array, sin: Float32Array, row: number, interleaved: boolean): void {
  const half = p / 2;
  for (let i = 0; i < half; i++) {
    const ia = off + (interleaved ? 2 * i : i);
    const ib = off + (interleaved ? 2 * i + 1 : i + half);
    const c = cos[row * half + i];
    const s = sin[row * half + i];
    const a = x[ia];
    const b = x[ib];
    x[ia] = a * c - b * s;
    x[ib] = b * c + a * s;
  }
}

const silu = (v: number): number => v / (1 + Math.exp(-v));
const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/** Index of the largest value among those not yet taken (ties → lower index; −∞ entries still count). */
function pickMax(v: Float32Array | Float64Array, taken: Uint8Array): number {
  let best = -1;
  for (let i = 0; i < v.length; i++) if (!taken[i] && (best < 0 || v[i] > v[best])) best = i;
  taken[best] = 1;
  return best;
}

/** Group-limited top-K of s + bias for one row (see the Backend's `moeSelect`). */
function selectRow(s: Float32Array, bias: Float32Array, E: number, K: number, G: number, kg: number): Int32Array {
  const choice = new Float32Array(E);
  for (let e = 0; e < E; e++) choice[e] = s[e] + bias[e];
  if (G > 1 && kg < G) {
    const per = E / G;
    const gs = new Float32Array(G);
    for (let g = 0; g < G; g++) {
      const taken = new Uint8Array(per);
      const grp = choice.subarray(g * per, (g + 1) * per);
      const a = grp[pickMax(grp, taken)];
      gs[g] = per >= 2 ? a + grp[pickMax(grp, taken)] : a;
    }
    const keptG = new Uint8Array(G);
    for (let k = 0; k < kg; k++) pickMax(gs, keptG);
    for (let e = 0; e < E; e++) if (!keptG[Math.floor(e / per)]) choice[e] = -Infinity;
  }
  const taken = new Uint8Array(E);
  const ids = new Int32Array(K);
  for (let k = 0; k < K; k++) ids[k] = pickMax(choice, taken);
  return ids;
}

/** Chosen experts [K] and gate values [K] of one normed row m (see the Backend contract). */
export function routeRow(m: Float32Array, dims: Float64Array, gate: Float32Array, bias: Float32Array): { ids: Int32Array; gates: Float32Array } {
  const d = dims[MOE_DIMS.d];
  const E = dims[MOE_DIMS.E];
  const K = dims[MOE_DIMS.K];
  const s = new Float32Array(E);
  gemv(gate, E, d, m, 0, s, 0);
  for (let e = 0; e < E; e++) s[e] = sigmoid(s[e]);
  const ids = selectRow(s, bias, E, K, dims[MOE_DIMS.G], dims[MOE_DIMS.kg]);
  let sum = 0;
  for (let k = 0; k < K; k++) sum += s[ids[k]];
  const den = Math.fround(Math.fround(sum) + 1e-20);
  const gates = new Float32Array(K);
  for (let k = 0; k < K; k++) gates[k] = (dims[MOE_DIMS.normTopk] ? Math.fround(s[ids[k]] / den) : s[ids[k]]) * dims[MOE_DIMS.routedScale];
  return { ids, gates };
}

/** y[0 …) += scale · SwiGLU(m) with W_gate, W_up [I, d] and W_down [d, I]. */
function swigluAdd(m: Float32Array, d: number, I: number, wg: Float32Array, wu: Float32Array, wd: Float32Array, scale: number, y: Float64Array): void {
  const a = new Float64Array(I);
  for (let i = 0; i < I; i++) {
    let g = 0;
    let u = 0;
    for (let k = 0; k < d; k++) {
      g += wg[i * d + k] * m[k];
      u += wu[i * d + k] * m[k];
    }
    a[i] = Math.fround(silu(Math.fround(g))) * Math.fround(u);
  }
  for (let j = 0; j < d; j++) {
    let s = 0;
    for (let i = 0; i < I; i++) s += wd[j * I + i] * a[i];
    y[j] += scale * s;
  }
}

export const deepseekKernels: Pick<Backend, 'mlaDecode' | 'moeDecode' | 'linearRows' | 'moeSelect' | 'headArgmax'> = {
  headArgmax(h, T, K, w, _wb, _wNorm, N, ids) {
    const y = new Float32Array(N);
    for (let t = 0; t < T; t++) {
      gemv(w, N, K, h, t * K, y, 0);
      let best = 0;
      for (let i = 1; i < N; i++) if (y[i] > y[best]) best = i;
      ids[t] = best;
    }
  },

  moeSelect(scores, N, E, bias, K, G, kg, ids) {
    for (let n = 0; n < N; n++) ids.set(selectRow(scores.subarray(n * E, (n + 1) * E), bias, E, K, G, kg), n * K);
  },

  linearRows(x, T, K, w, N, y) {
    for (let t = 0; t < T; t++) gemv(w, N, K, x, t * K, y, t * N);
  },

  mlaDecode(x, T, dims, norm, qA, qANorm, qB, kvA, kvANorm, kvB, o, cos, sin, cache, cacheLen, out) {
    const D = MLA_DIMS;
    const [d, H, n, p, v, r, qr] = [dims[D.d], dims[D.H], dims[D.n], dims[D.p], dims[D.v], dims[D.r], dims[D.qr]];
    const eps = dims[D.eps];
    const scale = Math.fround(dims[D.scale]);
    const interleaved = dims[D.interleaved] === 1;
    const qk = n + p;
    const w = r + p;
    const res = new Float32Array(T * d);
    const xn = new Float32Array(d);
    const q = new Float32Array(H * qk);
    for (let t = 0; t < T; t++) {
      // projections of the normed input, the cache row of this position
      rmsNormRow(x, t * d, norm, d, eps, xn, 0);
      if (qr > 0) {
        const qa = new Float32Array(qr);
        gemv(qA!, qr, d, xn, 0, qa, 0);
        rmsNormRow(qa, 0, qANorm!, qr, eps, qa, 0);
        gemv(qB, H * qk, qr, qa, 0, q, 0);
      } else gemv(qB, H * qk, d, xn, 0, q, 0);
      const row = (cacheLen + t) * w;
      gemv(kvA, w, d, xn, 0, cache, row);
      rmsNormRow(cache, row, kvANorm, r, eps, cache, row);
      ropeRow(cache, row + r, p, cos, sin, t, interleaved);
      // per head: absorbed query [W_ukᵀ qᶜ, RoPE(qᴿ)], softmax over cached keys ≤ this position, W_uv
      const keys = cacheLen + t + 1;
      const oCat = new Float32Array(H * v);
      for (let h = 0; h < H; h++) {
        const qc = new Float32Array(w);
        const base = h * (n + v) * r;
        for (let m = 0; m < r; m++) {
          let s = 0;
          for (let i = 0; i < n; i++) s += q[h * qk + i] * kvB[base + i * r + m];
          qc[m] = s;
        }
        for (let i = 0; i < p; i++) qc[r + i] = q[h * qk + n + i];
        ropeRow(qc, r, p, cos, sin, t, interleaved);
        const sc = new Float64Array(keys);
        let mx = -Infinity;
        for (let j = 0; j < keys; j++) {
          let s = 0;
          for (let k = 0; k < w; k++) s += qc[k] * cache[j * w + k];
          sc[j] = Math.fround(s) * scale;
          if (sc[j] > mx) mx = sc[j];
        }
        let sum = 0;
        for (let j = 0; j < keys; j++) sum += (sc[j] = Math.exp(sc[j] - mx));
        const lat = new Float64Array(r);
        for (let j = 0; j < keys; j++) for (let m = 0; m < r; m++) lat[m] += (sc[j] / sum) * cache[j * w + m];
        for (let k = 0; k < v; k++) {
          let s = 0;
          for (let m = 0; m < r; m++) s += lat[m] * kvB[base + (n + k) * r + m];
          oCat[h * v + k] = s;
        }
      }
      gemv(o, d, H * v, oCat, 0, res, t * d);
    }
    for (let i = 0; i < T * d; i++) out[i] = x[i] + res[i];
  },

  moeDecode(h, T, dims, norm, gate, bias, experts, sharedGate, sharedUp, sharedDown, out, ids) {
    const M = MOE_DIMS;
    const [d, E, K, I, Is] = [dims[M.d], dims[M.E], dims[M.K], dims[M.I], dims[M.Is]];
    const res = new Float32Array(T * d);
    const m = new Float32Array(d);
    for (let t = 0; t < T; t++) {
      rmsNormRow(h, t * d, norm, d, dims[M.eps], m, 0);
      const y = new Float64Array(d);
      if (E > 0) {
        const route = routeRow(m, dims, gate!, bias!);
        for (let k = 0; k < K; k++) {
          const e = route.ids[k];
          swigluAdd(m, d, I, experts![3 * e], experts![3 * e + 1], experts![3 * e + 2], route.gates[k], y);
        }
        ids?.set(route.ids, t * K);
      }
      if (Is > 0) swigluAdd(m, d, Is, sharedGate!, sharedUp!, sharedDown!, 1, y);
      for (let j = 0; j < d; j++) res[t * d + j] = y[j];
    }
    for (let i = 0; i < T * d; i++) out[i] = h[i] + res[i];
  },
};
