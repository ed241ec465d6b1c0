/**
 * The fused decode path (src/models/deepseek-v3/decode.ts: `mlaDecode` + `moeDecode` per layer) against the tensor
 * path of `forwardCached` (absorbed MLA through the op set): same logits and hidden states for prefill-sized and
 * single-token steps, for the q-LoRA + interleaved-RoPE and the q_proj + half-RoPE variants, with random routing
 * biases; the same greedy generation; the same MoE loads accumulated in training mode; and the fallback when a
 * Linear runs a simulated precision.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEEPSEEK_V3_PRESETS } from '../../../src/models/deepseek-v3/config.js';
import { DeepseekV3ForCausalLM } from '../../../src/models/deepseek-v3/model.js';
import { fusedDecode } from '../../../src/models/deepseek-v3/decode.js';
import { DeepseekMoE } from '../../../src/models/deepseek-v3/moe.js';
import { generate } from '../../../src/infer/deepseek-v3.js';
import { fromArray } from '../../../src/tensor/creation.js';
import { Generator } from '../../../src/tensor/random.js';
import { tidy } from '../../../src/tensor/scope.js';

function model(variant: Record<string, unknown>, seed: number): DeepseekV3ForCausalLM {
  const m = new DeepseekV3ForCausalLM({ ...DEEPSEEK_V3_PRESETS['deepseek-v3-tiny'], ...variant }, { generator: new Generator(seed) });
  const g = new Generator(seed + 100);
  for (const moe of m.moeBlocks) {
    const b = moe.gate.e_score_correction_bias.storage.data as Float32Array;
    for (let i = 0; i < b.length; i++) b[i] = (g.uniform() - 0.5) * 0.1;
  }
  m.eval();
  return m;
}

/** Logits and hidden rows of a 9-token prefill then 6 single-token steps, through one path. */
function run(m: DeepseekV3ForCausalLM, fused: boolean, ids: Int32Array): number[][] {
  const prev = fusedDecode.enabled;
  fusedDecode.enabled = fused;
  const cache = m.newCache(1);
  try {
    const rows: number[][] = [];
    const step = (part: Int32Array) =>
      tidy(() => {
        const r = m.forwardCached(fromArray(part, [1, part.length]), cache);
        rows.push(Array.from(r.logits.data() as Float32Array), Array.from(r.hidden.data() as Float32Array));
      });
    step(ids.subarray(0, 9));
    for (let t = 9; t < ids.length; t++) step(ids.subarray(t, t + 1));
    return rows;
  } finally {
    fusedDecode.enabled = prev;
    cache.dispose();
  }
}

const maxDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const ids = Int32Array.of(5, 17, 99, 3, 42, 7, 250, 1, 64, 8, 200, 31, 9, 128, 77);

for (const [name, variant] of [
  ['q LoRA, interleaved RoPE', {}],
  ['q_proj, rotate_half RoPE, YaRN', { q_lora_rank: null, rope_interleave: false, rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 256, beta_fast: 32, beta_slow: 1, mscale: 0.8, mscale_all_dim: 0.8 } }],
] as const) {
  test(`fused decode equals the tensor path (${name}): prefill and single-token steps`, () => {
    const m = model(variant, 7);
    assert.ok(m.canDecodeFused());
    const a = run(m, true, ids);
    const b = run(m, false, ids);
    assert.equal(a.length, b.length);
    for (let i = 0; i < a.length; i++) assert.ok(maxDiff(a[i], b[i]) < 2e-5, `row ${i}: ${maxDiff(a[i], b[i])}`);
    m.dispose();
  });
}

test('fused greedy generation is token-identical to the tensor path', () => {
  const m = model({}, 11);
  const fused = generate(m, ids.subarray(0, 6), { maxNewTokens: 20, greedy: true });
  fusedDecode.enabled = false;
  try {
    const plain = generate(m, ids.subarray(0, 6), { maxNewTokens: 20, greedy: true });
    assert.deepEqual(Array.from(fused.ids), Array.from(plain.ids));
  } finally {
    fusedDecode.enabled = true;
  }
  m.dispose();
});

test('fused decode accumulates the MoE loads in training mode like DeepseekMoE.forward', () => {
  const loads = (fused: boolean) => {
    const m = model({}, 13);
    m.train();
    run(m, fused, ids);
    const l = m.moeBlocks.filter((b, i) => i < m.config.num_hidden_layers - m.config.first_k_dense_replace).map((b: DeepseekMoE) => Array.from(b.loadSinceUpdate));
    m.dispose();
    return l;
  };
  const a = loads(true);
  assert.deepEqual(a, loads(false));
  assert.equal(a[0].reduce((x, y) => x + y, 0), ids.length * DEEPSEEK_V3_PRESETS['deepseek-v3-tiny'].num_experts_per_tok!);
});

test('a Linear with a per-instance forward (simulated precision) turns the fused path off', () => {
  const m = model({}, 17);
  assert.ok(m.canDecodeFused());
  const lin = m.mainLayers[1].self_attn.o_proj;
  lin.forward = lin.forward.bind(lin);
  assert.equal(m.canDecodeFused(), false);
  delete (lin as { forward?: unknown }).forward;
  assert.ok(m.canDecodeFused());
  m.dispose();
});
