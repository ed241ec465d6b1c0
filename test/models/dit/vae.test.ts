/** Aquarius causal VAE: geometry, causality, chunked == full, GroupNorm gradients, metrics, and learning. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { maxDiff } from '../../helpers/tensors.js';
import { CausalVae3d, CausalConv3d, CausalCache } from '../../../src/models/dit/vae.js';
import { vaeConfig, vaeParamCount, latentFrames } from '../../../src/models/dit/vae-config.js';
import { groupNorm } from '../../../src/models/dit/group-norm.js';
import { psnr, ssim, ssimPlane } from '../../../src/models/dit/metrics.js';
import { trainVae, evaluateVae } from '../../../src/train/video-vae.js';
import { movingShapes } from '../../helpers/moving-shapes.js';
import { gradcheck } from '../../helpers/gradcheck.js';

const micro = { latent_channels: 2, block_out_channels: [4, 4, 4, 4], layers_per_block: 1, norm_num_groups: 2 };


test('parameter count formula equals the module tree; latent geometry 1 + 4k → 1 + k', () => {
  for (const c of ['vae-tiny', micro] as const) {
    const v = new CausalVae3d(c);
    assert.equal(v.numParameters(), vaeParamCount(v.config));
    v.dispose();
  }
  // the full-size preset is only counted
  assert.equal(vaeParamCount(vaeConfig('vae-16c')), 246_477_475); // 244,374,179 + the two mid-block attentions (vae-attention.test.ts)
  assert.equal(latentFrames(vaeConfig(), 1), 1);
  assert.equal(latentFrames(vaeConfig(), 33), 9);
  assert.throws(() => latentFrames(vaeConfig(), 8), (e: k.KilnError) => e.code === 'E_SHAPE');
  const v = new CausalVae3d(micro, { generator: new k.Generator(3) });
  k.noGrad(() => {
    for (const [T, H, W] of [[1, 8, 8], [5, 16, 8], [9, 8, 24]]) {
      const x = k.randn([1, 3, T, H, W], { generator: new k.Generator(T) });
      const post = v.encode(x);
      assert.deepEqual(post.mean.shape, [1, 2, 1 + (T - 1) / 4, H / 8, W / 8]);
      assert.deepEqual(v.decode(post.mean).shape, [1, 3, T, H, W]);
    }
  });
  v.dispose();
});

test('causal: frame 0 encodes alone (image = first frame of a video); the past never sees the future', () => {
  const v = new CausalVae3d(micro, { generator: new k.Generator(4) });
  k.noGrad(() => {
    const x = k.randn([1, 3, 9, 16, 16], { generator: new k.Generator(5) });
    const full = v.encode(x).mean; // [1, 2, 3, 2, 2]
    const img = v.encode(x.slice(2, 0, 1)).mean;
    assert.ok(maxDiff(full.slice(2, 0, 1), img) < 1e-5); // equal up to GEMM blocking (sizes differ)
    const five = v.encode(x.slice(2, 0, 5)).mean;
    assert.ok(maxDiff(full.slice(2, 0, 2), five) < 1e-5);
    // changing frame 8 changes the last latent frame only
    const y = x.clone();
    (y.storage.data as Float32Array).fill(3, 8 * 256, 9 * 256);
    const fy = v.encode(y).mean;
    assert.ok(maxDiff(full.slice(2, 0, 2), fy.slice(2, 0, 2)) < 1e-5);
    assert.ok(maxDiff(full.slice(2, 2, 3), fy.slice(2, 2, 3)) > 1e-2);
    // decoder: latent frame j ≥ 1 decodes to frames 4j-3..4j; frames before depend only on earlier latents
    const z = k.randn([1, 2, 3, 2, 2], { generator: new k.Generator(6) });
    const d = v.decode(z);
    assert.ok(maxDiff(d.slice(2, 0, 5), v.decode(z.slice(2, 0, 2))) < 1e-5);
  });
  v.dispose();
});

test('chunked encode/decode equal the full pass (causal conv cache across chunks)', () => {
  const v = new CausalVae3d(micro, { generator: new k.Generator(7) });
  k.noGrad(() => {
    const x = k.randn([2, 3, 13, 16, 16], { generator: new k.Generator(8) });
    const full = v.encoder.forward(x);
    for (const chunk of [4, 8]) assert.ok(maxDiff(v.encodeChunked(x, chunk), full) < 1e-5, `encode chunk ${chunk}`);
    const z = full.slice(1, 0, 2).contiguous();
    const dec = v.decode(z);
    for (const chunk of [1, 2]) assert.ok(maxDiff(v.decodeChunked(z, chunk), dec) < 1e-5, `decode chunk ${chunk}`);
  });
  v.dispose();
});

test('CausalConv3d with a stride streams in chunks; groupNorm matches its definition and has gradients', () => {
  const conv = new CausalConv3d(2, 3, 3, [2, 1, 1], new k.Generator(9));
  k.noGrad(() => {
    const x = k.randn([1, 2, 9, 3, 3], { generator: new k.Generator(10) });
    const full = conv.forward(x);
    assert.deepEqual(full.shape, [1, 3, 5, 3, 3]);
    // y_0 sees [x0, x0, x0] (replicated) only
    const x0 = x.slice(2, 0, 1);
    assert.ok(maxDiff(full.slice(2, 0, 1), conv.conv.forward(k.cat([x0, x0, x0], 2))) < 1e-6);
  });
  const gen = new k.Generator(11);
  const x = k.randn([2, 4, 3, 2, 2], { generator: gen });
  const w = k.randn([4], { generator: gen });
  const b = k.randn([4], { generator: gen });
  gradcheck((a, ww, bb) => groupNorm(a, 2, ww, bb, 1e-5), [x, w, b], { eps: 1e-2, atol: 2e-2, rtol: 2e-2 });
  gradcheck((a) => groupNorm(a, 2, null, null, 1e-5, 'video'), [k.randn([1, 4, 2, 2, 2], { generator: gen })], { atol: 2e-2, rtol: 2e-2 });
  // per-frame statistics: every (sample, group, frame) slice has mean 0 and variance 1
  const y = k.noGrad(() => groupNorm(x, 2, null, null, 0)).reshape([2, 2, 2, 3, 4]);
  const m = y.mean([2, 4]).data() as Float32Array;
  const vv = y.square().mean([2, 4]).data() as Float32Array;
  for (let i = 0; i < m.length; i++) {
    assert.ok(Math.abs(m[i]) < 1e-5);
    assert.ok(Math.abs(vv[i] - 1) < 1e-4);
  }
});

test('PSNR and SSIM on known cases', () => {
  const a = k.full([1, 1, 16, 16], 0.2);
  const b = k.full([1, 1, 16, 16], 0.3);
  assert.ok(Math.abs(psnr(a, b) - 10 * Math.log10(4 / 0.01)) < 1e-4); // 26.02 dB
  assert.equal(psnr(a, a), Infinity);
  // constant planes: SSIM = (2·μx·μy + C1) / (μx² + μy² + C1) (the structure term is C2/C2)
  const C1 = (0.01 * 2) ** 2;
  assert.ok(Math.abs(ssim(a, b) - (2 * 0.2 * 0.3 + C1) / (0.04 + 0.09 + C1)) < 1e-6);
  const n = movingShapes(1, 3, 16, 16, new k.Generator(1));
  assert.ok(Math.abs(ssim(n, n) - 1) < 1e-9);
  // noise lowers SSIM monotonically, staying in (−1, 1)
  const gen = new k.Generator(2);
  const s1 = ssim(n, n.add(k.randn(n.shape, { generator: gen }).mul(0.05)));
  const s2 = ssim(n, n.add(k.randn(n.shape, { generator: gen }).mul(0.5)));
  assert.ok(s1 < 1 && s2 < s1 && s2 > -1, `ssim ${s1} ${s2}`);
  assert.ok(ssimPlane(Float32Array.from({ length: 121 }, (_, i) => i % 2), Float32Array.from({ length: 121 }, (_, i) => i % 2), 11, 11) === 1);
});

test('the tiny VAE learns moving shapes: reconstruction loss falls and held-out PSNR rises', () => {
  const v = new CausalVae3d('vae-tiny', { generator: new k.Generator(1) });
  const held = movingShapes(2, 5, 16, 16, new k.Generator(12345));
  const before = evaluateVae(v, 1, () => held);
  const data = new k.Generator(1);
  const { losses } = trainVae(v, () => movingShapes(2, 5, 16, 16, data), { steps: 30, lr: 5e-3, seed: 1 });
  const after = evaluateVae(v, 1, () => held);
  const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
  const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(last < 0.7 * first, `recon loss ${first} → ${last}`);
  assert.ok(after.psnr > before.psnr + 1, `held-out PSNR ${before.psnr} → ${after.psnr}`);
  v.dispose();
});

test('gradient checks through the whole encoder and decoder (inputs and strided/upsampling conv weights)', () => {
  const v = new CausalVae3d(micro, { generator: new k.Generator(21) });
  const x = k.randn([1, 3, 5, 8, 8], { generator: new k.Generator(22) });
  const z = k.randn([1, 2, 2, 1, 1], { generator: new k.Generator(23) });
  const opts = { eps: 1e-2, atol: 2e-2, rtol: 2e-2, maxPerInput: 24 };
  gradcheck((a) => v.encoder.forward(a), [x], opts);
  gradcheck((a) => v.decoder.forward(a), [z], opts);
  // parameters: gradcheck perturbs their storage in place, so closing over the module is enough
  gradcheck(() => v.encoder.forward(x), [v.encoder.down_blocks[1].downsamplers[0].conv.conv.weight], opts);
  gradcheck(() => v.decoder.forward(z), [v.decoder.up_blocks[0].upsamplers[0].conv.conv.weight, v.decoder.conv_norm_out!.weight], opts);
  v.dispose();
});

test('streaming state is constant in video length (decode and encode caches stop growing)', () => {
  const v = new CausalVae3d(micro, { generator: new k.Generator(31) });
  k.noGrad(() => {
    const dec = new CausalCache();
    const sizes: number[] = [];
    for (let i = 0; i < 6; i++) k.tidy(() => { v.decoder.forward(k.randn([1, 2, 1, 1, 1], { generator: new k.Generator(i) }), dec); sizes.push(dec.elements()); });
    assert.ok(sizes[1] > 0 && sizes.slice(1).every((s) => s === sizes[1]), `decode cache sizes ${sizes}`);
    dec.dispose();
    const enc = new CausalCache();
    const es: number[] = [];
    k.tidy(() => v.encoder.forward(k.randn([1, 3, 1, 8, 8], { generator: new k.Generator(40) }), enc));
    for (let i = 0; i < 5; i++) k.tidy(() => { v.encoder.forward(k.randn([1, 3, 4, 8, 8], { generator: new k.Generator(41 + i) }), enc); es.push(enc.elements()); });
    assert.ok(es.every((s) => s === es[0]), `encode cache sizes ${es}`);
    enc.dispose();
  });
  v.dispose();
});
