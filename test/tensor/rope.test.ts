/**
 * Tests for src/tensor/ops/rope.ts: both rotary layouts against a scalar f64 reference (partial rotaryDim, expanded
 * and broadcast tables), the layouts' relation by a fixed permutation, a finite-difference gradient check, norm
 * preservation, the relative-position property, and RoPE / YaRN tables against a fixture produced by a numpy
 * transliteration of HF DeepSeek-V3's YaRN code (scripts/fixtures/gen-yarn-reference.py).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  Generator, Tensor, applyRotary, cat, fromArray, mul, noGrad, randn, ropeFrequencies, sum, tidy, yarnFindCorrectionDim,
  yarnFindCorrectionRange, yarnGetMscale, yarnLinearRampMask, type RotaryLayout,
} from '../../src/tensor/index.js';
import { KilnError } from '../../src/errors.js';

const f32 = (t: Tensor): Float32Array => Float32Array.from(t.data() as Float32Array);

/** Scalar f64 rotary of x [N, T, D] with angles theta[t][i] (i < rd/2). */
function scalarRotary(x: Float32Array, N: number, T: number, D: number, rd: number, theta: (n: number, t: number, i: number) => number, layout: RotaryLayout): Float64Array {
  const out = Float64Array.from(x);
  const half = rd / 2;
  for (let n = 0; n < N; n++)
    for (let t = 0; t < T; t++) {
      const o = (n * T + t) * D;
      for (let i = 0; i < half; i++) {
        const [ia, ib] = layout === 'interleaved' ? [o + 2 * i, o + 2 * i + 1] : [o + i, o + i + half];
        const a = theta(n, t, i);
        out[ia] = x[ia] * Math.cos(a) - x[ib] * Math.sin(a);
        out[ib] = x[ib] * Math.cos(a) + x[ia] * Math.sin(a);
      }
    }
  return out;
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, atol: number): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++)
    assert.ok(Math.abs(got[i] - want[i]) <= atol, `${what}[${i}]: got ${got[i]}, want ${want[i]}`);
}

/** Angle table [T, half] as a tensor, and the function giving its f64 values. */
function angles(T: number, half: number, gen: Generator): { cos: Tensor; sin: Tensor; theta: (t: number, i: number) => number } {
  const th = new Float64Array(T * half);
  for (let i = 0; i < th.length; i++) th[i] = Math.fround(6 * gen.uniform() - 3);
  const theta = (t: number, i: number) => th[t * half + i];
  return { cos: fromArray(th.map(Math.cos), [T, half]), sin: fromArray(th.map(Math.sin), [T, half]), theta };
}

for (const layout of ['half', 'interleaved'] as const)
  for (const rd of [8, 6]) {
    test(`applyRotary '${layout}' rotaryDim ${rd} of 8 matches the scalar reference (compact, expanded, broadcast tables)`, () => {
      const gen = new Generator(rd + (layout === 'half' ? 0 : 1));
      const [B, H, T, D] = [2, 3, 5, 8];
      const half = rd / 2;
      const x = randn([B, H, T, D], { generator: gen });
      const { cos, sin, theta } = angles(T, half, gen);
      const want = scalarRotary(x.data() as Float32Array, B * H, T, D, rd, (_n, t, i) => theta(t, i), layout);
      const y = applyRotary(x, cos, sin, { layout, rotaryDim: rd });
      assert.deepEqual(y.shape, [B, H, T, D]);
      assertClose(f32(y), want, 'compact [T, rd/2]', 2e-6);
      if (rd < D) {
        // the unrotated tail is copied exactly
        const xs = x.data() as Float32Array;
        const ys = f32(y);
        for (let r = 0; r < B * H * T; r++) for (let d = rd; d < D; d++) assert.equal(ys[r * D + d], xs[r * D + d]);
      }
      // expanded tables in the layout's own duplication give the same result
      const expand = (t: Tensor) => (layout === 'half' ? cat([t, t], -1) : t.unsqueeze(-1).expand([T, half, 2]).reshape([T, rd]));
      assertClose(f32(applyRotary(x, expand(cos), expand(sin), { layout, rotaryDim: rd })), f32(y), 'expanded [T, rd]', 0);
      // a leading broadcast dim in the middle ([B, 1, T, rd/2], per-batch positions)
      const { cos: c2, sin: s2, theta: th2 } = angles(B * T, half, gen);
      const cb = c2.reshape([B, 1, T, half]);
      const sb = s2.reshape([B, 1, T, half]);
      const want2 = scalarRotary(x.data() as Float32Array, B * H, T, D, rd, (n, t, i) => th2(Math.floor(n / H) * T + t, i), layout);
      assertClose(f32(applyRotary(x, cb, sb, { layout, rotaryDim: rd })), want2, 'broadcast [B, 1, T, rd/2]', 2e-6);
      // a non-contiguous x (a transposed [B, T, H, D] view) is handled
      const xt = x.transpose(1, 2).contiguous().transpose(1, 2);
      assert.ok(!xt.isContiguous);
      assertClose(f32(applyRotary(xt, cos, sin, { layout, rotaryDim: rd })), f32(y), 'strided x', 0);
    });
  }

test("the layouts differ by a fixed permutation: interleaved(x) = P⁻¹ half(P x) with P de-interleaving the pairs", () => {
  const gen = new Generator(5);
  const [T, D] = [7, 12];
  const x = randn([2, T, D], { generator: gen });
  const { cos, sin } = angles(T, D / 2, gen);
  const perm = [...Array.from({ length: D / 2 }, (_, i) => 2 * i), ...Array.from({ length: D / 2 }, (_, i) => 2 * i + 1)];
  const xs = x.data() as Float32Array;
  const px = fromArray(Array.from({ length: xs.length }, (_, j) => xs[Math.floor(j / D) * D + perm[j % D]]), x.shape);
  const yi = f32(applyRotary(x, cos, sin, { layout: 'interleaved' }));
  const yh = f32(applyRotary(px, cos, sin, { layout: 'half' }));
  for (let r = 0; r < 2 * T; r++) for (let j = 0; j < D; j++) assert.equal(yi[r * D + perm[j]], yh[r * D + j]);
});

test('applyRotary gradient: finite differences and rotation by −θ', () => {
  for (const layout of ['half', 'interleaved'] as const) {
    const gen = new Generator(9);
    const [T, D, rd] = [3, 6, 4];
    const x = randn([2, T, D], { generator: gen });
    const G = randn([2, T, D], { generator: gen });
    const { cos, sin } = angles(T, rd / 2, gen);
    const grad = tidy(() => {
      const xx = x.detach().requiresGrad_();
      sum(mul(applyRotary(xx, cos, sin, { layout, rotaryDim: rd }), G)).backward();
      return f32(xx.grad!);
    });
    const g = G.data() as Float32Array;
    const xd = x.storage.data as Float32Array;
    const loss = () => noGrad(() => {
      const y = applyRotary(x, cos, sin, { layout, rotaryDim: rd }).data() as Float32Array;
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * g[i];
      return s;
    });
    const numeric = new Float64Array(x.size);
    for (let i = 0; i < x.size; i++) {
      const x0 = xd[i];
      xd[i] = x0 + 1e-2;
      const up = xd[i];
      const lp = loss();
      xd[i] = x0 - 1e-2;
      const dn = xd[i];
      const lm = loss();
      xd[i] = x0;
      numeric[i] = (lp - lm) / (up - dn);
    }
    assertClose(grad, numeric, `${layout}: dx vs finite differences`, 2e-3);
    // the gradient of Σ y∘G is R(−θ)·G: rotating it forward by θ gives G back
    const back = f32(applyRotary(fromArray(grad, x.shape), cos, sin, { layout, rotaryDim: rd }));
    assertClose(back, g, `${layout}: R(θ)·dx = G`, 2e-6);
  }
});

test('rotation preserves the norm of every rotated pair and row', () => {
  const gen = new Generator(13);
  const [T, D] = [16, 64];
  const x = randn([3, T, D], { generator: gen });
  const { cos, sin } = ropeFrequencies(D, 10000, T);
  for (const layout of ['half', 'interleaved'] as const) {
    const y = f32(applyRotary(x, cos, sin, { layout }));
    const xs = x.data() as Float32Array;
    for (let r = 0; r < 3 * T; r++) {
      for (let i = 0; i < D / 2; i++) {
        const [a, b] = layout === 'interleaved' ? [2 * i, 2 * i + 1] : [i, i + D / 2];
        const nx = Math.hypot(xs[r * D + a], xs[r * D + b]);
        const ny = Math.hypot(y[r * D + a], y[r * D + b]);
        assert.ok(Math.abs(nx - ny) <= 1e-5 * (1 + nx), `${layout} row ${r} pair ${i}: |x| ${nx} vs |y| ${ny}`);
      }
    }
  }
});

test('relative position: ⟨R(q, m), R(k, n)⟩ depends only on m − n', () => {
  const gen = new Generator(17);
  const D = 32;
  const q = randn([1, D], { generator: gen });
  const k = randn([1, D], { generator: gen });
  const dotAt = (m: number, n: number, layout: RotaryLayout): number => {
    const a = ropeFrequencies(D, 10000, [m]);
    const b = ropeFrequencies(D, 10000, [n]);
    const rq = applyRotary(q, a.cos, a.sin, { layout }).data() as Float32Array;
    const rk = applyRotary(k, b.cos, b.sin, { layout }).data() as Float32Array;
    let s = 0;
    for (let i = 0; i < D; i++) s += rq[i] * rk[i];
    return s;
  };
  for (const layout of ['half', 'interleaved'] as const) {
    for (const delta of [0, 1, 5, -3, 40]) {
      const ref = dotAt(100 + delta, 100, layout);
      for (const n of [0, 7, 333, 1000]) {
        const d = dotAt(n + delta, n, layout);
        assert.ok(Math.abs(d - ref) < 1e-4 * (1 + Math.abs(ref)), `${layout} Δ=${delta} n=${n}: ${d} vs ${ref}`);
      }
    }
    // and it does change with the offset (the test can fail)
    assert.ok(Math.abs(dotAt(5, 0, layout) - dotAt(0, 0, layout)) > 1e-3);
  }
});

interface FixtureCase {
  name: string;
  dim: number;
  base: number;
  yarn: null | { factor: number; original_max_position_embeddings: number; beta_fast: number; beta_slow: number; mscale: number; mscale_all_dim: number };
  positions: number[];
  inv_freq_f64: number[];
  inv_freq_hf_f32: number[];
  cos: number[];
  sin: number[];
  table_scale: number;
  mscale: number;
  attention_scale: number;
  correction_range?: [number, number];
  correction_dim_fast?: number;
  correction_dim_slow?: number;
}

interface Fixture {
  cases: FixtureCase[];
  ranges: { beta_fast: number; beta_slow: number; dim: number; base: number; orig: number; dims: [number, number]; range: [number, number] }[];
  ramps: { min: number; max: number; dim: number; values: number[] }[];
  mscales: { scale: number; mscale: number; value: number }[];
}

const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/rope/yarn-reference.json', import.meta.url)), 'utf8')) as Fixture;

for (const c of fixture.cases) {
  test(`ropeFrequencies matches the HF DeepSeek-V3 YaRN transliteration: ${c.name}`, () => {
    const y = c.yarn;
    const opts = y
      ? { yarn: { factor: y.factor, originalMaxPositionEmbeddings: y.original_max_position_embeddings, betaFast: y.beta_fast, betaSlow: y.beta_slow, mscale: y.mscale, mscaleAllDim: y.mscale_all_dim } }
      : {};
    const r = ropeFrequencies(c.dim, c.base, c.positions, opts);
    assert.deepEqual(r.cos.shape, [c.positions.length, c.dim / 2]);
    for (let i = 0; i < c.dim / 2; i++) {
      assert.ok(Math.abs(r.invFreq[i] - c.inv_freq_f64[i]) <= 1e-13 * c.inv_freq_f64[i], `invFreq[${i}] ${r.invFreq[i]} vs ${c.inv_freq_f64[i]}`);
      // HF's own float32 buffers agree to f32 precision
      assert.ok(Math.abs(r.invFreq[i] - c.inv_freq_hf_f32[i]) <= 4e-7 * c.inv_freq_f64[i], `invFreq[${i}] vs HF f32 ${c.inv_freq_hf_f32[i]}`);
    }
    assertClose(f32(r.cos), c.cos, 'cos', 1e-6);
    assertClose(f32(r.sin), c.sin, 'sin', 1e-6);
    assert.ok(Math.abs(r.tableScale - c.table_scale) < 1e-15, `tableScale ${r.tableScale} vs ${c.table_scale}`);
    assert.ok(Math.abs(r.mscale - c.mscale) < 1e-15, `mscale ${r.mscale} vs ${c.mscale}`);
    assert.ok(Math.abs(r.attentionScale - c.attention_scale) < 1e-14, `attentionScale ${r.attentionScale} vs ${c.attention_scale}`);
    if (y) {
      assert.deepEqual(yarnFindCorrectionRange(y.beta_fast, y.beta_slow, c.dim, c.base, y.original_max_position_embeddings), c.correction_range);
      assert.ok(Math.abs(yarnFindCorrectionDim(y.beta_fast, c.dim, c.base, y.original_max_position_embeddings) - c.correction_dim_fast!) < 1e-12);
      assert.ok(Math.abs(yarnFindCorrectionDim(y.beta_slow, c.dim, c.base, y.original_max_position_embeddings) - c.correction_dim_slow!) < 1e-12);
    }
  });
}

test('YaRN helpers: correction dims and ranges (floor/ceil, clamps), linear ramp (min == max), get_mscale', () => {
  for (const r of fixture.ranges) {
    const what = `beta ${r.beta_fast}/${r.beta_slow} dim ${r.dim} base ${r.base} orig ${r.orig}`;
    assert.deepEqual(yarnFindCorrectionRange(r.beta_fast, r.beta_slow, r.dim, r.base, r.orig), r.range, what);
    for (const [i, beta] of [r.beta_fast, r.beta_slow].entries())
      assert.ok(Math.abs(yarnFindCorrectionDim(beta, r.dim, r.base, r.orig) - r.dims[i]) < 1e-12, what);
  }
  for (const r of fixture.ramps) assertClose(yarnLinearRampMask(r.min, r.max, r.dim), r.values, `ramp(${r.min}, ${r.max}, ${r.dim})`, 1e-12);
  for (const m of fixture.mscales) assert.ok(Math.abs(yarnGetMscale(m.scale, m.mscale) - m.value) < 1e-15, `mscale(${m.scale}, ${m.mscale})`);
  // DeepSeek-V3: softmax scale multiplier (0.1·ln 40 + 1)²
  const v3 = ropeFrequencies(64, 10000, 1, { yarn: { factor: 40, originalMaxPositionEmbeddings: 4096, mscaleAllDim: 1 } });
  assert.ok(Math.abs(v3.attentionScale - (0.1 * Math.log(40) + 1) ** 2) < 1e-15);
});

test('ropeFrequencies accepts a count, a list and a tensor of positions', () => {
  const a = ropeFrequencies(16, 10000, 5);
  const b = ropeFrequencies(16, 10000, [0, 1, 2, 3, 4]);
  const c = ropeFrequencies(16, 10000, fromArray(new Int32Array([0, 1, 2, 3, 4]), [5]));
  assert.deepEqual(f32(a.cos), f32(b.cos));
  assert.deepEqual(f32(a.sin), f32(c.sin));
  // row t, column i = cos(t · 10000^(−2i/16))
  assert.ok(Math.abs((a.cos.data() as Float32Array)[3 * 8 + 2] - Math.cos(3 * 10000 ** (-4 / 16))) < 1e-7);
});

test('applyRotary and ropeFrequencies report bad arguments', () => {
  const x = randn([2, 4, 8]);
  const { cos, sin } = ropeFrequencies(8, 10000, 4);
  const kErr = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof KilnError && re.test(e.message));
  kErr(() => applyRotary(x, cos, sin, { rotaryDim: 5 }), /rotaryDim/);
  kErr(() => applyRotary(x, cos, sin, { rotaryDim: 10 }), /rotaryDim/);
  kErr(() => applyRotary(x, cos, sin, { rotaryDim: 6 }), /must end in/);
  kErr(() => applyRotary(x, ropeFrequencies(8, 10000, 5).cos, ropeFrequencies(8, 10000, 5).sin), /broadcast/);
  kErr(() => applyRotary(x, cos, sin.slice(0, 0, 3)), /same shape/);
  kErr(() => applyRotary(x, cos, sin, { layout: 'rotate' as RotaryLayout }), /layout/);
  // an HF-style cat(freqs, freqs) table used with the interleaved layout is caught
  kErr(() => applyRotary(x, cat([cos, cos], -1), cat([sin, sin], -1), { layout: 'interleaved' }), /duplicate/);
  kErr(() => ropeFrequencies(7, 10000, 4), /even/);
  kErr(() => ropeFrequencies(8, 1, 4), /base/);
});
