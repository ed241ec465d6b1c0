/**
 * The small VAE learns: vae-small trains on moving shapes to a held-out PSNR threshold within the test budget, and
 * on the trained model a spatially tiled decode/encode equals the untiled one within tolerance.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { CausalVae3d } from '../../../src/models/dit/vae.js';
import { vaeConfig, vaeParamCount } from '../../../src/models/dit/vae-config.js';
import { psnr } from '../../../src/models/dit/metrics.js';
import { edgeLoss, evaluateVae, trainVae, vaeLr } from '../../../src/train/video-vae.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { movingShapes } from '../../helpers/moving-shapes.js';

test('norm_type none: no GroupNorm parameters, count formula exact, fresh residual blocks are the identity', () => {
  const v = new CausalVae3d('vae-small', { generator: new k.Generator(1) });
  assert.equal(v.numParameters(), vaeParamCount(v.config));
  assert.equal(v.encoder.conv_norm_out, null);
  assert.ok(v.encoder.down_blocks[0].resnets[0].conv2.conv.weight.data().every((w) => w === 0));
  assert.ok(vaeParamCount(vaeConfig({ ...vaeConfig('vae-small'), norm_type: 'group', norm_num_groups: 8 })) > vaeParamCount(v.config));
  assert.throws(() => vaeConfig({ norm_type: 'layer' as 'group' }), (e: k.KilnError) => e.code === 'E_CONFIG');
  // warmup then cosine to 5 %
  assert.equal(vaeLr(0, 100, { lr: 1, warmup: 10, schedule: 'cosine' }), 0.1);
  assert.equal(vaeLr(10, 100, { lr: 1, warmup: 10, schedule: 'cosine' }), 1);
  assert.ok(Math.abs(vaeLr(99, 100, { lr: 1, warmup: 10, schedule: 'cosine' }) - 0.05) < 1e-12);
  v.dispose();
});

test('edge loss: zero on equal clips, its closed form on a single bright pixel, and its gradient', () => {
  const x = k.zeros([1, 1, 1, 3, 3]);
  assert.equal(edgeLoss(x, x).item(), 0);
  const y = k.zeros([1, 1, 1, 3, 3]);
  (y.data() as Float32Array)[4] = 1; // the centre: differences +1 and −1 along each axis, over 1·3·2 = 6 pairs
  assert.ok(Math.abs(edgeLoss(y, x).item() - (2 / 6 + 2 / 6)) < 1e-7);
  const target = k.randn([1, 2, 2, 3, 4], { generator: new k.Generator(4) });
  gradcheck((a) => edgeLoss(a, target), [k.randn([1, 2, 2, 3, 4], { generator: new k.Generator(3) })], { atol: 1e-2, rtol: 1e-2 });
});

test('residual autoencoding + no norm stay causal and chunk-exact: frame 0 alone == with more frames; chunked == full', () => {
  const v = new CausalVae3d({ latent_channels: 2, block_out_channels: [4, 4, 4, 4], layers_per_block: 1, norm_type: 'none', residual_autoencoding: true }, { generator: new k.Generator(5) });
  k.noGrad(() => {
    const x = k.randn([1, 3, 13, 16, 16], { generator: new k.Generator(6) });
    const full = v.encoder.forward(x);
    assert.ok(v.encoder.forward(x.slice(2, 0, 1)).sub(full.slice(2, 0, 1)).square().mean().item() < 1e-12);
    for (const chunk of [4, 8]) assert.ok(v.encodeChunked(x, chunk).sub(full).square().mean().item() < 1e-12, `encode chunk ${chunk}`);
    const z = full.slice(1, 0, 2).contiguous();
    const dec = v.decode(z);
    for (const chunk of [1, 2]) assert.ok(v.decodeChunked(z, chunk).sub(dec).square().mean().item() < 1e-12, `decode chunk ${chunk}`);
    assert.ok(v.decode(z.slice(2, 0, 1)).sub(dec.slice(2, 0, 1)).square().mean().item() < 1e-12);
  });
  v.dispose();
});

test('vae-small trains to a held-out PSNR threshold; tiled decode/encode == untiled within tolerance', () => {
  const v = new CausalVae3d('vae-small', { generator: new k.Generator(1) });
  const held = movingShapes(4, 5, 16, 16, new k.Generator(12345));
  const before = evaluateVae(v, 1, () => held);
  const data = new k.Generator(1);
  trainVae(v, () => movingShapes(4, 5, 16, 16, data), { steps: STEPS, lr: 5e-4, warmup: 10, schedule: 'cosine', seed: 1 });
  const after = evaluateVae(v, 1, () => held);
  console.log(`vae-small, ${STEPS} steps: held-out PSNR ${before.psnr.toFixed(2)} → ${after.psnr.toFixed(2)} dB, SSIM ${before.ssim.toFixed(3)} → ${after.ssim.toFixed(3)}`);
  assert.ok(after.psnr >= PSNR_MIN && after.psnr > before.psnr + 1, `held-out PSNR ${before.psnr.toFixed(2)} → ${after.psnr.toFixed(2)} dB (want ≥ ${PSNR_MIN})`);
  // tiling on the trained (fully convolutional) model: 64×64 frames, 40-px tiles overlapping by 24 px
  k.noGrad(() => {
    const x = movingShapes(1, 5, 64, 64, new k.Generator(77));
    const m = v.encodeChunked(x, 4);
    const mt = v.encodeChunked(x, 4, { tileSize: 40, tileOverlap: 24 });
    const z = m.slice(1, 0, 16).contiguous();
    const y = v.decodeChunked(z, 1);
    const yt = v.decodeChunked(z, 1, { tileSize: 40, tileOverlap: 24 });
    const tiledVsFull = psnr(yt, y);
    const latentRel = mt.sub(m).square().mean().item() / m.square().mean().item();
    const recon = psnr(y.clamp(-1, 1), x);
    const reconTiled = psnr(yt.clamp(-1, 1), x);
    const report = JSON.stringify({ before, after, tiledVsFull, latentRel, recon, reconTiled });
    assert.ok(tiledVsFull >= 33, `tiled vs untiled decode: ${report}`);
    assert.ok(latentRel < 2e-4, `tiled vs untiled encode: ${report}`);
    assert.ok(reconTiled >= recon - 0.5, `tiled reconstruction no worse than untiled: ${report}`);
  });
  v.dispose();
});

const STEPS = 80;
const PSNR_MIN = 16.5;
