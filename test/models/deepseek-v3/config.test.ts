/** DeepSeek-V3 config: presets, HF config.json reading, validation, exact parameter / cache / FLOP accounting. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import {
  DEEPSEEK_V3_PRESETS, deepseekV3Config, flopsPerToken, modelInfo, kvCacheBytesPerToken, latentCacheWidth, mhaCacheWidth, paramCounts,
} from '../../../src/models/deepseek-v3/config.js';
import { DeepseekV3ForCausalLM } from '../../../src/models/deepseek-v3/model.js';

test('671B preset: the published parameter counts', () => {
  const c = deepseekV3Config('deepseek-v3-671b');
  const p = paramCounts(c);
  // 671B total (main model incl. embedding and head); exact count from the formula checked against module trees below
  assert.equal(p.params_total, 671_026_404_352);
  assert.equal(Math.round(p.params_total / 1e9), 671);
  // "37B activated": 8 of 256 routed experts + the shared one per MoE layer (37.55B incl. embedding and head)
  assert.equal(p.params_activated, 37_552_282_624);
  assert.ok(p.params_activated > 37e9 && p.params_activated < 38e9);
  // the MTP module as stored in the HF repo ("14B"): its block + norms + eh_proj + copies of embedding and head
  assert.equal(p.params_mtp, 13_463_426_048);
  assert.equal(Math.round(p.params_mtp / 1e9), 13);
  // the HF repo's "685B": main + MTP + one f32 scale per 128×128 block of every FP8 weight
  let scales = 0;
  const blocks = (r: number, col: number) => Math.ceil(r / 128) * Math.ceil(col / 128);
  const d = c.hidden_size, H = c.num_attention_heads, qk = c.qk_nope_head_dim + c.qk_rope_head_dim;
  const attn = blocks(c.q_lora_rank!, d) + blocks(H * qk, c.q_lora_rank!) + blocks(c.kv_lora_rank + c.qk_rope_head_dim, d) +
    blocks(H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank) + blocks(d, H * c.v_head_dim);
  const expert = 2 * blocks(c.moe_intermediate_size, d) + blocks(d, c.moe_intermediate_size);
  scales += 3 * (attn + 2 * blocks(c.intermediate_size, d) + blocks(d, c.intermediate_size));
  scales += (58 + 1) * (attn + (256 + 1) * expert) + blocks(d, 2 * d);
  assert.equal(Math.round((p.params_checkpoint + scales) / 1e9), 685);
  // the latent cache: 576 numbers per token per layer vs 40,960 for multi-head K/V
  assert.equal(latentCacheWidth(c), 576);
  assert.equal(mhaCacheWidth(c), 40_960);
  assert.equal(kvCacheBytesPerToken(c), 61 * 576 * 2);
  // forward FLOPs ≈ 2 × activated matmul weights + attention
  const fwd = flopsPerToken(c, { seqLen: 1, training: false, mtp: false });
  assert.ok(fwd > 2 * 36e9 && fwd < 2 * 37.6e9, `forward FLOPs/token ${fwd}`);
  assert.equal(flopsPerToken(c, { seqLen: 4096, training: true, mtp: false }), 3 * flopsPerToken(c, { seqLen: 4096, training: false, mtp: false }));
  // the FLOP formula from the module tree: 2 × (activated matmul weights) + attention, on a small config
  const mc = deepseekV3Config('deepseek-v3-tiny');
  const mm = new DeepseekV3ForCausalLM(mc);
  let matmulWeights = 0;
  for (const [name, t] of mm.namedParameters()) {
    if (name.includes('norm') || name === 'model.embed_tokens.weight' || name.startsWith(`model.layers.${mc.num_hidden_layers}.`)) continue;
    const expert = /mlp\.experts\.(\d+)\./.exec(name);
    if (expert && Number(expert[1]) >= mc.num_experts_per_tok) continue; // K routed experts per token
    matmulWeights += t.size;
  }
  mm.dispose();
  const attnMacs = mc.num_hidden_layers * mc.num_attention_heads * (mc.qk_nope_head_dim + mc.qk_rope_head_dim + mc.v_head_dim) * ((9 + 1) / 2);
  assert.equal(flopsPerToken(mc, { seqLen: 9, training: false, mtp: false }), 2 * (matmulWeights + attnMacs));
  const info = modelInfo(c);
  assert.equal(info.params_total, p.params_total);
  assert.equal(info.kv_cache_bytes_per_token, 70_272);
  assert.equal(info.flops_per_token, flopsPerToken(c, { seqLen: 4096, training: false, mtp: false }));
});

test('parameter formula equals the module tree (every small preset, q_proj and tied variants)', () => {
  const variants = [
    ...Object.keys(DEEPSEEK_V3_PRESETS).filter((n) => n !== 'deepseek-v3-671b'),
    { ...DEEPSEEK_V3_PRESETS['deepseek-v3-micro'], q_lora_rank: null, tie_word_embeddings: true, num_nextn_predict_layers: 2, n_shared_experts: 2 },
  ];
  for (const v of variants) {
    const m = new DeepseekV3ForCausalLM(v as never);
    const p = paramCounts(m.config);
    assert.equal(m.numParameters(), p.params_total + p.params_mtp_unique, JSON.stringify(v).slice(0, 60));
    m.dispose();
  }
});

test('reads HF config.json forms and rejects bad configs with E_CONFIG', () => {
  const hf5 = deepseekV3Config({
    model_type: 'deepseek_v3', ...DEEPSEEK_V3_PRESETS['deepseek-v3-micro'], rope_scaling: undefined,
    rope_parameters: { rope_type: 'yarn', rope_theta: 5000, factor: 8, original_max_position_embeddings: 16, mscale: 0.707, mscale_all_dim: 0.707 },
  } as Record<string, unknown>);
  assert.equal(hf5.rope_theta, 5000);
  assert.deepEqual(hf5.rope_scaling, { type: 'yarn', factor: 8, original_max_position_embeddings: 16, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707 });
  assert.equal(hf5.quantization_config, null);
  const plain = deepseekV3Config({ model_type: 'deepseek_v3', ...DEEPSEEK_V3_PRESETS['deepseek-v3-micro'], rope_scaling: undefined } as Record<string, unknown>);
  assert.equal(plain.rope_scaling, null);
  const full = deepseekV3Config({});
  assert.equal(full.rope_scaling?.factor, 40);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ n_routed_experts: 10, n_group: 4 }, /divisible by n_group/],
    [{ topk_group: 9 }, /topk_group \(9\) exceeds n_group/],
    [{ qk_rope_head_dim: 63 }, /must be even/],
    [{ num_key_value_heads: 1 }, /must equal num_attention_heads/],
    [{ scoring_func: 'softmax' }, /scoring_func/],
    [{ q_lora_rank: 0 }, /q_lora_rank/],
    [{ model_type: 'llama' }, /model_type/],
    [{ rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling type 'linear'/],
  ];
  for (const [o, re] of bad) assert.throws(() => deepseekV3Config(o), (e: k.KilnError) => e.code === 'E_CONFIG' && re.test(e.message), JSON.stringify(o));
  assert.throws(() => deepseekV3Config('deepseek-v9'), /unknown preset/);
});
