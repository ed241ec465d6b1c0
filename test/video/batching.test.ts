/** Bucketed batching (src/train/video-data.ts): single-bucket batches, every sample once per epoch, seeded order. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchVideo, bucketShape, BucketBatcher, chwToFrames, framesToChw, type VideoSample } from '../../src/train/video-data.js';

const samples = [...Array(10).fill('a'), ...Array(7).fill('b'), ...Array(3).fill('c')].map((bucket) => ({ bucket }));

test('every batch is from one bucket and every sample appears exactly once per epoch', () => {
  const b = new BucketBatcher(samples, { batchSize: 4, seed: 1 });
  for (const e of [0, 1, 2]) {
    const batches = b.epoch(e);
    for (const batch of batches) assert.equal(new Set(batch.map((i) => samples[i].bucket)).size, 1);
    assert.deepEqual(batches.flat().sort((x, y) => x - y), samples.map((_, i) => i));
    // ceil(10/4) + ceil(7/4) + ceil(3/4) batches: a bucket is drawn in proportion to its size
    assert.equal(batches.length, 3 + 2 + 1);
    assert.ok(batches.every((x) => x.length >= 1 && x.length <= 4));
  }
});

test('seeded: same seed and epoch → same order; other epoch or seed → another order', () => {
  const a = new BucketBatcher(samples, { batchSize: 4, seed: 7 });
  const b = new BucketBatcher(samples, { batchSize: 4, seed: 7 });
  assert.deepEqual(a.epoch(3), b.epoch(3));
  assert.notDeepEqual(a.epoch(0), a.epoch(1));
  assert.notDeepEqual(a.epoch(0), new BucketBatcher(samples, { batchSize: 4, seed: 8 }).epoch(0));
  const it = a.batches();
  const first = Array.from({ length: 12 }, () => it.next().value);
  assert.deepEqual(first, [...a.epoch(0), ...a.epoch(1)]);
});

test('dropLast keeps only full batches', () => {
  const batches = new BucketBatcher(samples, { batchSize: 4, dropLast: true }).epoch(0);
  assert.equal(batches.length, 2 + 1);
  assert.ok(batches.every((x) => x.length === 4));
});

test('bucket shape: smallest size rounded down to the multiples, length to 1 + 4k', () => {
  assert.deepEqual(bucketShape([{ width: 50, height: 33, frames: 12 }, { width: 49, height: 35, frames: 10 }], 8, 4), { width: 48, height: 32, frames: 9 });
  assert.deepEqual(bucketShape([{ width: 32, height: 32, frames: 5 }]), { width: 32, height: 32, frames: 5 });
});

test('frames ↔ [3, T, H, W] in [−1, 1] and batching refuses mixed shapes', () => {
  const f = { data: Uint8Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => (i * 17) % 256), frames: 2, height: 2, width: 3 };
  const x = new Float32Array(36);
  framesToChw(f, x);
  assert.equal(x[0], Math.fround(f.data[0] / 127.5 - 1));
  assert.equal(x[12], Math.fround(f.data[1] / 127.5 - 1)); // channel 1 plane starts at T·H·W = 12
  assert.deepEqual(chwToFrames(x, 2, 2, 3).data, f.data);
  const s = (w: number): VideoSample => ({ key: `k${w}`, caption: 'c', bucket: 'b', meta: {}, frames: { data: new Uint8Array(2 * 2 * w * 3), frames: 2, height: 2, width: w } });
  const { video, captions } = batchVideo([s(3), s(3)]);
  assert.deepEqual(video.shape, [2, 3, 2, 2, 3]);
  assert.deepEqual(captions, ['c', 'c']);
  assert.throws(() => batchVideo([s(3), s(4)]), /batch is 3x2x2/);
});
