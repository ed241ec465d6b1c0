/** diffusers layout mapping: Conv3d patch embedding == Linear on patchify; Wan's channel-last unpatchify; round trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { maxDiff } from '../../helpers/tensors.js';
import { conv3d } from '../../../src/tensor/ops/conv.js';
import { SingleDit } from '../../../src/models/dit/single-dit.js';
import { MmDit } from '../../../src/models/dit/mm-dit.js';
import { patchify } from '../../../src/models/dit/embeddings.js';
import { sanitizeHunyuan, sanitizeWan, toWan } from '../../../src/models/dit/hf.js';
import { normal_ } from '../../../src/nn/init.js';


test('a Conv3d patch-embedding weight reshaped is our Linear over patchify tokens', () => {
  const gen = new k.Generator(1);
  const x = k.randn([1, 4, 2, 4, 6], { generator: gen });
  const w = k.randn([8, 4, 1, 2, 2], { generator: gen });
  const conv = conv3d(x, w, null, { stride: [1, 2, 2] }); // [1, 8, 2, 2, 3]
  const lin = patchify(x, [1, 2, 2]).tokens.matmul(w.reshape([8, -1]).mT); // [1, 12, 8]
  assert.ok(maxDiff(conv.reshape([8, 12]).mT, lin.reshape([12, 8])) < 1e-5);
});

test('Wan round trip: toWan → sanitizeWan reloads identically; proj_out rows follow Wan’s (pt, ph, pw, C) order', () => {
  const a = new SingleDit('single-dit-tiny', { generator: new k.Generator(2) });
  for (const p of a.parameters()) normal_(p, 0, 0.2, new k.Generator(p.size));
  const wan = toWan(a.stateDict(), a.config);
  assert.deepEqual(wan.get('patch_embedding.weight')!.shape, [32, 4, 1, 2, 2]);
  // Wan row (pt=0, ph=1, pw=0, c=3) = ((0·2 + 1)·2 + 0)·4 + 3 = 11 holds our row (c=3, pt=0, ph=1, pw=0) = 3·4 + 2 = 14
  const ours = a.proj_out.bias!.toArray() as number[];
  assert.equal((wan.get('proj_out.bias')!.toArray() as number[])[11], ours[14]);
  const b = new SingleDit('single-dit-tiny', { generator: new k.Generator(3) });
  const { state, unsupported } = sanitizeWan(wan, b.config);
  assert.deepEqual(unsupported, []);
  b.loadStateDict(state);
  const gen = new k.Generator(4);
  const inputs = { latents: k.randn([1, 4, 2, 4, 4], { generator: gen }), timestep: k.fromArray([300], [1]), text: k.randn([1, 3, 32], { generator: gen }) };
  k.noGrad(() => assert.equal(maxDiff(a.forward(inputs), b.forward(inputs)), 0));
});

test('HunyuanVideo: x_embedder conv weight reshapes; token-refiner keys are reported, not loaded', () => {
  const m = new MmDit('mm-dit-tiny', { generator: new k.Generator(5) });
  const hf = new Map(m.stateDict());
  hf.set('x_embedder.proj.weight', m.x_embedder.proj.weight.reshape([32, 4, 1, 2, 2]));
  hf.set('context_embedder.token_refiner.refiner_blocks.0.norm1.weight', k.ones([32]));
  const { state, unsupported } = sanitizeHunyuan(hf, m.config);
  assert.deepEqual(unsupported, ['context_embedder.token_refiner.refiner_blocks.0.norm1.weight']);
  assert.deepEqual(state.get('x_embedder.proj.weight')!.shape, [32, 16]);
  const r = m.loadStateDict(state);
  assert.deepEqual(r.missing, []);
});
