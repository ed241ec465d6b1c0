/** MM-DiT parameter accounting: Kiln's build, HunyuanVideo's published transformer (token refiner), and the gap. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { mmDitConfig, mmDitParamCount, tokenRefinerParamCount } from '../../../src/models/dit/dit-config.js';
import { mmDitFamily } from '../../../src/models/dit/family.js';
import { MmDit } from '../../../src/models/dit/mm-dit.js';
import { normal_ } from '../../../src/nn/init.js';

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

test('MmDit builds the token refiner (num_refiner_layers > 0): its module tree has exactly the counted parameters, under the diffusers names', () => {
  const m = new MmDit({ ...mmDitConfig('mm-dit-tiny'), num_refiner_layers: 2, mlp_ratio: 2 });
  assert.equal(m.numParameters(), mmDitParamCount(m.config));
  const names = [...m.stateDict().keys()].filter((n) => n.startsWith('context_embedder.'));
  for (const n of ['context_embedder.time_text_embed.timestep_embedder.linear_1.weight', 'context_embedder.time_text_embed.text_embedder.linear_2.bias',
    'context_embedder.proj_in.weight', 'context_embedder.token_refiner.refiner_blocks.1.attn.to_out.0.weight',
    'context_embedder.token_refiner.refiner_blocks.0.ff.net.0.proj.weight', 'context_embedder.token_refiner.refiner_blocks.0.ff.net.2.bias',
    'context_embedder.token_refiner.refiner_blocks.0.norm_out.linear.weight', 'context_embedder.token_refiner.refiner_blocks.0.norm1.bias'])
    assert.ok(names.includes(n), n);
  // the refiner MLP is 4·D whatever mlp_ratio (diffusers' default mlp_width_ratio)
  assert.deepEqual(m.stateDict().get('context_embedder.token_refiner.refiner_blocks.0.ff.net.0.proj.weight')!.shape, [128, 32]);
  // it trains: every refiner parameter gets a gradient (the zero-initialised adaLN/proj_out layers randomised first)
  const g = new k.Generator(7);
  for (const [n, p] of m.namedParameters()) if (n.includes('.linear.') || n.startsWith('proj_out')) normal_(p, 0, 0.3, g);
  const mask = k.fromArray([1, 1, 1, 1, 1, 0], [1, 6]);
  const out = m.forward({ latents: k.randn([1, 4, 1, 4, 4], { generator: g }), timestep: k.fromArray([500], [1]), text: k.randn([1, 6, 32], { generator: g }), textMask: mask, pooled: k.randn([1, 32], { generator: g }) });
  out.square().mean().backward();
  for (const [n, p] of m.namedParameters())
    if (n.startsWith('context_embedder.')) assert.ok(p.grad && Math.max(...(p.grad.data() as Float32Array).map(Math.abs)) > 0, `no gradient for ${n}`);
  m.dispose();
});
