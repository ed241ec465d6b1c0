/** LoRA: zero-init identity, gradients, merge == unmerged, adapter save/load round trip with PEFT names. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k from '../../src/index.js';
import { maxDiff } from '../helpers/tensors.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { Linear } from '../../src/nn/layers.js';
import type { Module } from '../../src/nn/module.js';
import { normal_ } from '../../src/nn/init.js';
import { LoraLinear, applyLora, loadLoraAdapter, loraLayers, loraParameters, mergeLora, saveLoraAdapter, setLoraEnabled } from '../../src/nn/lora.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { SingleDit } from '../../src/models/dit/single-dit.js';

const tiny = { num_attention_heads: 2, attention_head_dim: 8, in_channels: 3, out_channels: 3, text_dim: 8, freq_dim: 16, ffn_dim: 32, num_layers: 2 };

function ditInputs(seed: number) {
  const g = new k.Generator(seed);
  return {
    latents: k.randn([2, 3, 2, 4, 4], { generator: g }),
    timestep: k.fromArray([300, 800], [2]),
    text: k.randn([2, 3, 8], { generator: g }),
  };
}

function randomizeAll(m: Module, seed: number): void {
  const g = new k.Generator(seed);
  for (const p of m.parameters()) normal_(p, 0, 0.3, g);
}

test('a fresh adapter is the identity change (B = 0), bit for bit, and freezes the base', () => {
  const dit = new SingleDit(tiny, { generator: new k.Generator(1) });
  randomizeAll(dit, 2);
  const inp = ditInputs(3);
  const before = k.noGrad(() => dit.forward(inp));
  const paths = applyLora(dit, { rank: 4, alpha: 8, targets: ['to_q', 'to_k', 'to_v', 'to_out.0', 'ffn.net.2'], generator: new k.Generator(4) });
  assert.equal(paths.length, 2 * (2 * 4 + 1)); // 2 blocks × (2 attentions × 4 projections + ffn out)
  assert.ok(paths.includes('blocks.0.attn2.to_out.0') && paths.includes('blocks.1.ffn.net.2'));
  const after = k.noGrad(() => dit.forward(inp));
  assert.equal(maxDiff(before, after), 0);
  const trainable = dit.parameters().filter((p) => p.requiresGrad);
  assert.equal(trainable.length, loraParameters(dit).length);
  assert.equal(trainable.length, 2 * paths.length);
  // PEFT-style parameter names
  const names = dit.namedParameters().map(([n]) => n);
  assert.ok(names.includes('blocks.0.attn1.to_q.lora_A.weight'));
  assert.ok(names.includes('blocks.0.attn1.to_q.base_layer.weight'));
  assert.throws(() => applyLora(new SingleDit(tiny), { rank: 2, targets: ['nothing_here'] }), /no Linear layer matches/);
});

test('LoraLinear gradients (x, A, B) match finite differences; the base gets none', () => {
  const g = new k.Generator(5);
  const base = new Linear(5, 4, { generator: g });
  const l = new LoraLinear(base, 3, 6, g);
  normal_(l.lora_B.weight, 0, 0.5, g); // non-zero B so A's gradient is non-zero
  base.weight.requiresGrad = false;
  base.bias!.requiresGrad = false;
  const x = k.randn([2, 3, 5], { generator: g });
  gradcheck((xx, a, b) => {
    void a; void b;
    return l.forward(xx);
  }, [x, l.lora_A.weight, l.lora_B.weight], { eps: 1e-2, atol: 2e-3, rtol: 1e-2 });
  // scaling really is α / r: doubling alpha doubles the update
  const l2 = new LoraLinear(base, 3, 12);
  (l2.lora_A.weight.storage.data as Float32Array).set(l.lora_A.weight.data() as Float32Array);
  (l2.lora_B.weight.storage.data as Float32Array).set(l.lora_B.weight.data() as Float32Array);
  k.noGrad(() => {
    const y0 = base.forward(x);
    const d1 = l.forward(x).sub(y0);
    const d2 = l2.forward(x).sub(y0);
    assert.ok(maxDiff(d2, d1.mul(2)) < 1e-5);
    assert.ok(d1.abs().amax().item() > 1e-2);
  });
  // a training step on the adapted DiT leaves base weights without gradient
  const dit = new SingleDit(tiny, { generator: new k.Generator(6) });
  randomizeAll(dit, 7);
  applyLora(dit, { rank: 2, targets: [/attn\d\.to_[qkv]$/], generator: new k.Generator(8) });
  for (const [, layer] of loraLayers(dit)) normal_(layer.lora_B.weight, 0, 0.1, new k.Generator(9));
  k.tidy(() => dit.forward(ditInputs(10)).square().mean().backward());
  for (const [n, p] of dit.namedParameters()) {
    if (n.includes('lora_')) assert.ok(p.grad && p.grad.abs().amax().item() > 0, `${n} has a gradient`);
    else assert.equal(p.grad, null, `${n} is frozen`);
  }
});

test('mergeLora gives the same outputs as the unmerged adapter, with plain Linears back in place', () => {
  const dit = new SingleDit(tiny, { generator: new k.Generator(11) });
  randomizeAll(dit, 12);
  applyLora(dit, { rank: 3, alpha: 6, targets: ['to_q', 'to_v', 'ffn.net.2', 'proj_out'], generator: new k.Generator(13) });
  for (const [, layer] of loraLayers(dit)) normal_(layer.lora_B.weight, 0, 0.2, new k.Generator(14));
  const inp = ditInputs(15);
  const base = k.noGrad(() => {
    setLoraEnabled(dit, false);
    const y = dit.forward(inp);
    setLoraEnabled(dit, true);
    return y;
  });
  const unmerged = k.noGrad(() => dit.forward(inp));
  assert.ok(maxDiff(unmerged, base) > 1e-2, 'the adapter changes the output');
  const merged = mergeLora(dit);
  assert.equal(merged.length, 2 * 5 + 1); // per block attn1/attn2 × to_q/to_v + ffn.net.2, and proj_out
  assert.equal(loraLayers(dit).length, 0);
  assert.ok(dit.proj_out instanceof Linear && !(dit.proj_out instanceof LoraLinear));
  const after = k.noGrad(() => dit.forward(inp));
  assert.ok(maxDiff(after, unmerged) < 1e-5, `merged vs unmerged ${maxDiff(after, unmerged)}`);
  assert.deepEqual(dit.namedParameters().map(([n]) => n), new SingleDit(tiny).namedParameters().map(([n]) => n));
});

test('adapter save/load round trip: PEFT names and config, only adapter weights, same outputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-lora-'));
  try {
    const mk = () => {
      const d = new SingleDit(tiny, { generator: new k.Generator(21) });
      randomizeAll(d, 22);
      return d;
    };
    const a = mk();
    applyLora(a, { rank: 2, alpha: 4, targets: ['attn2.to_k', 'attn2.to_v'], generator: new k.Generator(23) });
    for (const [, layer] of loraLayers(a)) normal_(layer.lora_B.weight, 0, 0.2, new k.Generator(24));
    const inp = ditInputs(25);
    const ya = k.noGrad(() => a.forward(inp));
    saveLoraAdapter(a, dir);
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.peft_type, 'LORA');
    assert.equal(cfg.r, 2);
    assert.equal(cfg.lora_alpha, 4);
    assert.deepEqual(cfg.target_modules, ['blocks.0.attn2.to_k', 'blocks.0.attn2.to_v', 'blocks.1.attn2.to_k', 'blocks.1.attn2.to_v']);
    const { tensors } = readSafetensors(join(dir, 'adapter_model.safetensors'));
    assert.equal(tensors.size, 8);
    assert.ok(tensors.has('base_model.model.blocks.0.attn2.to_k.lora_A.weight'));
    assert.deepEqual(tensors.get('base_model.model.blocks.1.attn2.to_v.lora_B.weight')!.shape, [16, 2]);
    const b = mk();
    const yb0 = k.noGrad(() => b.forward(inp));
    assert.ok(maxDiff(yb0, ya) > 1e-2);
    loadLoraAdapter(b, dir);
    const yb = k.noGrad(() => b.forward(inp));
    assert.equal(maxDiff(yb, ya), 0);
    // an adapter for other layers is refused
    const c = mk();
    applyLora(c, { rank: 2, alpha: 4, targets: ['attn1.to_k'] });
    assert.throws(() => loadLoraAdapter(c, dir), /missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
