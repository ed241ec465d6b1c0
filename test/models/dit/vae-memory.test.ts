/** VAE decode memory: the streamed, chunked decode's allocator high-water mark does not grow with video length. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { CausalVae3d } from '../../../src/models/dit/vae.js';
import { peakBytesOf } from '../../../src/bench/aquarius-vae.js';

test('chunked decode peak memory is flat in video length (5 vs 17 latent frames); the full pass grows', () => {
  const v = new CausalVae3d({ latent_channels: 4, block_out_channels: [8, 16, 16, 16], layers_per_block: 1, norm_num_groups: 4 }, { generator: new k.Generator(1) });
  const peaks: Record<number, { stream: number; chunked: number; full: number }> = {};
  for (const t of [5, 17]) {
    const z = k.randn([1, 4, t, 2, 2], { generator: new k.Generator(t) });
    let frames = 0;
    const stream = peakBytesOf(() => v.decodeStream(z, (y) => { frames += y.shape[2]; }));
    assert.equal(frames, 1 + 4 * (t - 1));
    const chunked = peakBytesOf(() => v.decodeChunked(z, 1).dispose());
    const full = peakBytesOf(() => k.noGrad(() => k.tidy(() => { v.decode(z); })));
    peaks[t] = { stream, chunked, full };
    z.dispose();
  }
  const [a, b] = [peaks[5], peaks[17]];
  // streamed: the same high-water mark (within 2 %) for 17 vs 65 frames
  assert.ok(Math.abs(b.stream - a.stream) <= 0.02 * a.stream, `stream peaks ${a.stream} vs ${b.stream}`);
  // collected: grows by at most the extra output (+ the concatenated copy), not by activations
  const extraOutput = 4 * 3 * (65 - 17) * 16 * 16;
  assert.ok(b.chunked - a.chunked <= 2.5 * extraOutput, `chunked peaks ${a.chunked} vs ${b.chunked}`);
  // the full pass holds every frame's activations at once
  assert.ok(b.full > 2.5 * a.full, `full peaks ${a.full} vs ${b.full}`);
  v.dispose();
});
