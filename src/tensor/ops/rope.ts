/**
 * Rotary position embedding (RoPE, Su et al. 2021, "RoFormer") and its frequency tables, with YaRN context
 * extension (Peng et al. 2023) exactly as HF DeepSeek-V3's `DeepseekV3YarnRotaryEmbedding` computes it.
 *
 * `applyRotary(x, cos, sin, opts)`: x [..., T, D]; rotates the first `rotaryDim` (default D) dims of each row by the
 * angles whose cos/sin are given, pair by pair, and copies the rest:
 *   layout 'half' (default; HF Llama `rotate_half`): pairs (x_i, x_{i+rd/2});
 *   layout 'interleaved' (GPT-J, Meta's original Llama, DeepSeek-V3's reference `apply_rotary_emb` via complex
 *   numbers): pairs (x_{2i}, x_{2i+1}).
 * (a, b) → (a·cos − b·sin, b·cos + a·sin). cos/sin: [..., T, rd/2] broadcastable to x's leading dims (usually
 * [T, rd/2]), or "expanded" [..., T, rd] in the layout's own duplication (HF's cat(freqs, freqs) for 'half',
 * repeat_interleave(freqs, 2) for 'interleaved'; checked). The gradient of x is the rotation by −θ; cos/sin take
 * no gradient (they are tables, not parameters).
 * Note: HF's DeepSeek-V3 port de-interleaves q/k and then uses rotate_half, so its rotated vectors are a fixed
 * permutation of ours; q·k products — all attention sees — are identical.
 *
 * `ropeFrequencies(dim, base, positions, opts)` → cos/sin [T, dim/2] (f64 math, stored f32), the inverse
 * frequencies, and YaRN's two magnitude corrections (see `RopeTables`).
 */
import { backend } from '../../backend/index.js';
import { KilnError } from '../../errors.js';
import { record } from '../autograd.js';
import { Tensor, contiguousStrides, numel } from '../tensor.js';
import { slice } from './shape.js';
import { assertFloat, broadcastView, contig, dataOf } from './util.js';

export type RotaryLayout = 'half' | 'interleaved';

export interface RotaryOptions {
  /** Pairing of the rotated dims; default 'half' (HF Llama). DeepSeek-V3's reference code is 'interleaved'. */
  layout?: RotaryLayout;
  /** How many leading dims of the last axis are rotated (even); default all of them. */
  rotaryDim?: number;
}

interface Tables {
  cos: Tensor; // [tableRows, rd/2] contiguous
  sin: Tensor;
  tableRows: number;
}

/** Applies rotary position embedding to x [..., T, D] with cos/sin tables (see the file header). */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor, opts: RotaryOptions = {}): Tensor {
  const op = 'applyRotary';
  assertFloat(x, op);
  assertFloat(cos, op);
  assertFloat(sin, op);
  const layout = opts.layout ?? 'half';
  if (layout !== 'half' && layout !== 'interleaved')
    throw new KilnError('E_ARG', `${op}: layout must be 'half' or 'interleaved', got '${String(layout)}'`);
  if (x.ndim < 2) throw new KilnError('E_SHAPE', `${op}: x [${x.shape}] must be at least 2-D [..., T, D]`);
  const D = x.shape[x.ndim - 1];
  const rd = opts.rotaryDim ?? D;
  if (!Number.isInteger(rd) || rd < 2 || rd % 2 !== 0 || rd > D)
    throw new KilnError('E_ARG', `${op}: rotaryDim ${rd} must be an even integer in [2, ${D}] (the last dim of x [${x.shape}])`);
  const tables = prepareTables(x, cos, sin, rd, layout === 'interleaved');
  const xc = contig(x);
  const y = rotate(xc, D, rd, tables, layout === 'interleaved', false);
  if (xc !== x) xc.dispose();
  record(y, 'applyRotary', [x], (g) => [rotate(contig(g), D, rd, tables, layout === 'interleaved', true)]);
  if (!y.node) {
    tables.cos.dispose();
    tables.sin.dispose();
  }
  return y;
}

function rotate(xc: Tensor, D: number, rd: number, t: Tables, interleaved: boolean, inverse: boolean): Tensor {
  const out = Tensor.empty(xc.shape);
  const rows = D === 0 ? 0 : xc.size / D;
  backend().rotary(dataOf(xc), rows, D, rd, dataOf(t.cos), dataOf(t.sin), t.tableRows, interleaved, inverse, dataOf(out));
  return out;
}

/** Compact contiguous [tableRows, rd/2] cos/sin whose row r % tableRows serves row r of x [rows, D]. */
function prepareTables(x: Tensor, cos: Tensor, sin: Tensor, rd: number, interleaved: boolean): Tables {
  const op = 'applyRotary';
  if (cos.ndim !== sin.ndim || cos.shape.some((n, i) => n !== sin.shape[i]))
    throw new KilnError('E_SHAPE', `${op}: cos [${cos.shape}] and sin [${sin.shape}] must have the same shape`);
  if (cos.ndim < 1) throw new KilnError('E_SHAPE', `${op}: cos/sin must be at least 1-D, e.g. [T, ${rd / 2}]`);
  const half = rd / 2;
  const last = cos.shape[cos.ndim - 1];
  if (last !== half && last !== rd)
    throw new KilnError('E_SHAPE', `${op}: cos/sin [${cos.shape}] must end in rotaryDim/2 = ${half} (or ${rd} when expanded); x is [${x.shape}]`);
  const xLead = x.shape.slice(0, -1); // [..., T]
  const cLead = cos.shape.slice(0, -1);
  // leading dims must broadcast to x's (never enlarge them)
  const ok = cLead.length <= xLead.length && cLead.every((n, i) => n === 1 || n === xLead[xLead.length - cLead.length + i]);
  if (!ok)
    throw new KilnError('E_SHAPE', `${op}: cos/sin [${cos.shape}] do not broadcast over x [${x.shape}]: their leading dims must match x's [..., T] = [${xLead}] or be 1`);
  let c = cos;
  let s = sin;
  const views: Tensor[] = [];
  if (last === rd) {
    // expanded: keep one copy of each angle, after checking the duplication matches the layout
    const first = (t: Tensor) => (interleaved ? slice(t, -1, 0, rd, 2) : slice(t, -1, 0, half));
    const second = (t: Tensor) => (interleaved ? slice(t, -1, 1, rd, 2) : slice(t, -1, half, rd));
    for (const [name, t] of [['cos', cos], ['sin', sin]] as const) {
      const f = first(t);
      const g = second(t);
      views.push(f, g);
      const a = f.data();
      const b = g.data();
      for (let i = 0; i < a.length; i++)
        if (a[i] !== b[i]) {
          for (const v of views) v.dispose();
          throw new KilnError('E_ARG', `${op}: ${name} [${t.shape}] is expanded to ${rd} columns but does not duplicate its angles the way layout '${interleaved ? 'interleaved' : 'half'}' does (${interleaved ? 'repeat_interleave(freqs, 2)' : 'cat(freqs, freqs)'}); pass the compact [..., T, ${half}] table or the matching layout`);
        }
    }
    c = views[0];
    s = views[2];
  }
  // Strip leading 1s; if the rest equals the trailing dims of x's leading shape, row r of x uses table row
  // r % numel(rest). Otherwise (a broadcast 1 in the middle, e.g. [B, 1, T] against [B, H, T]) the tables are
  // expanded to x's leading shape.
  let k = 0;
  while (k < cLead.length && cLead[k] === 1) k++;
  const core = cLead.slice(k);
  const suffix = xLead.slice(xLead.length - core.length);
  const shape = core.every((n, i) => n === suffix[i]) ? core : xLead;
  const tableRows = numel(shape);
  const copy = (t: Tensor): Tensor => {
    const out = Tensor.empty([tableRows, half]);
    backend().copy(broadcastView(t, [...shape, half]), { data: dataOf(out), shape: [...shape, half], strides: contiguousStrides([...shape, half]), offset: 0 });
    return out;
  };
  const tables = { cos: copy(c), sin: copy(s), tableRows };
  for (const v of views) v.dispose();
  return tables;
}

// ── frequency tables and YaRN ──

/** YaRN options, named after HF `rope_scaling` keys (type "yarn"). */
export interface YarnOptions {
  /** `factor`: context extension factor s (DeepSeek-V3: 40). */
  factor: number;
  /** `original_max_position_embeddings` (DeepSeek-V3: 4096). */
  originalMaxPositionEmbeddings: number;
  /** `beta_fast` (default 32). */
  betaFast?: number;
  /** `beta_slow` (default 1). */
  betaSlow?: number;
  /** `mscale` (default 1). */
  mscale?: number;
  /** `mscale_all_dim` (default 0). */
  mscaleAllDim?: number;
}

export interface RopeFrequencyOptions {
  /** YaRN scaling; omitted = plain RoPE. */
  yarn?: YarnOptions;
}

export interface RopeTables {
  /** cos(position·invFreq)·tableScale, [T, dim/2] f32. */
  cos: Tensor;
  /** sin(position·invFreq)·tableScale, [T, dim/2] f32. */
  sin: Tensor;
  /** The inverse frequencies [dim/2] (after YaRN blending), f64. */
  invFreq: Float64Array;
  /**
   * Already multiplied into cos/sin: yarn_get_mscale(factor, mscale) / yarn_get_mscale(factor, mscaleAllDim), as HF
   * DeepSeek-V3's `_mscale` (1 without YaRN; 1 for DeepSeek-V3's config, where mscale = mscale_all_dim = 1).
   */
  tableScale: number;
  /** yarn_get_mscale(factor, mscaleAllDim) (1 without YaRN). */
  mscale: number;
  /**
   * The attention-scale multiplier: multiply the softmax scale 1/√d_qk by this (mscale², HF DeepSeek-V3's
   * `softmax_scale * mscale * mscale`; ≈ 1.8739 for DeepSeek-V3; 1 without YaRN).
   */
  attentionScale: number;
}

/** HF `yarn_find_correction_dim`: the dim index whose wavelength turns `numRotations` times over `maxPos`. */
export function yarnFindCorrectionDim(numRotations: number, dim: number, base: number, maxPos: number): number {
  return (dim * Math.log(maxPos / (numRotations * 2 * Math.PI))) / (2 * Math.log(base));
}

/** HF `yarn_find_correction_range`: [max(floor(low), 0), min(ceil(high), dim − 1)]. */
export function yarnFindCorrectionRange(lowRot: number, highRot: number, dim: number, base: number, maxPos: number): [number, number] {
  const low = Math.floor(yarnFindCorrectionDim(lowRot, dim, base, maxPos));
  const high = Math.ceil(yarnFindCorrectionDim(highRot, dim, base, maxPos));
  return [Math.max(low, 0), Math.min(high, dim - 1)];
}

/** HF `yarn_get_mscale`: 1 when scale ≤ 1, else 0.1·mscale·ln(scale) + 1. */
export function yarnGetMscale(scale = 1, mscale = 1): number {
  if (scale <= 1) return 1.0;
  return 0.1 * mscale * Math.log(scale) + 1.0;
}

/** HF `yarn_linear_ramp_mask`: clamp((i − min)/(max − min), 0, 1) for i < dim (max += 0.001 when min == max). */
export function yarnLinearRampMask(min: number, max: number, dim: number): Float64Array {
  if (min === max) max += 0.001; // prevent singularity
  const out = new Float64Array(dim);
  for (let i = 0; i < dim; i++) out[i] = Math.min(Math.max((i - min) / (max - min), 0), 1);
  return out;
}

/**
 * cos/sin tables for RoPE over head dim `dim` (even) with base θ (`rope_theta`) at `positions` (a count n for
 * 0..n−1, a list, or a 1-D tensor of positions). Plain RoPE: invFreq_i = base^(−2i/dim). With `opts.yarn`
 * (HF DeepSeek-V3's `DeepseekV3YarnRotaryEmbedding`):
 *   freq_extra = base^(−2i/dim), freq_inter = freq_extra / factor,
 *   [low, high] = yarn_find_correction_range(beta_fast, beta_slow, dim, base, original_max_position_embeddings),
 *   m = 1 − yarn_linear_ramp_mask(low, high, dim/2), invFreq = freq_inter·(1 − m) + freq_extra·m,
 *   tables × yarn_get_mscale(factor, mscale) / yarn_get_mscale(factor, mscale_all_dim).
 */
export function ropeFrequencies(dim: number, base: number, positions: number | readonly number[] | Tensor, opts: RopeFrequencyOptions = {}): RopeTables {
  const op = 'ropeFrequencies';
  if (!Number.isInteger(dim) || dim < 2 || dim % 2 !== 0) throw new KilnError('E_ARG', `${op}: dim must be an even integer ≥ 2, got ${dim}`);
  if (!(base > 1)) throw new KilnError('E_ARG', `${op}: base (rope_theta) must be > 1, got ${base}`);
  const pos = positionList(positions, op);
  const half = dim / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(base, (2 * i) / dim);
  let tableScale = 1;
  let mscale = 1;
  const y = opts.yarn;
  if (y) {
    const { factor, originalMaxPositionEmbeddings: orig } = y;
    const betaFast = y.betaFast ?? 32;
    const betaSlow = y.betaSlow ?? 1;
    if (!(factor > 0) || !(orig > 0))
      throw new KilnError('E_ARG', `${op}: yarn.factor (${factor}) and yarn.originalMaxPositionEmbeddings (${orig}) must be positive`);
    const [low, high] = yarnFindCorrectionRange(betaFast, betaSlow, dim, base, orig);
    const ramp = yarnLinearRampMask(low, high, half);
    for (let i = 0; i < half; i++) {
      const extra = invFreq[i];
      const inter = 1 / (factor * Math.pow(base, (2 * i) / dim));
      const m = 1 - ramp[i];
      invFreq[i] = inter * (1 - m) + extra * m;
    }
    mscale = yarnGetMscale(factor, y.mscaleAllDim ?? 0);
    tableScale = yarnGetMscale(factor, y.mscale ?? 1) / mscale;
  }
  const T = pos.length;
  const cos = Tensor.empty([T, half]);
  const sin = Tensor.empty([T, half]);
  const c = dataOf(cos);
  const s = dataOf(sin);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const a = pos[t] * invFreq[i];
      c[t * half + i] = Math.cos(a) * tableScale;
      s[t * half + i] = Math.sin(a) * tableScale;
    }
  }
  return { cos, sin, invFreq, tableScale, mscale, attentionScale: mscale * mscale };
}

function positionList(positions: number | readonly number[] | Tensor, op: string): ArrayLike<number> {
  if (typeof positions === 'number') {
    if (!Number.isInteger(positions) || positions < 0) throw new KilnError('E_ARG', `${op}: a position count must be a non-negative integer, got ${positions}`);
    return Float64Array.from({ length: positions }, (_, i) => i);
  }
  if (positions instanceof Tensor) {
    if (positions.ndim !== 1) throw new KilnError('E_SHAPE', `${op}: positions must be a 1-D tensor, got [${positions.shape}]`);
    if (positions.dtype !== 'f32' && positions.dtype !== 'i32')
      throw new KilnError('E_DTYPE', `${op}: positions must be f32 or i32, got ${positions.dtype}`);
    return positions.data() as Float32Array | Int32Array;
  }
  return positions;
}
