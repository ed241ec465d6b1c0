/**
 * Diffusion caches for the Aquarius DiTs: skip the transformer's block stack on sampler calls where its input has
 * changed little since the last computed call, reusing the residual (output − input) the stack added then.
 *
 * - TeaCache (Liu et al. 2024, "Timestep Embedding Tells: It's Time to Cache for Video Diffusion Model"): the
 *   indicator is block 0's timestep-modulated input m_i = norm1(x)·(1 + scale) + shift. Per call i it accumulates
 *   acc += max(0, p(‖m_i − m_{i−1}‖₁ / ‖m_{i−1}‖₁)) where p is a polynomial rescaling (identity by default; fitted
 *   on the model's own trajectories by `fitTeaCache`, mapping the input's relative L1 change to the block-stack
 *   output's). If acc < threshold the stack is skipped: hidden = x + the last computed residual; otherwise it runs,
 *   its residual is stored and acc resets to 0. m_{i−1} is always the previous call's indicator (as TeaCache).
 * - First-block cache (FBCache, ParaAttention's "first block cache"): block 0 always runs; its residual r_i = block0(x)
 *   − x is compared with r at the last computed call: if ‖r_i − r_last‖₁ / ‖r_last‖₁ < threshold the remaining blocks
 *   are skipped (hidden = block0(x) + the last computed residual of blocks 1..N); otherwise they run and r_last = r_i.
 * - Forecasting (optional, `:taylor` suffix; TaylorSeer, Liu et al. 2025, "From Reusing to Forecasting"): a skip
 *   extrapolates the residual linearly from the last two computed calls in σ, r ≈ r_1 + (r_1 − r_0)·(σ − σ_1)/(σ_1 − σ_0),
 *   instead of reusing r_1 as is (TeaCache/FBCache proper). Same decisions, same cost, one more kept tensor.
 * - The first and the last call of a sampling run are always computed. Threshold 0 never skips, so it reproduces the
 *   uncached output bit for bit (when every stream computes, the full batch runs through exactly `forward`'s ops).
 * - Streams: a CFG batch holds the conditional and the unconditional rows; each stream (a contiguous range of
 *   batch rows) keeps its own cache state and decides on its own; the streams that compute run together.
 *
 * Settings are strings for CLIs: 'none', 'teacache:<threshold>', 'fbcache:<threshold>' (`parseCacheSetting`).
 * The cache holds kept tensors between calls; call `dispose()` when the sampling run ends.
 */
import { KilnError } from '../errors.js';
import type { DitPass } from '../models/dit/single-dit.js';
import { cat } from '../tensor/ops/shape.js';
import { keep } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

export type CacheSetting =
  | { kind: 'none' }
  /** coefficients: polynomial rescaling of the relative L1 change, highest degree first (numpy.poly1d order). */
  | { kind: 'teacache'; threshold: number; coefficients?: readonly number[]; taylor?: boolean }
  | { kind: 'fbcache'; threshold: number; taylor?: boolean };

/** 'none' | 'teacache:0.1' | 'fbcache:0.05' (also a CacheSetting passed through). */
export function parseCacheSetting(spec: string | CacheSetting | null | undefined): CacheSetting {
  if (spec === null || spec === undefined) return { kind: 'none' };
  if (typeof spec !== 'string') return checkSetting(spec);
  const s = spec.trim().toLowerCase();
  if (s === 'none' || s === 'off' || s === '') return { kind: 'none' };
  const m = /^(teacache|fbcache)(?::([0-9]*\.?[0-9]+(?:e-?[0-9]+)?))?(:taylor)?$/.exec(s);
  if (!m)
    throw new KilnError('E_ARG', `cache setting '${spec}' is not understood; use 'none', 'teacache:<threshold>' (e.g. teacache:0.1) or 'fbcache:<threshold>' (e.g. fbcache:0.05), optionally with ':taylor' (extrapolate the residual)`);
  const threshold = m[2] === undefined ? (m[1] === 'teacache' ? 0.1 : 0.05) : Number(m[2]);
  return checkSetting({ kind: m[1] as 'teacache' | 'fbcache', threshold, ...(m[3] ? { taylor: true } : {}) });
}

function checkSetting(c: CacheSetting): CacheSetting {
  if (c.kind !== 'none' && (!Number.isFinite(c.threshold) || c.threshold < 0))
    throw new KilnError('E_ARG', `cache ${c.kind}: threshold must be a finite number ≥ 0, got ${c.threshold}`);
  if (c.kind === 'teacache' && c.coefficients && (c.coefficients.length === 0 || c.coefficients.some((v) => !Number.isFinite(v))))
    throw new KilnError('E_ARG', `cache teacache: coefficients must be a non-empty list of finite numbers (highest degree first), got [${c.coefficients}]`);
  return c;
}

export function describeCacheSetting(c: CacheSetting): string {
  if (c.kind === 'none') return 'none';
  return `${c.kind}:${c.threshold}${c.taylor ? ':taylor' : ''}${c.kind === 'teacache' && c.coefficients ? ' (rescaled)' : ''}`;
}

/** p(x) with coefficients highest degree first. */
export function polyval(coefficients: readonly number[], x: number): number {
  let y = 0;
  for (const c of coefficients) y = y * x + c;
  return y;
}

/** ‖a − b‖₁ / ‖b‖₁ (means), read back as a number. */
export function relativeL1(a: Tensor, b: Tensor): number {
  const den = b.abs().mean().item();
  const num = a.sub(b).abs().mean().item();
  return den === 0 ? (num === 0 ? 0 : Infinity) : num / den;
}

/** One sampler call as seen by a stream: whether the stack ran, and the change measures the decision used. */
export interface CacheTraceEntry {
  call: number;
  stream: number;
  computed: boolean;
  /** relative L1 change of the indicator (TeaCache: modulated input; FBCache: first-block residual); null at call 0 */
  relInput: number | null;
  /** relative L1 change of the block-stack output vs the previous call's (only when computed twice in a row) */
  relOutput: number | null;
}

export interface CacheStats {
  setting: string;
  /** sampler calls (denoiser evaluations) */
  calls: number;
  /** per stream: calls whose block stack ran, and the call indices skipped */
  streams: { computed: number; skipped: number; skippedCalls: number[] }[];
}

interface StreamState {
  prevIndicator: Tensor | null; // TeaCache: previous modulated input; FBCache: first-block residual at the last computed call
  residual: Tensor | null; // the cached residual to add on a skip
  older: Tensor | null; // the residual of the computed call before (forecasting)
  at: number; // σ (or call index) of `residual`
  olderAt: number;
  acc: number;
  prevOutput: Tensor | null; // for tracing only
  computed: number;
  skippedCalls: number[];
}

function replace(old: Tensor | null, t: Tensor): Tensor {
  old?.dispose();
  return keep(t);
}

/**
 * The cache of one sampling run over `streams` equal row ranges of the batch. `run(pass, call, totalCalls)`
 * evaluates one denoiser call through the cache and returns the velocity (the pass's head output).
 */
export class DiffusionCache {
  readonly setting: CacheSetting;
  private state: StreamState[];
  private calls = 0;

  constructor(setting: CacheSetting | string | null, readonly streams = 1, readonly trace?: CacheTraceEntry[]) {
    this.setting = parseCacheSetting(setting);
    if (!Number.isInteger(streams) || streams < 1) throw new KilnError('E_ARG', `DiffusionCache: streams must be a positive integer, got ${streams}`);
    this.state = Array.from({ length: streams }, () => ({ prevIndicator: null, residual: null, older: null, at: 0, olderAt: 0, acc: 0, prevOutput: null, computed: 0, skippedCalls: [] }));
  }

  stats(): CacheStats {
    return {
      setting: describeCacheSetting(this.setting),
      calls: this.calls,
      streams: this.state.map((s) => ({ computed: s.computed, skipped: s.skippedCalls.length, skippedCalls: [...s.skippedCalls] })),
    };
  }

  /**
   * Velocity for one call (call index `call` of `totalCalls` in this run); `sigma` (the call's noise level) places
   * the call for forecasting (the call index when omitted).
   */
  run(pass: DitPass, call: number, totalCalls: number, sigma?: number): Tensor {
    const at = sigma ?? call;
    this.calls++;
    const n = pass.numBlocks;
    const S = this.streams;
    if (pass.batch % S !== 0) throw new KilnError('E_SHAPE', `DiffusionCache: batch ${pass.batch} does not split into ${S} streams`);
    const rows = pass.batch / S;
    const forced = call === 0 || call >= totalCalls - 1;
    const c = this.setting;
    if (c.kind === 'none') {
      this.state.forEach((s) => s.computed++);
      return pass.head(pass.blocks(pass.x, 0, n));
    }
    const slice = (t: Tensor, i: number) => (S === 1 ? t : t.slice(0, i * rows, (i + 1) * rows));
    // the stack's input (TeaCache: the embedding; FBCache: block 0's output) and the indicator per stream
    const start = c.kind === 'teacache' ? 0 : Math.min(1, n);
    const x0 = pass.x;
    const input = c.kind === 'teacache' ? x0 : pass.blocks(x0, 0, start);
    const indicator = c.kind === 'teacache' ? pass.modulatedInput(x0) : input.sub(x0);
    const compute: boolean[] = [];
    const rel: (number | null)[] = [];
    for (let i = 0; i < S; i++) {
      const s = this.state[i];
      const ind = slice(indicator, i);
      const r = s.prevIndicator ? relativeL1(ind, s.prevIndicator) : null;
      rel.push(r);
      let run = forced || s.residual === null || r === null;
      if (c.kind === 'teacache') {
        if (run) s.acc = 0;
        else {
          s.acc += Math.max(0, c.coefficients ? polyval(c.coefficients, r!) : r!);
          if (s.acc < c.threshold) run = false;
          else {
            run = true;
            s.acc = 0;
          }
        }
        s.prevIndicator = replace(s.prevIndicator, ind);
      } else {
        if (!run) run = !(r! < c.threshold);
        if (run) s.prevIndicator = replace(s.prevIndicator, ind);
      }
      compute.push(run);
    }
    // run the computing streams together (the whole batch when all compute: exactly forward's ops)
    const keepResidual = (q: number, out: Tensor, inp: Tensor) => {
      const s = this.state[q];
      const r = out.sub(inp);
      if (c.taylor) {
        s.older?.dispose();
        s.older = s.residual;
        s.olderAt = s.at;
        s.residual = keep(r);
      } else s.residual = replace(s.residual, r);
      s.at = at;
      s.computed++;
      this.traceEntry(q, true, rel[q], s, out);
    };
    let hidden: Tensor;
    if (compute.every((v) => v)) {
      hidden = pass.blocks(input, start, n);
      for (let q = 0; q < S; q++) keepResidual(q, slice(hidden, q), slice(input, q));
    } else {
      const parts: Tensor[] = [];
      for (let i = 0; i < S; ) {
        let j = i;
        while (j < S && compute[j] === compute[i]) j++;
        if (compute[i]) {
          const out = pass.rows(i * rows, j * rows).blocks(input.slice(0, i * rows, j * rows), start, n);
          parts.push(out);
          for (let q = i; q < j; q++) keepResidual(q, out.slice(0, (q - i) * rows, (q - i + 1) * rows), slice(input, q));
        } else {
          for (let q = i; q < j; q++) {
            const s = this.state[q];
            const r = c.taylor && s.older && s.at !== s.olderAt ? s.residual!.add(s.residual!.sub(s.older).mul((at - s.at) / (s.at - s.olderAt))) : s.residual!;
            parts.push(slice(input, q).add(r));
            s.skippedCalls.push(call);
            this.traceEntry(q, false, rel[q], s, null);
          }
        }
        i = j;
      }
      hidden = parts.length === 1 ? parts[0] : cat(parts, 0);
    }
    return pass.head(hidden);
  }

  private traceEntry(stream: number, computed: boolean, relInput: number | null, s: StreamState, out: Tensor | null): void {
    if (!this.trace) return;
    let relOutput: number | null = null;
    if (out && s.prevOutput) relOutput = relativeL1(out, s.prevOutput);
    if (out) s.prevOutput = replace(s.prevOutput, out);
    else {
      s.prevOutput?.dispose();
      s.prevOutput = null;
    }
    this.trace.push({ call: this.calls - 1, stream, computed, relInput, relOutput });
  }

  dispose(): void {
    for (const s of this.state) {
      for (const t of [s.prevIndicator, s.residual, s.older, s.prevOutput]) t?.dispose();
      s.prevIndicator = s.residual = s.older = s.prevOutput = null;
    }
  }
}

/**
 * Least-squares polynomial fit y ≈ p(x) of `degree` (coefficients highest degree first), in f64 by the normal
 * equations on x scaled to [0, 1] (then unscaled).
 */
export function polyfit(xs: readonly number[], ys: readonly number[], degree: number): number[] {
  if (xs.length !== ys.length || xs.length < degree + 1)
    throw new KilnError('E_ARG', `polyfit: need at least ${degree + 1} (x, y) pairs of equal count, got ${xs.length} and ${ys.length}`);
  const scale = Math.max(...xs.map(Math.abs)) || 1;
  const m = degree + 1;
  const A = Array.from({ length: m }, () => new Float64Array(m + 1));
  for (let k = 0; k < xs.length; k++) {
    const u = xs[k] / scale;
    const pw = Array.from({ length: m }, (_, i) => u ** i);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) A[i][j] += pw[i] * pw[j];
      A[i][m] += pw[i] * ys[k];
    }
  }
  for (let i = 0; i < m; i++) A[i][i] += 1e-12; // tiny ridge for degenerate sets
  for (let col = 0; col < m; col++) {
    let piv = col;
    for (let r = col + 1; r < m; r++) if (Math.abs(A[r][col]) > Math.abs(A[piv][col])) piv = r;
    [A[col], A[piv]] = [A[piv], A[col]];
    for (let r = 0; r < m; r++) {
      if (r === col) continue;
      const f = A[r][col] / A[col][col];
      for (let j = col; j <= m; j++) A[r][j] -= f * A[col][j];
    }
  }
  const low = Array.from({ length: m }, (_, i) => A[i][m] / A[i][i] / scale ** i); // ascending powers of x
  return low.reverse();
}

/**
 * TeaCache's rescaling from traced runs: fits relOutput ≈ p(relInput) over the calls where both are known
 * (threshold-0 runs compute every call, so every call after the first has both).
 */
export function fitTeaCache(trace: readonly CacheTraceEntry[], degree = 2): number[] {
  const pts = trace.filter((e) => e.relInput !== null && e.relOutput !== null && Number.isFinite(e.relInput) && Number.isFinite(e.relOutput));
  return polyfit(pts.map((e) => e.relInput!), pts.map((e) => e.relOutput!), degree);
}
