/** Aquarius Single-DiT and MM-DiT: parameter counts, shapes, patchify, 3D RoPE, adaLN-zero, gradients, text encoder. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { maxDiff } from '../../helpers/tensors.js';
import { SingleDit, SingleDitBlock } from '../../../src/models/dit/single-dit.js';
import { MmDit, DualStreamBlock, SingleStreamBlock } from '../../../src/models/dit/mm-dit.js';
import { mmDitConfig, mmDitParamCount, singleDitConfig, singleDitParamCount } from '../../../src/models/dit/dit-config.js';
import { patchify, rope3d, unpatchify, timestepEmbedding } from '../../../src/models/dit/embeddings.js';
import { SmallTextEncoder } from '../../../src/models/dit/text-encoder.js';
import { applyRotary } from '../../../src/tensor/ops/rope.js';
import { Module } from '../../../src/nn/module.js';
import { normal_ } from '../../../src/nn/init.js';
import { gradcheck } from '../../helpers/gradcheck.js';


/** Overwrites every parameter with N(0, 0.3²) so zero-initialised (adaLN-zero) paths carry gradient. */
function randomize(m: Module, seed: number): void {
  const g = new k.Generator(seed);
  for (const p of m.parameters()) normal_(p, 0, 0.3, g);
}

test('exact parameter counts: formulas equal the module trees (tiny), and the full-size presets', () => {
  const s = new SingleDit('single-dit-tiny');
  assert.equal(s.numParameters(), singleDitParamCount(s.config));
  const s2 = new SingleDit({ ...singleDitConfig('single-dit-tiny'), cross_attn_norm: false, patch_size: [2, 2, 2] });
  assert.equal(s2.numParameters(), singleDitParamCount(s2.config));
  const m = new MmDit('mm-dit-tiny');
  assert.equal(m.numParameters(), mmDitParamCount(m.config));
  const m2 = new MmDit({ ...mmDitConfig('mm-dit-tiny'), guidance_embeds: true, num_layers: 2, num_single_layers: 0 });
  assert.equal(m2.numParameters(), mmDitParamCount(m2.config));
  for (const x of [s, s2, m, m2]) x.dispose();
  // counted, never instantiated
  assert.equal(singleDitParamCount(singleDitConfig('single-dit-1.3b')), 1_418_996_800);
  assert.equal(singleDitParamCount(singleDitConfig('single-dit-2b')), 2_057_558_080);
  assert.equal(mmDitParamCount(mmDitConfig('mm-dit-13b')), 12_524_423_232);
  assert.deepEqual(singleDitConfig('single-dit-2b').rope_axes_dim, [44, 42, 42]);
  assert.throws(() => mmDitConfig({ rope_axes_dim: [16, 56, 54] }), (e: k.KilnError) => e.code === 'E_CONFIG');
});

test('patchify ∘ unpatchify = id; token order is (t, h, w) raster, features (c, pt, ph, pw)', () => {
  const x = k.randn([2, 3, 4, 6, 8], { generator: new k.Generator(1) });
  for (const p of [[1, 2, 2], [2, 2, 2], [1, 3, 4]] as [number, number, number][]) {
    const { tokens, grid } = patchify(x, p);
    assert.deepEqual(tokens.shape, [2, (4 / p[0]) * (6 / p[1]) * (8 / p[2]), 3 * p[0] * p[1] * p[2]]);
    assert.equal(maxDiff(unpatchify(tokens, grid, p, 3), x), 0);
  }
  const { tokens } = patchify(x, [1, 2, 2]);
  // token (t=1, h=2, w=3) → index 1·12 + 2·4 + 3 = 23; feature (c=2, ph=1, pw=0) → 2·4 + 1·2 = 10 = x[0, 2, 1, 5, 6]
  const xv = x.toArray() as number[][][][][];
  assert.equal((tokens.toArray() as number[][][])[0][23][10], xv[0][2][1][5][6]);
  assert.throws(() => patchify(k.zeros([1, 1, 1, 3, 4]), [1, 2, 2]), (e: k.KilnError) => e.code === 'E_SHAPE');
});

test('3D RoPE: q·k depends only on the (t, h, w) offset, for any grid', () => {
  const axes: [number, number, number] = [4, 6, 6];
  const grid = { t: 3, h: 4, w: 5 };
  const { cos, sin } = rope3d(grid, axes, 100);
  const gen = new k.Generator(3);
  const q = k.randn([1, 16], { generator: gen });
  const kk = k.randn([1, 16], { generator: gen });
  const N = 60;
  const rq = applyRotary(q.expand([N, 16]).contiguous(), cos, sin, { layout: 'interleaved' }).data() as Float32Array;
  const rk = applyRotary(kk.expand([N, 16]).contiguous(), cos, sin, { layout: 'interleaved' }).data() as Float32Array;
  const idx = (t: number, h: number, w: number) => (t * 4 + h) * 5 + w;
  const dot = (i: number, j: number) => { let s = 0; for (let d = 0; d < 16; d++) s += rq[i * 16 + d] * rk[j * 16 + d]; return s; };
  // same offset (1, −2, 3) at two places
  assert.ok(Math.abs(dot(idx(1, 2, 0), idx(2, 0, 3)) - dot(idx(0, 3, 1), idx(1, 1, 4))) < 1e-4);
  // a different offset gives a different score; offset 0 gives the unrotated q·k
  assert.ok(Math.abs(dot(idx(1, 2, 0), idx(2, 0, 3)) - dot(idx(1, 2, 0), idx(2, 1, 3))) > 1e-3);
  const plain = (q.mul(kk).sum().item());
  assert.ok(Math.abs(dot(idx(2, 3, 4), idx(2, 3, 4)) - plain) < 1e-4);
  // each axis owns its own chunk: moving only in w leaves the t and h chunks unrotated
  const c = cos.toArray() as number[][];
  assert.equal(c[idx(0, 0, 3)][0], 1);
  assert.equal(c[idx(0, 0, 3)][4], 1);
  assert.notEqual(c[idx(0, 0, 3)][6], 1);
  // identity rows for text tokens
  const withText = rope3d(grid, axes, 100, 2);
  assert.deepEqual(withText.cos.shape, [62, 8]);
  assert.deepEqual((withText.sin.toArray() as number[][])[61], new Array(8).fill(0));
});

test('Single-DiT and MM-DiT forward shapes for several T×H×W (any bucket), with and without a text mask', () => {
  const sd = new SingleDit('single-dit-tiny', { generator: new k.Generator(1) });
  const md = new MmDit('mm-dit-tiny', { generator: new k.Generator(2) });
  randomize(sd, 3);
  randomize(md, 4);
  const gen = new k.Generator(5);
  k.noGrad(() => {
    for (const [T, H, W] of [[1, 4, 4], [3, 2, 6], [2, 6, 4]]) {
      const latents = k.randn([2, 4, T, H, W], { generator: gen });
      const text = k.randn([2, 5, 32], { generator: gen });
      const textMask = k.fromArray([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], [2, 5]);
      const timestep = k.fromArray([10, 900], [2]);
      const a = sd.forward({ latents, timestep, text, textMask });
      const pooled = k.randn([2, 32], { generator: gen });
      const b = md.forward({ latents, timestep, text, textMask, pooled });
      assert.deepEqual(a.shape, [2, 4, T, H, W]);
      assert.deepEqual(b.shape, [2, 4, T, H, W]);
      assert.ok(Number.isFinite(a.sum().item()) && Number.isFinite(b.sum().item()));
      // padding text tokens are masked: changing them leaves the output unchanged
      const text2 = text.clone();
      (text2.storage.data as Float32Array).fill(7, text2.offset + 3 * 32, text2.offset + 5 * 32);
      assert.ok(maxDiff(sd.forward({ latents, timestep, text: text2, textMask }), a) < 1e-5);
      assert.ok(maxDiff(md.forward({ latents, timestep, text: text2, textMask, pooled }), b) < 1e-5);
      assert.ok(maxDiff(sd.forward({ latents, timestep, text: text2 }), a) > 1e-3); // unmasked, they do matter
    }
  });
  sd.dispose();
  md.dispose();
});

test('adaLN-zero: fresh blocks are the identity and fresh models predict zero', () => {
  const gen = new k.Generator(6);
  const sc = singleDitConfig('single-dit-tiny');
  const mc = mmDitConfig('mm-dit-tiny');
  k.noGrad(() => {
    const x = k.randn([2, 12, 32], { generator: gen });
    const ctx = k.randn([2, 5, 32], { generator: gen });
    const e = k.randn([2, 6, 32], { generator: gen });
    const temb = k.randn([2, 32], { generator: gen });
    const grid = { t: 1, h: 3, w: 4 };
    const rope = rope3d(grid, sc.rope_axes_dim!, 10000);
    const ropeJ = rope3d(grid, mc.rope_axes_dim, 256, 5);
    // the Single-DiT block sees e = time_proj(…) = 0 when fresh; with any e its cross-attention output is 0
    const sb = new SingleDitBlock(sc, new k.Generator(7));
    assert.equal(maxDiff(sb.forward(x, k.zeros([2, 6, 32]), ctx, rope, null), x), 0);
    const db = new DualStreamBlock(mc, new k.Generator(8));
    const [hx, hc] = db.forward(x, ctx, temb, ropeJ, null);
    assert.equal(maxDiff(hx, x), 0);
    assert.equal(maxDiff(hc, ctx), 0);
    const ss = new SingleStreamBlock(mc, new k.Generator(9));
    const s = k.cat([x, ctx], 1);
    assert.equal(maxDiff(ss.forward(s, temb, ropeJ, null), s), 0);
    assert.ok(e.abs().sum().item() > 0);
    const sd = new SingleDit(sc, { generator: new k.Generator(10) });
    const out = sd.forward({ latents: k.randn([1, 4, 1, 4, 4], { generator: gen }), timestep: k.fromArray([500], [1]), text: ctx.slice(0, 0, 1) });
    assert.equal(out.abs().sum().item(), 0);
  });
});

test('gradient checks on tiny blocks (inputs and a modulation parameter)', () => {
  const sc = singleDitConfig({ ...singleDitConfig('single-dit-tiny'), num_attention_heads: 2, attention_head_dim: 6, ffn_dim: 8, rope_axes_dim: undefined });
  const mc = mmDitConfig({ ...mmDitConfig('mm-dit-tiny'), num_attention_heads: 2, attention_head_dim: 6, mlp_ratio: 1, rope_axes_dim: [2, 2, 2] });
  const gen = new k.Generator(11);
  const grid = { t: 2, h: 1, w: 2 };
  const rope = rope3d(grid, sc.rope_axes_dim!, 10000);
  const ropeJ = rope3d(grid, mc.rope_axes_dim, 256, 2);
  const sb = new SingleDitBlock(sc, new k.Generator(12));
  randomize(sb, 13);
  const x = k.randn([1, 4, 12], { generator: gen });
  const ctx = k.randn([1, 2, 12], { generator: gen });
  const e = k.randn([1, 6, 12], { generator: gen });
  gradcheck((a, c, ee) => sb.forward(a, ee, c, rope, null), [x, ctx, e], { eps: 1e-2, atol: 3e-2, rtol: 3e-2 });
  gradcheck((t) => { const old = sb.scale_shift_table; return sb.forward(x, e.add(t.sub(old)), ctx, rope, null); }, [sb.scale_shift_table.detach().contiguous()], { atol: 3e-2, rtol: 3e-2 });
  const db = new DualStreamBlock(mc, new k.Generator(14));
  randomize(db, 15);
  const temb = k.randn([1, 12], { generator: gen });
  gradcheck((a, c, t) => { const [hx, hc] = db.forward(a, c, t, ropeJ, null); return k.cat([hx, hc], 1); }, [x, ctx, temb], { atol: 3e-2, rtol: 3e-2 });
  const ss = new SingleStreamBlock(mc, new k.Generator(16));
  randomize(ss, 17);
  gradcheck((s, t) => ss.forward(s, t, ropeJ, null), [k.randn([1, 6, 12], { generator: gen }), temb], { atol: 3e-2, rtol: 3e-2 });
});

test('text encoder: states + pooled vector, padding does not leak into real tokens; timestep embedding', () => {
  const te = new SmallTextEncoder({ vocab_size: 256, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16 }, { generator: new k.Generator(1) });
  k.noGrad(() => {
    const ids = k.fromArray(Int32Array.from([65, 66, 67, 0, 0, 65, 66, 67, 9, 9]), [2, 5], { dtype: 'i32' });
    const mask = k.fromArray([1, 1, 1, 0, 0, 1, 1, 1, 0, 0], [2, 5]);
    const { states, pooled } = te.encode(ids, mask);
    assert.deepEqual(states.shape, [2, 5, 16]);
    assert.deepEqual(pooled.shape, [2, 16]);
    assert.ok(maxDiff(states.slice(0, 0, 1).slice(1, 0, 3), states.slice(0, 1, 2).slice(1, 0, 3)) < 1e-5);
    assert.ok(maxDiff(pooled.slice(0, 0, 1), pooled.slice(0, 1, 2)) < 1e-5);
  });
  const emb = timestepEmbedding(k.fromArray([0, 1], [2]), 8).toArray() as number[][];
  assert.deepEqual(emb[0], [1, 1, 1, 1, 0, 0, 0, 0]);
  assert.ok(Math.abs(emb[1][0] - Math.cos(1)) < 1e-6 && Math.abs(emb[1][5] - Math.sin(Math.pow(10000, -1 / 4))) < 1e-6);
});

test('family info (for kiln info --json): params_total and its parts add up', async () => {
  const { singleDitFamily, mmDitFamily, causalVaeFamily } = await import('../../../src/models/dit/family.js');
  const s = singleDitFamily.info('single-dit-2b');
  assert.equal(s.params_total, 2_057_558_080);
  assert.equal((s.params_blocks as number) + (s.params_embed_and_head as number), s.params_total);
  const m = mmDitFamily.info('mm-dit-13b');
  assert.equal(m.params_total, 12_524_423_232);
  assert.equal(m.params_dual_block, 339_831_296);
  assert.equal(m.params_single_block, 141_591_808);
  assert.equal((m.params_dual_blocks as number) + (m.params_single_blocks as number) + (m.params_embed_and_head as number), m.params_total);
  assert.equal(causalVaeFamily.info('vae-16c').params_total, 246_477_475); // with its mid-block attentions
  assert.equal(singleDitFamily.info({ model_type: 'aquarius_single_dit', num_layers: 1 }).num_layers, 1);
});

test('gradient checks: whole tiny models (latents, text states, pooled) and the text encoder', () => {
  const gen = new k.Generator(40);
  const md = new MmDit({ ...mmDitConfig('mm-dit-tiny'), num_attention_heads: 2, attention_head_dim: 6, mlp_ratio: 1, rope_axes_dim: [2, 2, 2], text_embed_dim: 4, pooled_projection_dim: 4 }, { generator: new k.Generator(41) });
  randomize(md, 42);
  const lat = k.randn([1, 4, 2, 2, 2], { generator: gen });
  const text = k.randn([1, 2, 4], { generator: gen });
  const pooled = k.randn([1, 4], { generator: gen });
  const t = k.fromArray([400], [1]);
  gradcheck((l, tx, p) => md.forward({ latents: l, timestep: t, text: tx, pooled: p }), [lat, text, pooled], { atol: 3e-2, rtol: 3e-2, maxPerInput: 16 });
  const sd = new SingleDit({ ...singleDitConfig('single-dit-tiny'), num_attention_heads: 2, attention_head_dim: 6, ffn_dim: 8, text_dim: 4, rope_axes_dim: undefined }, { generator: new k.Generator(43) });
  randomize(sd, 44);
  gradcheck((l, tx) => sd.forward({ latents: l, timestep: t, text: tx }), [lat, text], { atol: 3e-2, rtol: 3e-2, maxPerInput: 16 });
  const te = new SmallTextEncoder({ vocab_size: 16, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8, max_position_embeddings: 4 }, { generator: new k.Generator(45) });
  const ids = k.fromArray(Int32Array.from([1, 2, 3, 0]), [1, 4], { dtype: 'i32' });
  const mask = k.fromArray([1, 1, 1, 0], [1, 4]);
  gradcheck(() => { const e = te.encode(ids, mask); return k.cat([e.states.reshape([-1]), e.pooled.reshape([-1])], 0); }, [te.token_embedding.weight, te.layers[0].q_proj.weight], { atol: 3e-2, rtol: 3e-2, maxPerInput: 24 });
});
