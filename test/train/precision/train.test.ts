/**
 * A tiny DeepSeek-V3 trains in fp32, bf16 and fp8 from the same init on the same batches; the fp8 (and bf16) final
 * loss stays close to fp32's. setLinearPrecision touches only the Linears the report puts in FP8.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { AdamW } from '../../../src/optim/adamw.js';
import { clipGradNorm } from '../../../src/optim/clip.js';
import { DeepseekV3ForCausalLM } from '../../../src/models/deepseek-v3/index.js';
import { setLinearPrecision, type Precision } from '../../../src/train/precision/index.js';

test('setLinearPrecision swaps exactly the Linears (not embedding, lm_head, MoE gate, norms) and fp32 restores them', () => {
  const m = new DeepseekV3ForCausalLM('deepseek-v3-micro', { generator: new k.Generator(1) });
  const swapped = setLinearPrecision(m, 'fp8');
  assert.ok(swapped.includes('model.layers.0.self_attn.q_a_proj'));
  assert.ok(swapped.includes('model.layers.0.self_attn.o_proj'));
  assert.ok(swapped.includes('model.layers.1.mlp.experts.3.down_proj'));
  assert.ok(swapped.includes('model.layers.1.mlp.shared_experts.gate_proj'));
  assert.ok(swapped.includes('model.layers.2.eh_proj')); // the MTP projection
  assert.ok(!swapped.some((p) => /lm_head|embed|gate\.weight|norm|\.gate$/.test(p)), swapped.join(' '));
  // 2 main + 1 MTP layer; attention 5 Linears each; dense SwiGLU 3; MoE 4 experts + 1 shared = 15; eh_proj 1
  assert.equal(swapped.length, 3 * 5 + 3 + 15 + 15 + 1);
  const ids = k.fromArray(Int32Array.from({ length: 8 }, (_, i) => (i * 5) % 32), [1, 8], { dtype: 'i32' });
  const f8 = m.forward(ids).logits.data() as Float32Array;
  setLinearPrecision(m, 'fp32');
  const f32 = m.forward(ids).logits.data() as Float32Array;
  assert.notDeepEqual([...f8], [...f32]);
  setLinearPrecision(m, 'fp8');
  assert.deepEqual([...(m.forward(ids).logits.data() as Float32Array)], [...f8]); // deterministic
  m.dispose();
});

function trainRun(mode: Precision, steps: number): { losses: number[]; seconds: number } {
  const m = new DeepseekV3ForCausalLM('deepseek-v3-tiny', { generator: new k.Generator(7) });
  setLinearPrecision(m, mode);
  const opt = new AdamW(m.parameters(), { lr: 3e-3, betas: [0.9, 0.95], weightDecay: 0.1 });
  const gen = new k.Generator(99);
  const B = 4, T = 32, V = 256;
  // a stream with structure (a noisy arithmetic progression mod V) so the loss can fall well below log V
  const stream = Int32Array.from({ length: 4096 }, (_, i) => (i * 37 + (i % 7 === 0 ? 3 : 0)) % V);
  const losses: number[] = [];
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) {
    k.tidy(() => {
      const ids = new Int32Array(B * T), tg = new Int32Array(B * T);
      for (let b = 0; b < B; b++) {
        const st = Math.floor(gen.uniform() * (stream.length - T - 1));
        ids.set(stream.subarray(st, st + T), b * T);
        tg.set(stream.subarray(st + 1, st + T + 1), b * T);
      }
      const r = m.loss(k.fromArray(ids, [B, T], { dtype: 'i32' }), k.fromArray(tg, [B, T], { dtype: 'i32' }));
      r.loss.backward();
      clipGradNorm(m.parameters(), 1.0);
      opt.step();
      opt.zeroGrad();
      m.updateRoutingBiases(0.001);
      losses.push(r.main.item());
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  m.dispose();
  return { losses, seconds };
}

test('a tiny DeepSeek-V3 trains in bf16 and fp8; the fp8-vs-fp32 loss gap after a fixed run is small', () => {
  const steps = 40;
  const runs = Object.fromEntries((['fp32', 'bf16', 'fp8'] as const).map((p) => [p, trainRun(p, steps)]));
  const tail = (l: number[]) => l.slice(-5).reduce((a, b) => a + b, 0) / 5; // mean of the last 5 steps
  const f32 = tail(runs.fp32.losses);
  const line = (p: Precision) => `${p}: ${runs[p].losses[0].toFixed(4)} → ${tail(runs[p].losses).toFixed(4)} in ${runs[p].seconds.toFixed(1)} s`;
  console.log(`# ${line('fp32')}; ${line('bf16')}; ${line('fp8')}; gap fp8−fp32 ${(tail(runs.fp8.losses) - f32).toFixed(4)} (${(((tail(runs.fp8.losses) - f32) / f32) * 100).toFixed(2)}%), bf16−fp32 ${(tail(runs.bf16.losses) - f32).toFixed(4)}`);
  for (const p of ['fp32', 'bf16', 'fp8'] as const) {
    assert.ok(tail(runs[p].losses) < runs[p].losses[0] * 0.6, line(p));
    assert.ok(runs[p].losses.every(Number.isFinite));
  }
  // the same init, so step 0 differs only by the precision of the forward
  assert.ok(Math.abs(runs.fp8.losses[0] - runs.fp32.losses[0]) < 0.02 * runs.fp32.losses[0]);
  assert.ok(Math.abs(tail(runs.fp8.losses) - f32) < 0.05 * f32, `fp8 gap ${tail(runs.fp8.losses) - f32}`);
  assert.ok(Math.abs(tail(runs.bf16.losses) - f32) < 0.05 * f32, `bf16 gap ${tail(runs.bf16.losses) - f32}`);
});
