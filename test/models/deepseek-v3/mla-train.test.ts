/**
 * The fused training MLA (`mlaForwardFused`, src/models/deepseek-v3/mla-train.ts) equals the module's tensor-op path
 * (fusedMla off): outputs, the input gradient and every weight gradient (both norms included), for q LoRA + YaRN +
 * interleaved RoPE and for plain q_proj + rotate_half, with odd B and T; finite differences on the weights of the
 * q LoRA norm, kv_a_proj_with_mqa and o_proj through the fused op; no graph → no saved buffers kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { deepseekV3Config } from '../../../src/models/deepseek-v3/config.js';
import { MultiHeadLatentAttention } from '../../../src/models/deepseek-v3/mla.js';
import { canFuseMla, fusedMla } from '../../../src/models/deepseek-v3/mla-train.js';
import { RopeCache } from '../../../src/models/deepseek-v3/rope.js';

const micro = deepseekV3Config({ ...deepseekV3Config('deepseek-v3-micro'), initializer_range: 0.3,
  rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 16, beta_fast: 32, beta_slow: 1, mscale: 0.9, mscale_all_dim: 0.9 } });

function maxRel(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return m / Math.max(s, 1e-30);
}

test('fused training MLA equals the tensor-op path: output, input and every weight gradient', () => {
  const variants = [{}, { q_lora_rank: null, rope_interleave: false, rope_scaling: null, num_attention_heads: 3, num_key_value_heads: 3 }];
  for (const over of variants) {
    const c = deepseekV3Config({ ...micro, ...over } as never);
    const g = new k.Generator(11);
    const attn = new MultiHeadLatentAttention(c, g);
    assert.ok(canFuseMla(attn));
    const rope = new RopeCache(c);
    const [B, T] = [3, 7];
    const { cos, sin } = rope.tables(0, T);
    const x0 = k.randn([B, T, c.hidden_size], { generator: g });
    const dy = k.randn([B, T, c.hidden_size], { generator: g });
    const params = attn.parameters();
    const run = (fused: boolean) =>
      k.tidy(() => {
        const prev = fusedMla.enabled;
        fusedMla.enabled = fused;
        try {
          for (const p of params) p.grad = null;
          const x = x0.detach().clone().requiresGrad_();
          const y = attn.forward(x, cos, sin);
          y.mul(dy).sum().backward();
          return { y: Float32Array.from(y.data() as Float32Array), dx: Float32Array.from(x.grad!.data() as Float32Array), dw: params.map((p) => Float32Array.from(p.grad!.data() as Float32Array)) };
        } finally {
          fusedMla.enabled = prev;
        }
      });
    const a = run(true);
    const b = run(false);
    assert.ok(maxRel(a.y, b.y) < 1e-5, `output rel ${maxRel(a.y, b.y)}`);
    assert.ok(maxRel(a.dx, b.dx) < 1e-5, `dx rel ${maxRel(a.dx, b.dx)}`);
    const names = attn.namedParameters().map(([n]) => n);
    a.dw.forEach((gw, i) => assert.ok(maxRel(gw, b.dw[i]) < 1e-5, `${names[i]}: rel ${maxRel(gw, b.dw[i])}`));
    rope.dispose();
    attn.dispose();
  }
});

test('fused training MLA: finite-difference gradients of the q norm, kv_a_proj_with_mqa and o_proj weights', () => {
  const g = new k.Generator(12);
  const attn = new MultiHeadLatentAttention(micro, g);
  const rope = new RopeCache(micro);
  const { cos, sin } = rope.tables(0, 5);
  const x = k.randn([2, 5, micro.hidden_size], { generator: g });
  const swap = (get: () => k.Tensor, set: (t: k.Tensor) => void) => (w: k.Tensor) => {
    const old = get();
    set(w);
    try {
      return attn.forward(x, cos, sin);
    } finally {
      set(old);
    }
  };
  const opts = { eps: 1e-2, atol: 2e-3, rtol: 2e-2 };
  gradcheck(swap(() => attn.q_a_layernorm!.weight, (t) => { attn.q_a_layernorm!.weight = t; }), [k.noGrad(() => attn.q_a_layernorm!.weight.clone())], opts);
  gradcheck(swap(() => attn.kv_a_proj_with_mqa.weight, (t) => { attn.kv_a_proj_with_mqa.weight = t; }), [k.noGrad(() => attn.kv_a_proj_with_mqa.weight.clone())], opts);
  gradcheck(swap(() => attn.o_proj.weight, (t) => { attn.o_proj.weight = t; }), [k.noGrad(() => attn.o_proj.weight.clone())], opts);
  rope.dispose();
});
