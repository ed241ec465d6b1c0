/**
 * DeepSeekMoE (DeepSeek-V3 §2.1.2), named like the HF checkpoint: `mlp.gate.weight`, `mlp.gate.e_score_correction_bias`,
 * `mlp.experts.E.{gate,up,down}_proj`, `mlp.shared_experts.{gate,up,down}_proj`.
 *
 * Letters: N tokens (B·T), d hidden, E routed experts, K experts per token, G groups, kg = topk_group.
 *   s = sigmoid(x·W_gᵀ)                                        // [N, E] affinities
 *   selection (no gradient): s + b (b = e_score_correction_bias, used ONLY here); each group scored by the sum of its
 *     top-2 biased affinities; keep the kg best groups; top-K experts among them (others masked to −∞, as the
 *     reference and HF transformers ≥ 5 do).
 *   gates g = s[chosen] / (Σ s[chosen] + 1e−20) · routed_scaling_factor   (unbiased affinities; norm_topk_prob)
 *   y = Σ_k g_k · expert_k(x) + shared_experts(x)
 * Dispatch is batched: a stable counting argsort of the N·K flat expert ids groups the assignments by expert,
 * `gatherRows` (train-ops.ts) copies each token's row to its K places, `expertsForward` runs every expert's SwiGLU
 * (three GEMMs) on its row block as one recorded op, and `combineRows` sums each token's K rows weighted by its gates
 * (no zero fill, no scatter; its backward gives the gate gradients in the same pass). No per-token tensor ops.
 * The selection is the backend's `moeSelect` kernel.
 *
 * Balancing (§2.1.2, eqs. 16–20): per-step expert loads are returned (and accumulated) for the auxiliary-loss-free
 * update `updateBias(γ)`: b_i += γ·sign(mean load − load_i); `sequenceBalanceTerm` is Σ_i f_i·P_i averaged over
 * sequences (the caller multiplies by α); `maxViolation(load)` = (max − mean) / mean.
 */
import { backend } from '../../backend/index.js';
import { SwiGLU } from '../../nn/layers.js';
import { Module, buffer, parameter } from '../../nn/module.js';
import { normal_ } from '../../nn/init.js';
import { noGrad, record } from '../../tensor/autograd.js';
import { dataOf } from '../../tensor/ops/util.js';
import { empty, fromArray, zeros } from '../../tensor/creation.js';
import { cat } from '../../tensor/ops/shape.js';
import type { Generator } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import type { DeepseekV3Config } from './config.js';
import { combineRows, gatherRows } from './train-ops.js';

/** The router: weight [E, d] (trained) and the selection bias [E] (a buffer, moved by `updateBias`). */
export class MoeGate extends Module {
  weight: Tensor;
  e_score_correction_bias: Tensor;
  constructor(c: DeepseekV3Config, generator?: Generator) {
    super();
    this.weight = parameter(normal_(empty([c.n_routed_experts, c.hidden_size]), 0, c.initializer_range, generator));
    this.e_score_correction_bias = buffer(zeros([c.n_routed_experts]));
  }
}

export interface RoutingConfig {
  n_routed_experts: number;
  num_experts_per_tok: number;
  n_group: number;
  topk_group: number;
  norm_topk_prob: boolean;
  routed_scaling_factor: number;
}

/**
 * Chosen experts [N, K] (i32) for affinities s [N, E] and bias b [E]: group-limited top-K of s + b (the backend's
 * `moeSelect`: kg groups kept by the sum of their top-2 biased affinities, the rest −∞, ties → lower index). No gradient.
 */
export function selectExperts(scores: Tensor, bias: Tensor, c: RoutingConfig): Tensor {
  return noGrad(() => {
    const N = scores.shape[0];
    const E = c.n_routed_experts;
    const K = c.num_experts_per_tok;
    const ids = Tensor.empty([N, K], 'i32');
    const s = scores.isContiguous ? scores : scores.contiguous();
    const b = bias.isContiguous ? bias : bias.contiguous();
    backend().moeSelect(dataOf(s), N, E, dataOf(b), K, c.n_group, c.topk_group, ids.storage.data.subarray(0, N * K) as Int32Array);
    return ids;
  });
}

/** Gate values [N, K] for the chosen experts: unbiased affinities, normalised, × routed_scaling_factor. */
export function gateValues(scores: Tensor, ids: Tensor, c: RoutingConfig): Tensor {
  let g = scores.gather(1, ids); // [N, K]
  if (c.norm_topk_prob) g = g.div(g.sum(-1, true).add(1e-20));
  return g.mul(c.routed_scaling_factor);
}

/** Stable counting argsort of flat expert ids: the assignment order grouped by expert, and each expert's count. */
export function sortByExpert(flatIds: Int32Array, E: number): { order: Int32Array; counts: Int32Array } {
  const counts = new Int32Array(E);
  for (let i = 0; i < flatIds.length; i++) counts[flatIds[i]]++;
  const start = new Int32Array(E);
  for (let e = 1; e < E; e++) start[e] = start[e - 1] + counts[e - 1];
  const order = new Int32Array(flatIds.length);
  for (let i = 0; i < flatIds.length; i++) order[start[flatIds[i]]++] = i;
  return { order, counts };
}

/** Switch for `expertsForward` (default on; KILN_MOE_GROUPED=0 runs each expert's module on its slice instead). */
export const groupedExperts = { enabled: process.env.KILN_MOE_GROUPED !== '0' };

/** Whether an expert's Linears are plain f32 (no simulated-precision forward, no bias): `expertsForward` applies. */
function plainExperts(experts: readonly SwiGLU[]): boolean {
  for (const e of experts)
    for (const l of [e.gate_proj, e.up_proj, e.down_proj])
      if (l.bias !== null || Object.prototype.hasOwnProperty.call(l, 'forward') || l.weight.dtype !== 'f32' || !l.weight.isContiguous) return false;
  return true;
}

/**
 * All routed experts in one op: xs [R, d] holds the assignments grouped by expert (counts[e] rows for expert e, in
 * order); returns ys [R, d] with ys_e = SwiGLU_e(xs_e) = down_e(silu(gate_e(xs_e)) ⊙ up_e(xs_e)). Three GEMMs per
 * expert on its row block of shared buffers, and one recorded backward (five GEMMs per expert, writing dxs block by
 * block) instead of per-expert slices whose gradients would each be a zero-filled [R, d] tensor summed up.
 * Experts without rows get no gradient (null), like unused parameters.
 */
export function expertsForward(xs: Tensor, counts: Int32Array, experts: readonly SwiGLU[]): Tensor {
  const [R, d] = xs.shape;
  const I = experts[0].hidden;
  const be = backend();
  const xc = xs.isContiguous ? xs : xs.contiguous();
  const x = dataOf(xc);
  const n = R * I;
  // saved activations from the caching allocator (no zero fill; freed with the step's scope like any op's)
  const buf = () => dataOf(Tensor.empty([n]));
  const G = buf(); // gate_e(x) rows, then (backward) dG
  const U = buf(); // up_e(x) rows, then dU
  const A = buf(); // silu(G) ⊙ U
  const out = Tensor.empty([R, d]);
  const y = dataOf(out);
  const w = (t: Tensor) => dataOf(t);
  // each expert's block of rows: [start, start + count)
  const blocks: [number, number, SwiGLU, number][] = [];
  let s = 0;
  experts.forEach((ex, e) => {
    if (counts[e] > 0) blocks.push([s, counts[e], ex, e]);
    s += counts[e];
  });
  for (const [s0, c, ex] of blocks) {
    be.gemm(1, false, true, c, I, d, 1, x, s0 * d, d, 0, w(ex.gate_proj.weight), 0, d, 0, 0, G, s0 * I, I, 0);
    be.gemm(1, false, true, c, I, d, 1, x, s0 * d, d, 0, w(ex.up_proj.weight), 0, d, 0, 0, U, s0 * I, I, 0);
  }
  be.swiglu(G, U, n, A);
  for (const [s0, c, ex] of blocks)
    be.gemm(1, false, true, c, d, I, 1, A, s0 * I, I, 0, w(ex.down_proj.weight), 0, I, 0, 0, y, s0 * d, d, 0);
  const weights = experts.flatMap((e) => [e.gate_proj.weight, e.up_proj.weight, e.down_proj.weight]);
  return record(out, 'moeExperts', [xc, ...weights], (gy) => {
    const gyc = gy.isContiguous ? gy : gy.contiguous();
    const dy = dataOf(gyc);
    const dxs = Tensor.empty([R, d]);
    const dx = dataOf(dxs);
    const dA = buf();
    const grads: (Tensor | null)[] = [dxs, ...new Array<Tensor | null>(3 * experts.length).fill(null)];
    // dA = dy_e · W_down [c, I];  dW_down = dy_eᵀ · A_e [d, I]
    for (const [s0, c, ex, e] of blocks) {
      const dWd = Tensor.empty([d, I]);
      be.gemm(1, false, false, c, I, d, 1, dy, s0 * d, d, 0, w(ex.down_proj.weight), 0, I, 0, 0, dA, s0 * I, I, 0);
      be.gemm(1, true, false, d, I, c, 1, dy, s0 * d, d, 0, A, s0 * I, I, 0, 0, dataOf(dWd), 0, I, 0);
      grads[1 + 3 * e + 2] = dWd;
    }
    // dU = dA ⊙ silu(g);  dG = dA ⊙ u ⊙ silu'(g), silu'(g) = σ + silu(g)·(1 − σ) — one pass, in place over G and U
    be.swigluBackward(G, U, dA, n, G, U);
    // dx_e = dG · W_gate + dU · W_up [c, d];  dW_gate = dGᵀ · x_e, dW_up = dUᵀ · x_e [I, d]
    for (const [s0, c, ex, e] of blocks) {
      const dWg = Tensor.empty([I, d]);
      const dWu = Tensor.empty([I, d]);
      be.gemm(1, false, false, c, d, I, 1, G, s0 * I, I, 0, w(ex.gate_proj.weight), 0, d, 0, 0, dx, s0 * d, d, 0);
      be.gemm(1, false, false, c, d, I, 1, U, s0 * I, I, 0, w(ex.up_proj.weight), 0, d, 0, 1, dx, s0 * d, d, 0);
      be.gemm(1, true, false, I, d, c, 1, G, s0 * I, I, 0, x, s0 * d, d, 0, 0, dataOf(dWg), 0, d, 0);
      be.gemm(1, true, false, I, d, c, 1, U, s0 * I, I, 0, x, s0 * d, d, 0, 0, dataOf(dWu), 0, d, 0);
      grads[1 + 3 * e] = dWg;
      grads[1 + 3 * e + 1] = dWu;
    }
    return grads;
  });
}

/** One SwiGLU over all rows of x [.., d] through `expertsForward` when its Linears are plain, else its module. */
export function swigluForward(mlp: SwiGLU, x: Tensor): Tensor {
  if (!groupedExperts.enabled || !plainExperts([mlp])) return mlp.forward(x);
  const d = x.shape[x.ndim - 1];
  const rows = x.size / d;
  return expertsForward(x.reshape(rows, d), Int32Array.of(rows), [mlp]).reshape(...x.shape);
}

export interface MoeOutput {
  /** [B, T, d] */
  y: Tensor;
  /** Σ_i f_i·P_i averaged over sequences (scalar), when asked for. */
  balance: Tensor | null;
  /** Tokens routed to each expert in this call [E]. */
  load: Int32Array;
}

export class DeepseekMoE extends Module {
  gate: MoeGate;
  experts: SwiGLU[];
  shared_experts: SwiGLU | null;
  readonly cfg: RoutingConfig;
  /** Loads accumulated since the last `updateBias` (for the aux-loss-free update over one or more micro-batches). */
  loadSinceUpdate: Float64Array;

  constructor(c: DeepseekV3Config, generator?: Generator) {
    super();
    const init = { std: c.initializer_range, generator };
    this.gate = new MoeGate(c, generator);
    this.experts = Array.from({ length: c.n_routed_experts }, () => new SwiGLU(c.hidden_size, c.moe_intermediate_size, init));
    this.shared_experts = c.n_shared_experts > 0 ? new SwiGLU(c.hidden_size, c.moe_intermediate_size * c.n_shared_experts, init) : null;
    this.cfg = c;
    this.loadSinceUpdate = new Float64Array(c.n_routed_experts);
  }

  /** x [B, T, d] → y [B, T, d] with this call's expert loads (and the balance term when `balance`). */
  forward(x: Tensor, { balance = false }: { balance?: boolean } = {}): MoeOutput {
    const [B, T, d] = x.shape;
    const N = B * T;
    const E = this.cfg.n_routed_experts;
    const K = this.cfg.num_experts_per_tok;
    const flat = x.reshape(N, d); // [N, d]
    const scores = flat.matmul(this.gate.weight.mT).sigmoid(); // [N, E]
    const ids = selectExperts(scores, this.gate.e_score_correction_bias, this.cfg); // [N, K]
    const gates = gateValues(scores, ids, this.cfg); // [N, K]
    const flatIds = ids.data() as Int32Array;
    const { order, counts } = sortByExpert(flatIds, E);
    const pos = new Int32Array(order.length); // row of assignment (n, k) in the expert-grouped order
    for (let r = 0; r < order.length; r++) pos[order[r]] = r;
    const xs = gatherRows(flat, pos, K); // [N·K, d] rows grouped by expert
    let expertOut: Tensor; // [N·K, d]
    if (groupedExperts.enabled && plainExperts(this.experts)) expertOut = expertsForward(xs, counts, this.experts);
    else {
      // per-expert modules (e.g. a simulated-precision Linear forward): slices of xs through each SwiGLU
      const outs: Tensor[] = [];
      let start = 0;
      for (let e = 0; e < E; e++) {
        if (counts[e] === 0) continue;
        outs.push(this.experts[e].forward(xs.slice(0, start, start + counts[e]))); // [count_e, d]
        start += counts[e];
      }
      expertOut = cat(outs, 0);
    }
    let y = combineRows(expertOut, gates, pos); // [N, d] = Σ_k g_k · expert_k rows
    if (this.shared_experts) y = y.add(swigluForward(this.shared_experts, flat));
    if (this.training) for (let e = 0; e < E; e++) this.loadSinceUpdate[e] += counts[e];
    const bal = balance ? sequenceBalanceTerm(scores.reshape(B, T, E), flatIds, B, T, this.cfg) : null;
    return { y: y.reshape(B, T, d), balance: bal, load: counts };
  }

  /**
   * Auxiliary-loss-free balancing: b_i += γ·sign(mean − load_i) over the loads accumulated since the last call
   * (overloaded experts become less likely to be chosen, underloaded more). Resets the accumulator.
   */
  updateBias(gamma: number): void {
    const load = this.loadSinceUpdate;
    const mean = load.reduce((a, b) => a + b, 0) / load.length;
    const b = this.gate.e_score_correction_bias;
    const data = (b.storage.data as Float32Array).subarray(b.offset, b.offset + b.size);
    for (let i = 0; i < load.length; i++) data[i] += gamma * Math.sign(mean - load[i]);
    load.fill(0);
  }
}

/**
 * The complementary sequence-wise balance term (report eqs. 17–20) without α: for each sequence,
 * Σ_i f_i·P_i with f_i = E/(K·T)·#{t: expert i chosen for token t} and P_i = mean_t s_{i,t}/Σ_j s_{j,t};
 * averaged over the B sequences. scores [B, T, E] (with gradient); flatIds the chosen experts [B·T·K].
 */
export function sequenceBalanceTerm(scores: Tensor, flatIds: Int32Array, B: number, T: number, c: RoutingConfig): Tensor {
  const E = c.n_routed_experts;
  const K = c.num_experts_per_tok;
  const f = new Float32Array(B * E);
  const scale = E / (K * T);
  for (let b = 0; b < B; b++) for (let i = b * T * K; i < (b + 1) * T * K; i++) f[b * E + flatIds[i]] += scale;
  const P = scores.div(scores.sum(-1, true)).mean(1); // [B, E]
  return P.mul(fromArray(f, [B, E])).sum().div(B);
}

/** The sequence-wise balance loss α·Σ_i f_i·P_i (report eq. 17; α default 1e-4) as a scalar tensor. */
export function sequenceBalanceLoss(scores: Tensor, flatIds: Int32Array, B: number, T: number, c: RoutingConfig, alpha = 1e-4): Tensor {
  return sequenceBalanceTerm(scores, flatIds, B, T, c).mul(alpha);
}

/** MaxVio = (max load − mean load) / mean load. */
export function maxViolation(load: ArrayLike<number>): number {
  let sum = 0;
  let max = -Infinity;
  for (let i = 0; i < load.length; i++) {
    sum += load[i];
    max = Math.max(max, load[i]);
  }
  const mean = sum / load.length;
  return mean > 0 ? (max - mean) / mean : 0;
}

