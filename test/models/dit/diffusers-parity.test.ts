/**
 * Parity of the Aquarius DiTs with diffusers (fixtures from scripts/fixtures/dit-diffusers-parity.py: tiny random
 * diffusers models saved with save_pretrained, seeded inputs and diffusers' own outputs). Each directory is loaded
 * through `loadDiffusersDit` (config.json + diffusion_pytorch_model.safetensors) and run on the same inputs:
 *   wan, wan-b          WanTransformer3DModel → SingleDit (patch 1×2×2 with cross-attn LayerNorm; patch 2×2×2 without);
 *   hunyuan             HunyuanVideoTransformer3DModel, no token refiner, guidance embedder, padded text row → MmDit;
 *   hunyuan-refiner     the same with the 2-block token refiner, patch_t 2, no guidance.
 * diffusers takes HunyuanVideo's guidance as 1000·g (its pipeline multiplies); Kiln takes g.
 * Two references: `out_f64` (diffusers in float64, its timestep sinusoid too) must match within 1e-5 of the output
 * scale; `out` (diffusers as shipped, float32) within 2e-4: diffusers computes the sinusoid of t in float32, which at
 * t = 6000 (guidance 6) is off by ~5e-4 rad and moves the tiny HunyuanVideo output by 9e-5 of its scale.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as k from '../../../src/index.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { readConfig } from '../../../src/io/checkpoint.js';
import { diffusersDitConfig, loadDiffusersDit, sanitizeWan } from '../../../src/models/dit/hf.js';
import { SingleDit } from '../../../src/models/dit/single-dit.js';
import { MmDit } from '../../../src/models/dit/mm-dit.js';
import { mmDitParamCount, tokenRefinerParamCount } from '../../../src/models/dit/dit-config.js';
import { maxDiff } from '../../helpers/tensors.js';
import type { DitInputs } from '../../../src/models/dit/single-dit.js';
import type { MmDitConfig, SingleDitConfig } from '../../../src/models/dit/dit-config.js';

const FIX = join(process.cwd(), 'test/fixtures/dit');

function fixture(name: string): { inputs: DitInputs; want: k.Tensor; want64: k.Tensor } {
  const { tensors } = readSafetensors(join(FIX, name, 'io.safetensors'));
  const t = (key: string) => {
    const r = tensors.get(key);
    return r ? k.fromArray(r.data as Float32Array, r.shape) : undefined;
  };
  const guidance = t('guidance');
  const inputs: DitInputs = {
    latents: t('latents')!, timestep: t('timestep')!, text: t('text')!, textMask: t('text_mask') ?? null, pooled: t('pooled'),
    guidance: guidance ? guidance.mul(1 / 1000) : undefined,
  };
  return { inputs, want: t('out')!, want64: t('out_f64')! };
}

function maxAbs(t: k.Tensor): number {
  return Math.max(...(t.contiguous().data() as Float32Array).map(Math.abs));
}

for (const name of ['wan', 'wan-b', 'hunyuan', 'hunyuan-refiner']) {
  test(`diffusers parity ${name}: Kiln's forward equals diffusers' (float64 within 1e-5, float32 within 2e-4 of the output scale)`, () => {
    const model = loadDiffusersDit(join(FIX, name));
    const { inputs, want, want64 } = fixture(name);
    const out = k.noGrad(() => model.forward(inputs));
    const scale = maxAbs(want64);
    assert.ok(scale > 0.5, `fixture output scale ${scale} is too small to test anything`);
    const d64 = maxDiff(out, want64);
    assert.ok(d64 < 1e-5 * scale, `${name}: max |Kiln − diffusers(f64)| = ${d64} (output scale ${scale})`);
    const d = maxDiff(out, want);
    assert.ok(d < 2e-4 * scale, `${name}: max |Kiln − diffusers(f32)| = ${d} (output scale ${scale})`);
    model.dispose();
  });
}

test('hunyuan-refiner: the token refiner counts as tokenRefinerParamCount says, and reads the text mask', () => {
  const model = loadDiffusersDit(join(FIX, 'hunyuan-refiner')) as MmDit;
  assert.equal(model.numParameters(), mmDitParamCount(model.config));
  assert.ok(tokenRefinerParamCount(model.config) > 0);
  const { inputs, want64 } = fixture('hunyuan-refiner');
  // row 1 has padding: without the mask its output changes (refiner pooling and attention, joint attention)
  const noMask = k.noGrad(() => model.forward({ ...inputs, textMask: null }));
  assert.ok(maxDiff(noMask.slice(0, 1, 2), want64.slice(0, 1, 2)) > 1e-2);
  model.dispose();
});

test('diffusers parity is sensitive: Wan proj_out rows left in diffusers order change the output', () => {
  const dir = join(FIX, 'wan');
  const model = loadDiffusersDit(dir) as SingleDit;
  const { inputs, want } = fixture('wan');
  const { tensors } = readSafetensors(join(dir, 'diffusion_pytorch_model.safetensors'));
  const raw = (key: string) => { const r = tensors.get(key)!; return k.fromArray(r.data as Float32Array, r.shape); };
  // the raw rows (pt, ph, pw, C) loaded as if they were Kiln's (C, pt, ph, pw)
  model.loadStateDict(new Map([['proj_out.weight', raw('proj_out.weight')], ['proj_out.bias', raw('proj_out.bias')]]), { strict: false });
  const d = maxDiff(k.noGrad(() => model.forward(inputs)), want);
  assert.ok(d > 0.1 * maxAbs(want), `unpermuted proj_out should break parity, max diff only ${d}`);
  // and the sanitizer's permutation is what restores it
  const { config } = diffusersDitConfig(readConfig(dir)) as { config: SingleDitConfig };
  const { state } = sanitizeWan(new Map([['proj_out.weight', raw('proj_out.weight')], ['proj_out.bias', raw('proj_out.bias')]]), config);
  model.loadStateDict(state, { strict: false });
  assert.ok(maxDiff(k.noGrad(() => model.forward(inputs)), want) < 1e-4 * maxAbs(want));
  model.dispose();
});

test('diffusers configs: HunyuanVideo patch (p_t, p, p) and fixed freq_dim 256; unsupported variants are refused', () => {
  const h = diffusersDitConfig(readConfig(join(FIX, 'hunyuan-refiner')));
  assert.equal(h.kind, 'hunyuan');
  assert.deepEqual(h.config.patch_size, [2, 2, 2]);
  assert.equal(h.config.freq_dim, 256);
  assert.equal((h.config as MmDitConfig).num_refiner_layers, 2);
  const w = readConfig(join(FIX, 'wan'));
  assert.throws(() => diffusersDitConfig({ ...w, image_dim: 1280, added_kv_proj_dim: 32 }), /image-to-video/);
  assert.throws(() => diffusersDitConfig({ ...w, qk_norm: 'rms_norm' }), /across heads/);
  assert.throws(() => diffusersDitConfig({ ...w, _class_name: 'FluxTransformer2DModel' }), /WanTransformer3DModel/);
});
