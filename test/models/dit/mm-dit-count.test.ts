/** MM-DiT parameter accounting: Kiln's build, HunyuanVideo's published transformer (token refiner), and the gap. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { mmDitConfig, mmDitParamCount, tokenRefinerParamCount } from '../../../src/models/dit/dit-config.js';
import { mmDitFamily } from '../../../src/models/dit/family.js';
import { MmDit } from '../../../src/models/dit/mm-dit.js';

test('mm-dit-13b counts what MmDit builds; hunyuan-video-13b adds the 2-layer token refiner (independent arithmetic)', () => {
  const D = 3072;
  const M = 4 * D;
  const lin = (i: number, o: number) => i * o + o;
  // refiner: timestep MLP (256 → D → D), pooled-text MLP (4096 → D → D), 2 × (LN, attention with biases, LN, SiLU MLP, gate D → 2D)
  const block = 2 * D + 4 * lin(D, D) + 2 * D + lin(D, M) + lin(M, D) + lin(D, 2 * D);
  const refiner = lin(256, D) + lin(D, D) + lin(4096, D) + lin(D, D) + 2 * block;
  assert.equal(block, 132_166_656);
  assert.equal(refiner, 296_589_312);
  assert.equal(mmDitParamCount(mmDitConfig('mm-dit-13b')), 12_524_423_232);
  assert.equal(tokenRefinerParamCount(mmDitConfig('hunyuan-video-13b')), refiner);
  assert.equal(mmDitParamCount(mmDitConfig('hunyuan-video-13b')), 12_524_423_232 + refiner);
  assert.equal(mmDitParamCount(mmDitConfig('hunyuan-video-13b')), 12_821_012_544);
  const info = mmDitFamily.info('hunyuan-video-13b');
  assert.equal(info.params_token_refiner, refiner);
  assert.equal((info.params_dual_blocks as number) + (info.params_single_blocks as number) + (info.params_embed_and_head as number) + (info.params_token_refiner as number), info.params_total);
  assert.throws(() => mmDitConfig({ num_refiner_layers: -1 }), (e: k.KilnError) => e.code === 'E_CONFIG');
});

test('MmDit refuses a config with a token refiner it does not build (counted only), naming the key', () => {
  assert.throws(() => new MmDit({ ...mmDitConfig('mm-dit-tiny'), num_refiner_layers: 1 }), /num_refiner_layers = 1/);
});
