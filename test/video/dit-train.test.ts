/**
 * The DiT on the demo buckets: forward shapes for every bucket (pixel space with 1×8×8 patches, VAE-latent space,
 * and the MM-DiT), and a tiny bucketed rectified-flow run whose loss falls (clips rendered in memory, no ffmpeg).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_LENGTHS, DEMO_SIZES, sampleScenes } from '../../src/apps/demo-videos/dataset.js';
import { captionOf, renderScene } from '../../src/apps/demo-videos/scene.js';
import { generateVideo, tinyVideoModelConfig, tokenCount } from '../../src/apps/demo-videos/text-to-video.js';
import { loadVideoModel, VideoModel } from '../../src/apps/video-model.js';
import { MmDit } from '../../src/models/dit/mm-dit.js';
import { vaeConfig } from '../../src/models/dit/vae-config.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { fromArray, randn } from '../../src/tensor/creation.js';
import { Generator } from '../../src/tensor/random.js';
import { tidy } from '../../src/tensor/scope.js';
import type { VideoSample } from '../../src/train/video-data.js';
import { trainVideoDit } from '../../src/train/video-dit.js';

const buckets = DEMO_SIZES.flatMap(([width, height]) => DEMO_LENGTHS.map((frames) => ({ width, height, frames })));

test('DiT forward shapes for every demo bucket: pixel space, VAE latents, MM-DiT', () => {
  const pixel = new VideoModel(tinyVideoModelConfig('pixel', 3, { frames: 5, height: 32, width: 32 }, { hidden: 32, layers: 1 }));
  const vc = vaeConfig('vae-tiny');
  const latent = new VideoModel(tinyVideoModelConfig('latent', vc.latent_channels, { frames: 5, height: 32, width: 32 }, { hidden: 32, layers: 1 }, vc));
  const mm = new MmDit('mm-dit-tiny', { generator: new Generator(3) });
  try {
    noGrad(() => {
      for (const { width: W, height: H, frames: T } of buckets)
        tidy(() => {
          for (const m of [pixel, latent]) {
            const shape = m.latentShape(2, T, H, W);
            const cond = m.condition(['a red square moving left on a dark background', 'a blue circle']);
            const v = m.velocity()(randn(shape, { generator: new Generator(1) }), fromArray([500, 900], [2]), cond);
            assert.deepEqual(v.shape, shape, `${m.config.space} ${W}x${H}x${T}`);
            assert.ok((v.data() as Float32Array).every(Number.isFinite));
          }
          assert.deepEqual(latent.latentShape(1, T, H, W), [1, 4, 1 + (T - 1) / 4, H / 8, W / 8]);
          assert.equal(tokenCount(pixel, pixel.latentShape(1, T, H, W)), T * (H / 8) * (W / 8));
          const lat = latent.latentShape(1, T, H, W);
          const text = randn([1, 3, 32], { generator: new Generator(2) });
          const pooled = randn([1, 32], { generator: new Generator(4) });
          const z = randn([1, 4, lat[2], lat[3] * 2, lat[4] * 2], { generator: new Generator(5) });
          assert.deepEqual(mm.forward({ latents: z, timestep: fromArray([300], [1]), text, pooled }).shape, z.shape);
        });
    });
  } finally {
    pixel.dispose();
    latent.dispose();
    mm.dispose();
  }
});

test('tiny bucketed rectified-flow run on demo clips: the loss falls; save → load → generate', () => {
  const scenes = sampleScenes(16, 2, { sizes: [[32, 32], [48, 32]], lengths: [5] });
  const samples: VideoSample[] = scenes.map((s, i) => ({ key: `s${i}`, caption: captionOf(s), bucket: `${s.width}x${s.height}x${s.frames}`, frames: renderScene(s), meta: {} }));
  const model = new VideoModel(tinyVideoModelConfig('pixel', 3, { frames: 5, height: 32, width: 32 }, { hidden: 32, layers: 2, textHidden: 16, textLayers: 1 }), { seed: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'kiln-dit-'));
  try {
    const params = [...model.dit.parameters(), ...model.text_encoder.parameters()];
    const seen = new Set<string>();
    const r = trainVideoDit(model, samples, { params, steps: 60, batchSize: 4, lr: 3e-3, warmup: 5, seed: 0, tokensOf: (s) => tokenCount(model, s), onStep: (_s, _l, b) => seen.add(b) });
    assert.equal(r.losses.length, 60);
    assert.deepEqual([...seen].sort(), ['32x32x5', '48x32x5']);
    const avg = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    const first = avg(r.losses.slice(0, 10)), last = avg(r.losses.slice(-10));
    assert.ok(last < 0.88 * first, `loss did not fall: ${first.toFixed(3)} → ${last.toFixed(3)}`);
    model.save(dir);
    const back = loadVideoModel(dir);
    try {
      const a = generateVideo(model, ['a red square moving left on a dark background'], { frames: 5, width: 48, height: 32, steps: 3, seed: 4 });
      const b = generateVideo(back, ['a red square moving left on a dark background'], { frames: 5, width: 48, height: 32, steps: 3, seed: 4 });
      assert.deepEqual([a.videos[0].frames, a.videos[0].height, a.videos[0].width], [5, 32, 48]);
      assert.deepEqual(a.videos[0].data, b.videos[0].data);
    } finally {
      back.dispose();
    }
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
