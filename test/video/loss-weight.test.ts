/**
 * src/train/video-dit.ts `lossWeight`: with w ≡ 1 the weighted loss is flow-loss.ts's velocity loss (same draws,
 * same values); `cappedXWeight(σ_c)` is min(1, (σ/σ_c)²); a weight that zeroes every sample gives a zero loss;
 * `lowNoiseFraction` puts that fraction of the training σ on U(0, 1) unshifted (seen through the timesteps the model gets).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleScenes } from '../../src/apps/demo-videos/dataset.js';
import { captionOf, renderScene } from '../../src/apps/demo-videos/scene.js';
import { tinyVideoModelConfig, tokenCount } from '../../src/apps/demo-videos/text-to-video.js';
import { VideoModel } from '../../src/apps/video-model.js';
import type { VideoSample } from '../../src/train/video-data.js';
import { cappedXWeight, trainVideoDit } from '../../src/train/video-dit.js';
import type { Condition } from '../../src/models/dit/flow.js';
import type { Tensor } from '../../src/tensor/tensor.js';

function samplesOf(): VideoSample[] {
  const scenes = sampleScenes(4, 3, { sizes: [[16, 16]], lengths: [3] });
  return scenes.map((s, i) => ({ key: `s${i}`, caption: captionOf(s), bucket: 'b', frames: renderScene(s), meta: {} }));
}

function tinyModel(): VideoModel {
  return new VideoModel(tinyVideoModelConfig('pixel', 3, { frames: 3, height: 16, width: 16 }, { hidden: 16, heads: 2, layers: 1, textHidden: 8, textLayers: 1 }), { seed: 4 });
}

function run(lossWeight?: (s: number) => number): number[] {
  const samples = samplesOf();
  const model = tinyModel();
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

/** Training σ (timestep / 1000) the model saw over 30 steps of 4 clips with shift 8. */
function sigmasSeen(lowNoiseFraction: number): number[] {
  const model = tinyModel();
  const seen: number[] = [];
  const recording = {
    encode: (v: Tensor) => model.encode(v),
    condition: (p: readonly string[]) => model.condition(p),
    velocity: () => {
      const v = model.velocity();
      return (x: Tensor, t: Tensor, c: Condition) => (seen.push(...(t.data() as Float32Array).map((s) => s / 1000)), v(x, t, c));
    },
  };
  try {
    trainVideoDit(recording, samplesOf(), { params: model.dit.parameters(), steps: 30, batchSize: 4, seed: 5, shift: 8, lowNoiseFraction });
    return seen;
  } finally {
    model.dispose();
  }
}

test('lowNoiseFraction: that share of training σ is uniform on (0, 1), the rest shifted', () => {
  const low = (xs: number[]): number => xs.filter((s) => s < 0.3).length / xs.length;
  const plain = sigmasSeen(0), mixed = sigmasSeen(0.5);
  assert.equal(plain.length, 120);
  // shift 8 leaves almost nothing below 0.3 (logit-normal: P ≈ 0.3 %); half the draws uniform puts ≈ 15 % there
  assert.ok(low(plain) <= 0.02, `shifted only: ${low(plain)}`);
  assert.ok(low(mixed) >= 0.07 && low(mixed) <= 0.3, `half uniform: ${low(mixed)}`);
  assert.ok(mixed.every((s) => s > 0 && s < 1));
});
