/**
 * The VAE mid-block attention (vae-attention.ts): the block-causal mask, exact counts, causality of the whole VAE
 * with it (frame 0's latent unchanged by later frames), chunked == full through the KV cache, a whole-frame tile ==
 * untiled, gradient checks, and save/load under diffusers' names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k from '../../../src/index.js';
import { maxDiff } from '../../helpers/tensors.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { CausalCache, CausalVae3d } from '../../../src/models/dit/vae.js';
import { CausalAttention3d, frameCausalMask } from '../../../src/models/dit/vae-attention.js';
import { vaeConfig, vaeParamCount } from '../../../src/models/dit/vae-config.js';
import { loadVae, saveVae } from '../../../src/models/dit/vae-io.js';

const micro = { latent_channels: 2, block_out_channels: [4, 4, 4, 4], layers_per_block: 1, norm_num_groups: 2, mid_block_add_attention: true };

test('frame-causal mask: a token sees every token of its own and earlier frames, none later', () => {
  assert.deepEqual(frameCausalMask(2, 2, 2).toArray(), [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]);
  // a chunk of 1 frame after 2 cached frames sees all 3
  assert.deepEqual(frameCausalMask(1, 3, 1).toArray(), [[1, 1, 1]]);
  assert.equal(frameCausalMask(1, 3, 1).dtype, 'bool');
});

test('counts: the formula equals the module tree with attention (group and none); the full-size preset has it', () => {
  for (const c of [micro, { ...micro, norm_type: 'none' as const, residual_autoencoding: true }, 'vae-bench']) {
    const v = new CausalVae3d(c);
    assert.equal(v.numParameters(), vaeParamCount(v.config));
    assert.equal(v.encoder.mid_block.attentions.length, 1);
    assert.equal(v.decoder.mid_block.attentions.length, 1);
    v.dispose();
  }
  // vae-16c: 244,374,179 without attention + 2 × (2·512 GroupNorm + 4·(512² + 512) projections)
  assert.equal(vaeParamCount(vaeConfig('vae-16c')), 244_374_179 + 2 * (2 * 512 + 4 * (512 * 512 + 512)));
  assert.equal(vaeParamCount(vaeConfig({ mid_block_add_attention: false })), 244_374_179);
  assert.throws(() => vaeConfig({ block_out_channels: [4, 4, 4, 6], norm_type: 'none', norm_num_groups: 4, mid_block_add_attention: true }), (e: k.KilnError) => e.code === 'E_CONFIG');
  // Fixup (norm_type none): a fresh attention block is the identity
  const v = new CausalVae3d({ ...micro, norm_type: 'none' }, { generator: new k.Generator(1) });
  k.noGrad(() => {
    const x = k.randn([1, 4, 3, 2, 2], { generator: new k.Generator(2) });
    assert.equal(maxDiff(v.encoder.mid_block.attentions[0].forward(x), x), 0);
  });
  // with the same seed every other parameter starts the same with or without the attention (fair ablations)
  const plain = new CausalVae3d({ ...micro, norm_type: 'none', mid_block_add_attention: false }, { generator: new k.Generator(1) });
  const withAttn = v.stateDict();
  for (const [name, t] of plain.stateDict()) assert.deepEqual(withAttn.get(name)!.data(), t.data(), name);
  assert.equal(withAttn.size, plain.stateDict().size + 2 * 10);
  plain.dispose();
  v.dispose();
});

test('causal with attention: frame 0 encodes alone; changing a later frame leaves earlier latents and frames unchanged', () => {
  const v = new CausalVae3d(micro, { generator: new k.Generator(4) });
  k.noGrad(() => {
    const x = k.randn([1, 3, 9, 16, 16], { generator: new k.Generator(5) });
    const full = v.encode(x).mean; // [1, 2, 3, 2, 2]
    assert.ok(maxDiff(full.slice(2, 0, 1), v.encode(x.slice(2, 0, 1)).mean) < 1e-5);
    assert.ok(maxDiff(full.slice(2, 0, 2), v.encode(x.slice(2, 0, 5)).mean) < 1e-5);
    const y = x.clone();
    (y.storage.data as Float32Array).fill(3, 8 * 256, 9 * 256); // frame 8
    const fy = v.encode(y).mean;
    assert.ok(maxDiff(full.slice(2, 0, 2), fy.slice(2, 0, 2)) < 1e-5);
    assert.ok(maxDiff(full.slice(2, 2, 3), fy.slice(2, 2, 3)) > 1e-2);
    // decoder: frames 0..4 depend only on latents 0..1
    const z = k.randn([1, 2, 3, 2, 2], { generator: new k.Generator(6) });
    assert.ok(maxDiff(v.decode(z).slice(2, 0, 5), v.decode(z.slice(2, 0, 2))) < 1e-5);
    // and the attention is not a no-op: without it the output differs
    const plain = new CausalVae3d({ ...micro, mid_block_add_attention: false }, { generator: new k.Generator(4) });
    assert.ok(maxDiff(plain.encode(x).mean, full) > 1e-3);
    plain.dispose();
  });
  v.dispose();
});

test('chunked == full through the attention KV cache; a whole-frame tile == untiled; the cache grows per frame', () => {
  const v = new CausalVae3d(micro, { generator: new k.Generator(7) });
  k.noGrad(() => {
    const x = k.randn([2, 3, 13, 16, 16], { generator: new k.Generator(8) });
    const full = v.encoder.forward(x);
    for (const chunk of [4, 8]) assert.ok(maxDiff(v.encodeChunked(x, chunk), full) < 1e-5, `encode chunk ${chunk}`);
    assert.equal(maxDiff(v.encodeChunked(x, 4, { tileSize: 16 }), v.encodeChunked(x, 4)), 0);
    const z = full.slice(1, 0, 2).contiguous();
    const dec = v.decode(z);
    for (const chunk of [1, 2]) assert.ok(maxDiff(v.decodeChunked(z, chunk), dec) < 1e-5, `decode chunk ${chunk}`);
    assert.equal(maxDiff(v.decodeChunked(z, 1, { tileSize: 16 }), v.decodeChunked(z, 1)), 0);
    // the attention's keys/values: 2 · C · (tokens per frame) more floats per streamed latent frame
    const attn = v.decoder.mid_block.attentions[0];
    const cache = new CausalCache();
    const held: number[] = [];
    for (let i = 0; i < 3; i++) k.tidy(() => { attn.forward(k.randn([1, 4, 1, 2, 2], { generator: new k.Generator(i) }), cache); held.push(cache.elements()); });
    assert.deepEqual(held, [32, 64, 96]);
    cache.dispose();
  });
  v.dispose();
});

test('gradient checks: the attention block (input, q/k/v/out weights, norm) and a whole encoder/decoder with it', () => {
  const a = new CausalAttention3d(4, 2, new k.Generator(11));
  const x = k.randn([1, 4, 3, 2, 2], { generator: new k.Generator(12) });
  const opts = { eps: 1e-2, atol: 2e-2, rtol: 2e-2, maxPerInput: 24 };
  gradcheck((xx) => a.forward(xx), [x], opts);
  gradcheck(() => a.forward(x), [a.to_q.weight, a.to_k.weight, a.to_v.weight, a.to_out[0].weight, a.group_norm.weight], opts);
  const v = new CausalVae3d(micro, { generator: new k.Generator(21) });
  gradcheck((xx) => v.encoder.forward(xx), [k.randn([1, 3, 5, 8, 8], { generator: new k.Generator(22) })], opts);
  gradcheck((zz) => v.decoder.forward(zz), [k.randn([1, 2, 2, 1, 1], { generator: new k.Generator(23) })], opts);
  v.dispose();
});

test('save/load with attention: diffusers names (mid_block.attentions.0.to_out.0), bit-exact round trip', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-vae-attn-'));
  try {
    const v = new CausalVae3d(micro, { generator: new k.Generator(5) });
    const names = [...v.stateDict().keys()];
    for (const n of ['encoder.mid_block.attentions.0.group_norm.weight', 'encoder.mid_block.attentions.0.to_q.weight', 'decoder.mid_block.attentions.0.to_out.0.bias'])
      assert.ok(names.includes(n), n);
    saveVae(v, dir);
    const w = loadVae(dir);
    assert.equal(w.config.mid_block_add_attention, true);
    k.noGrad(() => {
      const x = k.randn([1, 3, 5, 16, 16], { generator: new k.Generator(6) });
      assert.deepEqual(w.decode(w.encode(x).mean).data(), v.decode(v.encode(x).mean).data());
    });
    v.dispose();
    w.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
