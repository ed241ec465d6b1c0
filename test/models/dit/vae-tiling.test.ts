/** VAE spatial tiling: tile grids, blend weights, exact blending of a pointwise map, whole-frame tiles == untiled. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { maxDiff } from '../../helpers/tensors.js';
import { CausalVae3d } from '../../../src/models/dit/vae.js';
import { rampWeights, tileGrid, TileBlender } from '../../../src/models/dit/vae-tiling.js';
import { upsampleNearest } from '../../../src/tensor/ops/resample.js';

test('tileGrid covers the axis with aligned overlapping tiles; rampWeights rise and fall over the overlaps', () => {
  assert.deepEqual(tileGrid(32, 64, 16, 8), [{ start: 0, len: 32, before: 0, after: 0 }]);
  const g = tileGrid(72, 32, 8, 8); // stride 24: 0, 24, then flush with the end at 40 (overlap 16)
  assert.deepEqual(g.map((t) => t.start), [0, 24, 40]);
  assert.deepEqual(tileGrid(80, 32, 8, 8).map((t) => t.start), [0, 24, 48]);
  assert.deepEqual(g.map((t) => [t.before, t.after]), [[0, 8], [8, 16], [16, 0]]);
  for (const t of g) assert.equal(t.start % 8, 0);
  assert.throws(() => tileGrid(80, 30, 8, 8), (e: k.KilnError) => e.code === 'E_ARG');
  assert.throws(() => tileGrid(80, 32, 32, 8), (e: k.KilnError) => e.code === 'E_ARG');
  const w = rampWeights(8, 4, 2);
  assert.deepEqual(Array.from(w), [0.125, 0.375, 0.625, 0.875, 1, 1, 0.75, 0.25]);
  assert.ok(Array.from(rampWeights(5, 0, 0)).every((v) => v === 1));
});

test('TileBlender: overlapping tiles of a pointwise (nearest ×2) map blend back to the untiled result', () => {
  const x = k.randn([1, 2, 3, 20, 28], { generator: new k.Generator(1) });
  const full = upsampleNearest(x, [1, 2, 2]).mul(3);
  const rows = tileGrid(20, 8, 4, 1);
  const cols = tileGrid(28, 12, 4, 1);
  const b = new TileBlender([1, 2, 3, 40, 56]);
  for (const r of rows) for (const c of cols) {
    const y = upsampleNearest(x.slice(3, r.start, r.start + r.len).slice(4, c.start, c.start + c.len), [1, 2, 2]).mul(3);
    b.add(y, 2 * r.start, 2 * c.start, rampWeights(2 * r.len, 2 * r.before, 2 * r.after), rampWeights(2 * c.len, 2 * c.before, 2 * c.after));
  }
  assert.ok(rows.length > 2 && cols.length > 2);
  assert.ok(maxDiff(b.result(), full) < 1e-5);
  // an uncovered pixel is an error, not a silent zero
  const partial = new TileBlender([1, 1, 1, 4, 4]);
  partial.add(k.ones([1, 1, 1, 2, 4]), 0, 0, rampWeights(2, 0, 0), rampWeights(4, 0, 0));
  assert.throws(() => partial.result(), (e: k.KilnError) => e.code === 'E_ARG');
});

test('VAE: a whole-frame tile is exactly the untiled pass; smaller tiles keep shapes and causality', () => {
  const v = new CausalVae3d({ latent_channels: 2, block_out_channels: [4, 4, 4, 4], layers_per_block: 1, norm_num_groups: 2 }, { generator: new k.Generator(2) });
  k.noGrad(() => {
    const x = k.randn([1, 3, 5, 16, 40], { generator: new k.Generator(3) });
    const m = v.encodeChunked(x, 4);
    assert.deepEqual(v.encodeChunked(x, 4, { tileSize: 40 }).data(), m.data());
    const z = m.slice(1, 0, 2).contiguous();
    const d = v.decodeChunked(z, 1);
    assert.deepEqual(v.decodeChunked(z, 1, { tileSize: 40 }).data(), d.data());
    const dt = v.decodeChunked(z, 1, { tileSize: 16, tileOverlap: 8 });
    assert.deepEqual(dt.shape, d.shape);
    const mt = v.encodeChunked(x, 4, { tileSize: 16, tileOverlap: 8 });
    assert.deepEqual(mt.shape, m.shape);
    // tiles stream in time like the untiled pass: the first latent frame decodes the same alone
    assert.ok(maxDiff(v.decodeChunked(z.slice(2, 0, 1), 1, { tileSize: 16, tileOverlap: 8 }), dt.slice(2, 0, 1)) < 1e-6);
    const frames: number[] = [];
    v.decodeStream(z, (y, s) => frames.push(s, y.shape[2]), { tileSize: 16, tileOverlap: 8 });
    assert.deepEqual(frames, [0, 1, 1, 4]);
  });
  v.dispose();
});
