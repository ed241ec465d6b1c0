/**
 * src/train/video-dit.ts `lossWeight`: with w ≡ 1 the weighted loss is flow-loss.ts's velocity loss (same draws,
 * same values); `cappedXWeight(σ_c)` is min(1, (σ/σ_c)²); a weight that zeroes every sample gives a zero loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleScenes } from '../../src/apps/demo-videos/dataset.js';
import { captionOf, renderScene } from '../../src/apps/demo-videos/scene.js';
import { tinyVideoModelConfig, tokenCount } from '../../src/apps/demo-videos/text-to-video.js';
import { VideoModel } from '../../src/apps/video-model.js';
import type { VideoSample } from '../../src/train/video-data.js';
import { cappedXWeight, trainVideoDit } from '../../src/train/video-dit.js';

function run(lossWeight?: (s: number) => number): number[] {
  const scenes = sampleScenes(4, 3, { sizes: [[16, 16]], lengths: [3] });
  const samples: VideoSample[] = scenes.map((s, i) => ({ key: `s${i}`, caption: captionOf(s), bucket: 'b', frames: renderScene(s), meta: {} }));
  const model = new VideoModel(tinyVideoModelConfig('pixel', 3, { frames: 3, height: 16, width: 16 }, { hidden: 16, heads: 2, layers: 1, textHidden: 8, textLayers: 1 }), { seed: 4 });
  try {
    return trainVideoDit(model, samples, { params: model.dit.parameters(), steps: 3, batchSize: 4, lr: 1e-3, warmup: 1, seed: 2,
      tokensOf: (s) => tokenCount(model, s), lossWeight }).losses;
  } finally {
    model.dispose();
  }
}

test('lossWeight: w ≡ 1 equals the plain velocity loss; w ≡ 0 gives 0; cappedXWeight', () => {
  const plain = run(), ones = run(() => 1), zero = run(() => 0);
  assert.equal(plain.length, 3);
  plain.forEach((l, i) => assert.ok(Math.abs(l - ones[i]) < 1e-5 * l, `step ${i}: ${l} vs ${ones[i]}`));
  assert.ok(plain[0] > 0.1);
  assert.deepEqual(zero, [0, 0, 0]);
  const w = cappedXWeight(0.5);
  assert.equal(w(0.25), 0.25);
  assert.equal(w(0.5), 1);
  assert.equal(w(0.9), 1);
});
