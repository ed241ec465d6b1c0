/** `kiln bench video-cache` and `dit-step` library functions at quick size: shapes and sane values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchVideoCache, videoCacheLines } from '../../src/bench/aquarius-cache.js';
import { benchDitStep, ditForwardFlops, ditStepLines, ditStepWorkload } from '../../src/bench/dit-step.js';
import { singleDitConfig } from '../../src/models/dit/dit-config.js';

test('video-cache quick: uncached row first, cached rows skip calls, PSNR/SSIM vs uncached', async () => {
  const r = await benchVideoCache({ quick: true, settings: ['teacache:0', 'teacache:1000', 'fbcache:0'] });
  assert.deepEqual(r.rows.map((x) => x.setting), ['none', 'teacache:0', 'teacache:1000', 'fbcache:0']);
  const [none, t0, tBig, f0] = r.rows;
  assert.equal(none.speedup, 1);
  assert.equal(none.skipped, 0);
  // threshold 0 is exact; a huge threshold skips every call but the first and last of each stream (10 steps, 2 CFG streams)
  assert.equal(t0.psnr, Infinity);
  assert.equal(f0.psnr, Infinity);
  assert.equal(t0.skipped, 0);
  assert.equal(tBig.skipped, 16);
  assert.equal(tBig.calls, 20);
  assert.ok(tBig.psnr > 0 && Number.isFinite(tBig.psnr) && tBig.ssim <= 1);
  assert.equal(r.teacacheCoefficients.length, 3);
  assert.ok(videoCacheLines(r).some((l) => l.startsWith('target')));
});

test('dit-step: FLOP count by hand for a small config; quick run gives finite tokens/s', async () => {
  const c = singleDitConfig({ num_attention_heads: 1, attention_head_dim: 8, in_channels: 2, out_channels: 2, text_dim: 4, freq_dim: 4, ffn_dim: 16, num_layers: 1 });
  // N = 4 tokens, L = 2 text tokens, D = 8, P = 8, F = 16
  const embed = 2 * 4 * 8 * 8 + 2 * (4 * 8 + 64) + 2 * 8 * 48 + 2 * 2 * (4 * 8 + 64);
  const block = 8 * 4 * 64 + 4 * 16 * 8 + 4 * 4 * 64 + 4 * 2 * 64 + 4 * 4 * 2 * 8 + 4 * 4 * 8 * 16;
  assert.equal(ditForwardFlops(c, 4, 2), embed + block + 2 * 4 * 8 * 8);
  const r = await benchDitStep(ditStepWorkload({ quick: true }), 1, true, 100);
  assert.ok(r.tokensPerSecond > 0 && Number.isFinite(r.lastLoss));
  assert.equal(r.tokensPerStep, 32);
  assert.ok(r.mfu! > 0 && r.mfu! < 1);
  assert.equal(ditStepLines(r).length, 5);
});
