/** Diffusion caches (TeaCache, FBCache) and the video sampler: exactness at threshold 0, skip behaviour, CFG streams. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../src/index.js';
import { SingleDit } from '../../src/models/dit/single-dit.js';
import { MmDit } from '../../src/models/dit/mm-dit.js';
import type { Condition } from '../../src/models/dit/flow.js';
import { sampleFlow } from '../../src/infer/flow-sampler.js';
import { normal_ } from '../../src/nn/init.js';
import type { Module } from '../../src/nn/module.js';
import { sampleVideo } from '../../src/infer/video-sampler.js';
import { psnr } from '../../src/models/dit/metrics.js';
import { DiffusionCache, fitTeaCache, parseCacheSetting, polyfit, polyval, type CacheTraceEntry } from '../../src/infer/diffusion-cache.js';

function randomize(m: Module, seed: number, std = 0.2): void {
  const g = new k.Generator(seed);
  for (const p of m.parameters()) normal_(p, 0, std, g);
}

function setup(): { dit: SingleDit; cond: Condition } {
  const dit = new SingleDit('single-dit-tiny', { generator: new k.Generator(1) });
  randomize(dit, 5);
  const g = new k.Generator(9);
  const text = k.randn([2, 3, 32], { generator: g });
  const textMask = k.fromArray(Float32Array.from([1, 1, 0, 1, 1, 1]), [2, 3]);
  return { dit, cond: { text, textMask } };
}

const SHAPE = [2, 4, 2, 4, 4];

function same(a: k.Tensor, b: k.Tensor): boolean {
  const x = a.contiguous().data() as Float32Array;
  const y = b.contiguous().data() as Float32Array;
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

test('parseCacheSetting: none / teacache / fbcache, errors say what to write', () => {
  assert.deepEqual(parseCacheSetting('none'), { kind: 'none' });
  assert.deepEqual(parseCacheSetting(null), { kind: 'none' });
  assert.deepEqual(parseCacheSetting('teacache:0.1'), { kind: 'teacache', threshold: 0.1 });
  assert.deepEqual(parseCacheSetting('FBCache:0.05'), { kind: 'fbcache', threshold: 0.05 });
  assert.deepEqual(parseCacheSetting('teacache:0.2:taylor'), { kind: 'teacache', threshold: 0.2, taylor: true });
  assert.throws(() => parseCacheSetting('magic:1'), (e: k.KilnError) => e.code === 'E_ARG' && /teacache:<threshold>/.test(e.message));
  assert.throws(() => parseCacheSetting({ kind: 'teacache', threshold: -1 }), (e: k.KilnError) => e.code === 'E_ARG');
});

test('sampleVideo with cache none equals flow-sampler.ts sampleFlow bit for bit (Euler + CFG, Heun)', () => {
  const { dit, cond } = setup();
  k.noGrad(() => {
    const model = (x: k.Tensor, t: k.Tensor, c: Condition) => dit.forward({ latents: x, timestep: t, text: c.text, textMask: c.textMask });
    for (const [sampler, cfg] of [['euler', 3], ['heun', 1]] as const) {
      const ref = sampleFlow(model, SHAPE, cond, { steps: 5, seed: 4, sampler, guidance: cfg });
      const r = sampleVideo(dit, cond, { shape: SHAPE, steps: 5, seed: 4, sampler, cfg });
      assert.ok(same(r.latents, ref), `${sampler} differs`);
      assert.equal(r.calls, sampler === 'heun' ? 9 : 5);
    }
  });
  dit.dispose();
});

test('threshold 0 reproduces the uncached output exactly (TeaCache and FBCache, with and without CFG, Euler and Heun)', () => {
  const { dit, cond } = setup();
  k.noGrad(() => {
    for (const [sampler, cfg] of [['euler', 1], ['euler', 4], ['heun', 4]] as const) {
      const base = sampleVideo(dit, cond, { shape: SHAPE, steps: 6, seed: 2, sampler, cfg });
      for (const cache of ['teacache:0', 'fbcache:0', 'teacache:0:taylor']) {
        const r = sampleVideo(dit, cond, { shape: SHAPE, steps: 6, seed: 2, sampler, cfg, cache });
        assert.ok(same(r.latents, base.latents), `${cache} ${sampler} cfg ${cfg}`);
        assert.ok(r.cache.streams.every((s) => s.skipped === 0 && s.computed === r.calls));
        assert.equal(r.cache.streams.length, cfg === 1 ? 1 : 2);
      }
    }
  });
  dit.dispose();
});

test('MM-DiT: threshold 0 == uncached; caching skips and stays close', () => {
  const m = new MmDit('mm-dit-tiny', { generator: new k.Generator(3) });
  randomize(m, 8);
  const g = new k.Generator(1);
  const cond: Condition = { text: k.randn([1, 3, 32], { generator: g }), pooled: k.randn([1, 32], { generator: g }), textMask: k.fromArray(Float32Array.from([1, 1, 0]), [1, 3]) };
  k.noGrad(() => {
    const o = { shape: [1, 4, 2, 4, 4], steps: 8, seed: 3, cfg: 2 };
    const base = sampleVideo(m, cond, o);
    for (const cache of ['teacache:0', 'fbcache:0']) assert.ok(same(sampleVideo(m, cond, { ...o, cache }).latents, base.latents), cache);
    const fb = sampleVideo(m, cond, { ...o, cache: 'fbcache:1000000' });
    assert.ok(fb.cache.streams.every((s) => s.skipped === 6), JSON.stringify(fb.cache));
  });
  m.dispose();
});

test('skipped calls rise with the threshold; the first and last calls are always computed', () => {
  const { dit, cond } = setup();
  k.noGrad(() => {
    for (const kind of ['teacache', 'fbcache']) {
      let prev = -1;
      const counts: number[] = [];
      for (const thr of [0, 0.05, 0.2, 0.5, 1, 100]) {
        const r = sampleVideo(dit, cond, { shape: SHAPE, steps: 12, seed: 1, cache: `${kind}:${thr}` });
        const s = r.cache.streams[0];
        counts.push(s.skipped);
        assert.ok(s.skipped >= prev, `${kind}: ${counts}`);
        assert.ok(!s.skippedCalls.includes(0) && !s.skippedCalls.includes(11), `${kind}:${thr} skipped ${s.skippedCalls}`);
        assert.equal(s.skipped + s.computed, 12);
        prev = s.skipped;
      }
      assert.equal(counts[counts.length - 1], 10, `${kind}: a huge threshold skips every call but the first and last (${counts})`);
      assert.ok(counts[0] === 0 && counts.some((c) => c > 0 && c < 10), `${kind}: ${counts}`);
    }
  });
  dit.dispose();
});

test('CFG: the conditional and unconditional streams keep their own cache state; a skip reuses the stream\'s own residual', () => {
  const { dit, cond } = setup();
  k.noGrad(() => {
    const r = sampleVideo(dit, cond, { shape: SHAPE, steps: 10, seed: 7, cfg: 5, cache: 'teacache:0.3' });
    assert.equal(r.cache.streams.length, 2);
    for (const s of r.cache.streams) assert.equal(s.computed + s.skipped, 10);
    // a hand-driven cache: stream 1 forced to differ from stream 0 by giving the two halves different inputs
    const trace: CacheTraceEntry[] = [];
    const cache = new DiffusionCache('fbcache:0.5', 2, trace);
    const x = k.randn([2, 4, 2, 4, 4], { generator: new k.Generator(2) });
    const t = k.fromArray(Float32Array.from([900, 900]), [2]);
    const full = dit.forward({ latents: x, timestep: t, text: cond.text, textMask: cond.textMask });
    const v0 = cache.run(dit.begin({ latents: x, timestep: t, text: cond.text, textMask: cond.textMask }), 0, 3);
    assert.ok(same(v0, full), 'call 0 computes the whole batch exactly');
    // second call: row 0 unchanged (skips: its output equals call 0's), row 1 perturbed strongly (computes)
    const x2 = k.cat([x.slice(0, 0, 1), x.slice(0, 1).mul(-3)], 0);
    const v1 = cache.run(dit.begin({ latents: x2, timestep: t, text: cond.text, textMask: cond.textMask }), 1, 3);
    const ref2 = dit.forward({ latents: x2, timestep: t, text: cond.text, textMask: cond.textMask });
    assert.deepEqual(cache.stats().streams.map((s) => s.skipped), [1, 0]);
    const d0 = v1.slice(0, 0, 1).sub(full.slice(0, 0, 1)).abs().amax().item();
    const d1 = v1.slice(0, 1).sub(ref2.slice(0, 1)).abs().amax().item();
    assert.ok(d0 < 1e-5, `skipped row reuses its residual: ${d0}`);
    assert.ok(d1 < 1e-4, `computed row matches a full forward of that row: ${d1}`);
    assert.equal(trace.length, 4);
    cache.dispose();
  });
  dit.dispose();
});

test('polyfit recovers a polynomial; fitTeaCache fits relOutput ≈ p(relInput) from a threshold-0 trace', () => {
  const xs = [0.01, 0.05, 0.1, 0.2, 0.3, 0.5];
  const c = polyfit(xs, xs.map((x) => 3 * x * x - 0.5 * x + 0.02), 2);
  assert.ok(Math.abs(c[0] - 3) < 1e-6 && Math.abs(c[1] + 0.5) < 1e-6 && Math.abs(c[2] - 0.02) < 1e-8, `${c}`);
  assert.ok(Math.abs(polyval(c, 0.4) - (3 * 0.16 - 0.2 + 0.02)) < 1e-6);
  const { dit, cond } = setup();
  k.noGrad(() => {
    const trace: CacheTraceEntry[] = [];
    sampleVideo(dit, cond, { shape: SHAPE, steps: 10, seed: 1, cache: 'teacache:0', trace });
    assert.equal(trace.length, 10);
    const coef = fitTeaCache(trace, 1);
    assert.equal(coef.length, 2);
    assert.ok(coef.every(Number.isFinite));
    const r = sampleVideo(dit, cond, { shape: SHAPE, steps: 10, seed: 1, cache: { kind: 'teacache', threshold: 0, coefficients: coef } });
    assert.equal(r.cache.streams[0].skipped, 0, 'rescaled, threshold 0 still never skips');
  });
  dit.dispose();
});

test('taylor forecasting: same decisions as plain reuse, a different (extrapolated) result', () => {
  const { dit, cond } = setup();
  k.noGrad(() => {
    const o = { shape: SHAPE, steps: 12, seed: 1, cfg: 2 };
    const base = sampleVideo(dit, cond, o);
    const plain = sampleVideo(dit, cond, { ...o, cache: 'teacache:0.3' });
    const fore = sampleVideo(dit, cond, { ...o, cache: 'teacache:0.3:taylor' });
    assert.deepEqual(fore.cache.streams, plain.cache.streams);
    assert.ok(plain.cache.streams[0].skipped > 0);
    assert.ok(!same(fore.latents, plain.latents));
    assert.ok(Number.isFinite(psnr(fore.latents, base.latents)));
  });
  dit.dispose();
});

test('MM-DiT with embedded guidance: sampleVideo passes the scale; Heun + FBCache at threshold 0 is exact', () => {
  const m = new MmDit({ ...{ num_attention_heads: 2, attention_head_dim: 16, in_channels: 4, out_channels: 4, num_layers: 1, num_single_layers: 1, text_embed_dim: 32, pooled_projection_dim: 32, rope_axes_dim: [4, 6, 6] as [number, number, number], freq_dim: 32 }, guidance_embeds: true }, { generator: new k.Generator(3) });
  randomize(m, 2);
  const g = new k.Generator(5);
  const cond: Condition = { text: k.randn([1, 2, 32], { generator: g }), pooled: k.randn([1, 32], { generator: g }) };
  k.noGrad(() => {
    const o = { shape: [1, 4, 2, 4, 4], steps: 4, seed: 3, sampler: 'heun' as const };
    assert.throws(() => sampleVideo(m, cond, o), (e: k.KilnError) => /guidance/.test(e.message));
    const a = sampleVideo(m, cond, { ...o, embeddedGuidance: 4 });
    const b = sampleVideo(m, cond, { ...o, embeddedGuidance: 4, cache: 'fbcache:0' });
    const c = sampleVideo(m, cond, { ...o, embeddedGuidance: 1 });
    assert.ok(same(a.latents, b.latents));
    assert.ok(!same(a.latents, c.latents));
    assert.equal(a.calls, 7);
  });
  m.dispose();
});
