/**
 * The Aquarius demo data: the checker reads back exactly what the renderer's captions say — from the rendered frames
 * (every attribute combination), and from real MP4s curated by the datapipe into bucketed WebDataset shards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkVideo, readScene, summarize } from '../../src/apps/demo-videos/check.js';
import { buildDemoShards, checkPromptSet, sampleScenes, writeDemoVideos } from '../../src/apps/demo-videos/dataset.js';
import { captionOf, parsePrompt, renderScene } from '../../src/apps/demo-videos/scene.js';
import { ffmpegPaths, haveBinary } from '../../src/io/ffmpeg.js';
import { loadVideoSamples } from '../../src/train/video-data.js';

const skip = !haveBinary(ffmpegPaths().ffmpeg) && !process.env.CI ? 'ffmpeg not installed' : false;

test('captions and prompts: every attribute is said and parsed back', () => {
  const s = sampleScenes(1, 0)[0];
  const c = captionOf(s);
  const p = parsePrompt(c);
  assert.deepEqual([p.color, p.shape, p.texture, p.direction, p.background], [s.color, s.shape, s.texture, s.direction, s.background]);
  assert.equal(captionOf({ ...s, color: 'red', texture: 'plain', shape: 'circle', direction: 'up', background: 'dark' }), 'a red circle moving up on a dark background');
});

test('scene sampling is balanced, seeded, and covers every size and length', () => {
  const a = sampleScenes(432, 3);
  assert.deepEqual(a, sampleScenes(432, 3));
  assert.notDeepEqual(a.map(captionOf), sampleScenes(432, 4).map(captionOf));
  assert.equal(new Set(a.map(captionOf)).size, 432); // one full cycle = every combination once
  const count = (k: (s: (typeof a)[0]) => string) => new Set(a.map(k)).size;
  assert.equal(count((s) => `${s.width}x${s.height}x${s.frames}`), 6);
  assert.equal(a.filter((s) => s.color === 'red').length, 108);
  assert.equal(checkPromptSet(10)[0].prompt, captionOf(sampleScenes(1, 1000)[0]));
});

test('the checker reads colour, direction and shape of every rendered combination (100%)', () => {
  const rows = sampleScenes(432, 1).map((s) => checkVideo(renderScene(s), captionOf(s)));
  const { accuracy } = summarize(rows);
  assert.deepEqual(accuracy, { color: 1, direction: 1, shape: 1, all: 1 });
});

test('the checker is not fooled: wrong prompts, an empty clip, a static object', () => {
  const s = { ...sampleScenes(1, 0)[0], color: 'red' as const, direction: 'left' as const, shape: 'square' as const };
  const r = checkVideo(renderScene(s), 'a blue triangle moving right on a dark background');
  assert.deepEqual(r.ok, { color: false, direction: false, shape: false });
  const blank = renderScene({ ...s, frames: 3 });
  blank.data.fill(110);
  assert.deepEqual([readScene(blank).color, readScene(blank).direction, readScene(blank).shape], ['none', 'none', 'none']);
  const still = renderScene({ ...s, frames: 1 });
  assert.equal(readScene(still).direction, 'none');
});

test('demo videos → datapipe → bucketed shards → loader → checker: captions match (100%)', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-demo-data-'));
  try {
    const vids = await writeDemoVideos(join(dir, 'videos'), { count: 12, seed: 5 });
    assert.equal(vids.length, 12);
    assert.equal(JSON.parse(readFileSync(join(dir, 'videos', 'demo-00000.json'), 'utf8')).caption, vids[0].caption);
    const s = await buildDemoShards(join(dir, 'videos'), join(dir, 'curated'));
    assert.deepEqual([s.kept, s.dropped, s.errors], [12, 0, 0]);
    const samples = await loadVideoSamples(join(dir, 'curated'));
    assert.equal(samples.length, 12);
    assert.deepEqual(samples.map((x) => x.caption).sort(), vids.map((v) => v.caption).sort());
    assert.deepEqual([...new Set(samples.map((x) => x.bucket))].sort(),
      ['1:1/32p/<1s', '1:1/32p/>=1s', '2:3/32p/<1s', '2:3/32p/>=1s', '3:2/32p/<1s', '3:2/32p/>=1s']);
    for (const x of samples) {
      const [a] = x.bucket.split('/');
      const want = { '1:1': [32, 32], '3:2': [48, 32], '2:3': [32, 48] }[a]!;
      assert.deepEqual([x.frames.width, x.frames.height], want);
      assert.equal(x.frames.frames, x.bucket.endsWith('<1s') ? 5 : 9);
    }
    const { accuracy } = summarize(samples.map((x) => checkVideo(x.frames, x.caption)));
    assert.deepEqual(accuracy, { color: 1, direction: 1, shape: 1, all: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
