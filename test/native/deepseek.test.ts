/**
 * Parity of the native DeepSeek-V3 fused decode kernels (native/kernels-deepseek.cc via src/backend/native/deepseek.ts)
 * with the reference (src/backend/ts/deepseek.ts): `mlaDecode` (q LoRA or plain q_proj, interleaved or half RoPE,
 * empty or filled cache, 1 … 5 new rows, in place) and `moeDecode` (group-limited routing, with and without
 * normalised gates, shared expert or none, the dense E = 0 form, in place), odd sizes, on every ISA this CPU has and
 * on 1 and 2 threads, `linearRows` (the few-row head product) and `moeSelect` (the routing alone); chosen experts identical, outputs and cache rows within f32 summation tolerance; bad arguments
 * throw E_ARG. Skips when the addon is absent unless KILN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MLA_DIMS, MOE_DIMS } from '../../src/backend/backend.js';
import { tsBackend } from '../../src/backend/index.js';
import { KilnError } from '../../src/errors.js';
import { assertClose, assertSame, eachConfig, nativeSetup, randn, rng, skip } from './kernel-parity.js';

interface MlaCase { d: number; H: number; n: number; p: number; v: number; r: number; qr: number; T: number; len: number; interleaved: boolean }

function mlaInputs(c: MlaCase, seed: number) {
  const g = rng(seed);
  const dims = new Float64Array(10);
  dims[MLA_DIMS.d] = c.d; dims[MLA_DIMS.H] = c.H; dims[MLA_DIMS.n] = c.n; dims[MLA_DIMS.p] = c.p; dims[MLA_DIMS.v] = c.v;
  dims[MLA_DIMS.r] = c.r; dims[MLA_DIMS.qr] = c.qr; dims[MLA_DIMS.eps] = 1e-6; dims[MLA_DIMS.scale] = 1 / Math.sqrt(c.n + c.p);
  dims[MLA_DIMS.interleaved] = c.interleaved ? 1 : 0;
  const qk = c.n + c.p;
  const w = c.r + c.p;
  const theta = Float64Array.from({ length: c.T * (c.p / 2) }, () => g() * 6);
  return {
    dims,
    x: randn(g, c.T * c.d, 2),
    norm: randn(g, c.d).map((v) => 1 + 0.3 * v),
    qA: c.qr ? randn(g, c.qr * c.d, 0.3) : null,
    qANorm: c.qr ? randn(g, c.qr).map((v) => 1 + 0.3 * v) : null,
    qB: randn(g, c.H * qk * (c.qr || c.d), 0.3),
    kvA: randn(g, w * c.d, 0.3),
    kvANorm: randn(g, c.r).map((v) => 1 + 0.3 * v),
    kvB: randn(g, c.H * (c.n + c.v) * c.r, 0.3),
    o: randn(g, c.d * c.H * c.v, 0.3),
    cos: Float32Array.from(theta, Math.cos),
    sin: Float32Array.from(theta, Math.sin),
    cache: (() => {
      const a = new Float32Array((c.len + c.T + 3) * w).fill(99); // rows past the new ones must stay untouched
      a.set(randn(g, c.len * w, 1.5));
      return a;
    })(),
  };
}

test('mlaDecode matches the reference: q LoRA / q_proj, RoPE layouts, cache lengths, rows, in place, ISAs, threads', { skip }, () => {
  const { be } = nativeSetup();
  const cases: MlaCase[] = [
    { d: 17, H: 3, n: 5, p: 4, v: 7, r: 9, qr: 11, T: 1, len: 0, interleaved: true },
    { d: 33, H: 2, n: 8, p: 6, v: 3, r: 17, qr: 0, T: 3, len: 5, interleaved: false },
    { d: 64, H: 4, n: 16, p: 8, v: 16, r: 32, qr: 24, T: 2, len: 63, interleaved: true },
    { d: 129, H: 8, n: 32, p: 16, v: 32, r: 64, qr: 128, T: 5, len: 130, interleaved: false },
    { d: 256, H: 8, n: 32, p: 16, v: 32, r: 64, qr: 128, T: 1, len: 200, interleaved: true },
  ];
  cases.forEach((c, ci) => {
    const inp = mlaInputs(c, 10 + ci);
    const call = (b: typeof be, cache: Float32Array, out: Float32Array, x = inp.x) =>
      b.mlaDecode(x, c.T, inp.dims, inp.norm, inp.qA, inp.qANorm, inp.qB, inp.kvA, inp.kvANorm, inp.kvB, inp.o, inp.cos, inp.sin, cache, c.len, out);
    const wantCache = inp.cache.slice();
    const want = new Float32Array(c.T * c.d);
    call(tsBackend, wantCache, want);
    const label = JSON.stringify(c);
    eachConfig((cfg) => {
      const cache = inp.cache.slice();
      const got = new Float32Array(c.T * c.d).fill(NaN);
      call(be, cache, got);
      assertClose(got, want, `${cfg} ${label} out`, { rtol: 2e-4, atol: 2e-5 });
      assertClose(cache, wantCache, `${cfg} ${label} cache`, { rtol: 2e-4, atol: 2e-5 });
    });
    const inPlace = inp.x.slice();
    call(be, inp.cache.slice(), inPlace, inPlace);
    assertClose(inPlace, want, `${label} in place`, { rtol: 2e-4, atol: 2e-5 });
  });
});

interface MoeCase { d: number; E: number; K: number; G: number; kg: number; I: number; Is: number; T: number; normTopk: boolean; scale: number }

function moeInputs(c: MoeCase, seed: number) {
  const g = rng(seed);
  const dims = new Float64Array(10);
  dims[MOE_DIMS.d] = c.d; dims[MOE_DIMS.eps] = 1e-6; dims[MOE_DIMS.E] = c.E; dims[MOE_DIMS.K] = c.K; dims[MOE_DIMS.G] = c.G;
  dims[MOE_DIMS.kg] = c.kg; dims[MOE_DIMS.normTopk] = c.normTopk ? 1 : 0; dims[MOE_DIMS.routedScale] = c.scale;
  dims[MOE_DIMS.I] = c.I; dims[MOE_DIMS.Is] = c.Is;
  return {
    dims,
    h: randn(g, c.T * c.d, 2),
    norm: randn(g, c.d).map((v) => 1 + 0.3 * v),
    gate: c.E ? randn(g, c.E * c.d, 0.5) : null,
    bias: c.E ? randn(g, c.E, 0.2) : null,
    experts: c.E ? Array.from({ length: 3 * c.E }, () => randn(g, c.I * c.d, 0.3)) : null,
    sg: c.Is ? randn(g, c.Is * c.d, 0.3) : null,
    su: c.Is ? randn(g, c.Is * c.d, 0.3) : null,
    sd: c.Is ? randn(g, c.d * c.Is, 0.3) : null,
  };
}

test('moeDecode matches the reference: group-limited routing, gates, shared / dense, rows, in place, ISAs, threads', { skip }, () => {
  const { be } = nativeSetup();
  const cases: MoeCase[] = [
    { d: 17, E: 8, K: 3, G: 4, kg: 2, I: 5, Is: 7, T: 1, normTopk: true, scale: 2.5 },
    { d: 33, E: 6, K: 2, G: 1, kg: 1, I: 9, Is: 0, T: 3, normTopk: false, scale: 1 },
    { d: 64, E: 16, K: 4, G: 4, kg: 2, I: 31, Is: 31, T: 2, normTopk: true, scale: 2.5 },
    { d: 129, E: 12, K: 5, G: 3, kg: 1, I: 17, Is: 129, T: 5, normTopk: true, scale: 1.7 },
    { d: 19, E: 0, K: 0, G: 1, kg: 1, I: 0, Is: 63, T: 2, normTopk: false, scale: 1 },
    { d: 256, E: 16, K: 4, G: 4, kg: 2, I: 128, Is: 128, T: 1, normTopk: true, scale: 2.5 },
  ];
  cases.forEach((c, ci) => {
    const inp = moeInputs(c, 40 + ci);
    const call = (b: typeof be, out: Float32Array, ids: Int32Array | null, h = inp.h) =>
      b.moeDecode(h, c.T, inp.dims, inp.norm, inp.gate, inp.bias, inp.experts, inp.sg, inp.su, inp.sd, out, ids);
    const want = new Float32Array(c.T * c.d);
    const wantIds = new Int32Array(c.T * c.K);
    call(tsBackend, want, c.E ? wantIds : null);
    if (c.E && c.G > 1 && c.kg < c.G && c.K <= (c.kg * c.E) / c.G) {
      // the chosen experts all lie in at most kg groups (when those groups hold K experts)
      for (let t = 0; t < c.T; t++) {
        const groups = new Set(Array.from(wantIds.subarray(t * c.K, (t + 1) * c.K), (e) => Math.floor(e / (c.E / c.G))));
        assert.ok(groups.size <= c.kg, `row ${t}: experts from ${groups.size} groups`);
      }
    }
    const label = JSON.stringify(c);
    eachConfig((cfg) => {
      const got = new Float32Array(c.T * c.d).fill(NaN);
      const ids = new Int32Array(c.T * c.K).fill(-1);
      call(be, got, c.E ? ids : null);
      if (c.E) assertSame(ids, wantIds, `${cfg} ${label} ids`);
      assertClose(got, want, `${cfg} ${label} out`, { rtol: 2e-4, atol: 2e-5 });
    });
    const inPlace = inp.h.slice();
    call(be, inPlace, null, inPlace);
    assertClose(inPlace, want, `${label} in place`, { rtol: 2e-4, atol: 2e-5 });
  });
});

test('linearRows matches the reference: odd sizes, 1 … 17 rows, ISAs, threads', { skip }, () => {
  const { be } = nativeSetup();
  const g = rng(77);
  for (const [T, K, N] of [[1, 1, 1], [1, 17, 33], [2, 64, 4096], [3, 129, 63], [5, 256, 1031], [17, 31, 7]]) {
    const x = randn(g, T * K);
    const w = randn(g, N * K);
    const want = new Float32Array(T * N);
    tsBackend.linearRows(x, T, K, w, N, want);
    eachConfig((cfg) => {
      const got = new Float32Array(T * N).fill(NaN);
      be.linearRows(x, T, K, w, N, got);
      assertClose(got, want, `${cfg} T=${T} K=${K} N=${N}`, { rtol: 1e-4, atol: 1e-5 });
    });
  }
  const isArg = (e: unknown) => e instanceof KilnError && e.code === 'E_ARG';
  assert.throws(() => be.linearRows(new Float32Array(4), 2, 3, new Float32Array(9), 3, new Float32Array(6)), isArg);
  assert.throws(() => be.linearRows(new Float32Array(6), 2, 3, new Float32Array(9), 3, new Float32Array(5)), isArg);
});

test('moeSelect matches the reference: group-limited top-K, ties, no groups, K > kept experts, ISAs, threads', { skip }, () => {
  const { be } = nativeSetup();
  const g = rng(5);
  for (const [N, E, K, G, kg] of [[1, 8, 2, 4, 2], [17, 16, 4, 4, 2], [33, 6, 3, 1, 1], [9, 12, 5, 3, 1], [64, 256, 8, 8, 4], [5, 4, 4, 2, 2]]) {
    const scores = Float32Array.from({ length: N * E }, () => g());
    for (let i = 0; i < N * E; i += 7) scores[i] = scores[i - (i % E)]; // exact ties within rows
    const bias = randn(g, E, 0.05);
    const want = new Int32Array(N * K);
    tsBackend.moeSelect(scores, N, E, bias, K, G, kg, want);
    eachConfig((cfg) => {
      const got = new Int32Array(N * K).fill(-1);
      be.moeSelect(scores, N, E, bias, K, G, kg, got);
      assertSame(got, want, `${cfg} N=${N} E=${E} K=${K} G=${G} kg=${kg}`);
    });
  }
  assert.throws(() => be.moeSelect(new Float32Array(8), 1, 8, new Float32Array(8), 2, 3, 1, new Int32Array(2)), (e: unknown) => e instanceof KilnError && e.code === 'E_ARG');
});

test('headArgmax is the exact argmax of linearRows logits: near-ties below bf16 resolution, exact ties, ISAs, threads', { skip }, () => {
  const { be } = nativeSetup();
  const g = rng(8);
  for (const [T, K, N] of [[1, 64, 4096], [3, 256, 8192], [2, 17, 33], [5, 129, 1031], [1, 3, 1]]) {
    const h = randn(g, T * K);
    const w = randn(g, N * K, 0.5);
    // make the winners hard: copy the best row of each t to a few places, nudged by less than bf16 can resolve
    const logits = new Float32Array(T * N);
    tsBackend.linearRows(h, T, K, w, N, logits);
    for (let t = 0; t < T && N > 8; t++) {
      let best = 0;
      for (let i = 1; i < N; i++) if (logits[t * N + i] > logits[t * N + best]) best = i;
      for (const [dst, eps] of [[(best + 3) % N, 1e-7], [(best + 5) % N, -1e-7], [(best + 7) % N, 0]] as const)
        for (let k = 0; k < K; k++) w[dst * K + k] = w[best * K + k] * (1 + (k === 0 ? eps : 0));
    }
    const bits = new Uint32Array(w.buffer);
    const wb = Uint16Array.from(bits, (b) => (b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
    const norms = new Float32Array(N);
    for (let i = 0; i < N; i++) norms[i] = Math.sqrt(w.subarray(i * K, (i + 1) * K).reduce((a, v) => a + v * v, 0));
    eachConfig((cfg) => {
      const y = new Float32Array(T * N);
      be.linearRows(h, T, K, w, N, y);
      const want = new Int32Array(T);
      for (let t = 0; t < T; t++) {
        let best = 0;
        for (let i = 1; i < N; i++) if (y[t * N + i] > y[t * N + best]) best = i;
        want[t] = best;
      }
      const got = new Int32Array(T).fill(-1);
      be.headArgmax(h, T, K, w, wb, norms, N, got);
      assertSame(got, want, `${cfg} T=${T} K=${K} N=${N}`);
    });
    const ref = new Int32Array(T);
    tsBackend.headArgmax(h, T, K, w, wb, norms, N, ref);
    tsBackend.linearRows(h, T, K, w, N, logits); // after the planted rows
    const nat = new Int32Array(T);
    be.headArgmax(h, T, K, w, wb, norms, N, nat);
    for (let t = 0; t < T; t++) {
      // the reference's f64 sums may order the planted near-ties differently; the winning logit must agree
      const lr = logits[t * N + ref[t]];
      const ln = logits[t * N + nat[t]];
      assert.ok(Math.abs(lr - ln) <= 1e-5 * Math.max(1, Math.abs(lr)), `t=${t}: reference ${ref[t]} (${lr}) vs native ${nat[t]} (${ln})`);
    }
  }
});

test('mlaDecode / moeDecode reject bad arguments with E_ARG', { skip }, () => {
  const { be } = nativeSetup();
  const c: MlaCase = { d: 17, H: 3, n: 5, p: 4, v: 7, r: 9, qr: 11, T: 2, len: 3, interleaved: true };
  const i = mlaInputs(c, 1);
  const mla = (o: Partial<typeof i> & { len?: number; T?: number }) => () =>
    be.mlaDecode(o.x ?? i.x, o.T ?? c.T, o.dims ?? i.dims, i.norm, i.qA, i.qANorm, o.qB ?? i.qB, i.kvA, i.kvANorm, i.kvB, i.o, i.cos, i.sin,
      o.cache ?? i.cache, o.len ?? c.len, new Float32Array(c.T * c.d));
  const isArg = (e: unknown) => e instanceof KilnError && e.code === 'E_ARG';
  assert.throws(mla({ qB: new Float32Array(5) }), isArg);
  assert.throws(mla({ cache: new Float32Array(10) }), isArg);
  assert.throws(mla({ len: 1e6 }), isArg);
  assert.throws(mla({ T: 4 }), isArg); // x holds 2 rows
  const odd = i.dims.slice();
  odd[MLA_DIMS.p] = 3;
  assert.throws(mla({ dims: odd }), isArg);
  const m = moeInputs({ d: 17, E: 8, K: 3, G: 4, kg: 2, I: 5, Is: 7, T: 1, normTopk: true, scale: 2.5 }, 2);
  const out = new Float32Array(17);
  assert.throws(() => be.moeDecode(m.h, 1, m.dims, m.norm, m.gate, m.bias, m.experts!.slice(0, 5), m.sg, m.su, m.sd, out, null), isArg);
  const short = m.experts!.map((e) => e.subarray(0, 3));
  assert.throws(() => be.moeDecode(m.h, 1, m.dims, m.norm, m.gate, m.bias, short, m.sg, m.su, m.sd, out, null), isArg);
  const badG = m.dims.slice();
  badG[MOE_DIMS.G] = 3; // does not divide E = 8
  assert.throws(() => be.moeDecode(m.h, 1, badG, m.norm, m.gate, m.bias, m.experts, m.sg, m.su, m.sd, out, null), isArg);
});
