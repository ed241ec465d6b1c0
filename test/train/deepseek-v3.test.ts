/**
 * DeepSeek-V3 training: N steps straight == N/2, checkpoint, resume, N/2 (identical weights, routing biases and
 * losses); the loss falls; biases move by ±γ per step; the report's schedules; MaxVio and loads are logged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeepseekV3ForCausalLM } from '../../src/models/deepseek-v3/model.js';
import { Generator } from '../../src/tensor/random.js';
import {
  latestCheckpoint, loadTrainingCheckpoint, reportMtpWeight, reportSchedule, trainDeepseekV3, type DeepseekTrainOptions,
} from '../../src/train/deepseek-v3.js';

const tokens = Int32Array.from({ length: 4000 }, (_, i) => (i * 7 + (i % 5) * 3) % 32);
const micro = () => new DeepseekV3ForCausalLM('deepseek-v3-micro', { generator: new Generator(7) });

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-dsv3-train-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('N steps straight equal N/2 + checkpoint + resume + N/2, bit for bit', () => {
  withDir((dir) => {
    const o: DeepseekTrainOptions = { steps: 8, batchSize: 2, seqLen: 16, lr: 1e-2, seed: 3, gamma: 0.01 };
    const a = micro();
    const ra = trainDeepseekV3(a, tokens, { ...o, out: join(dir, 'a') });
    const b = micro();
    trainDeepseekV3(b, tokens, { ...o, out: join(dir, 'b'), checkpointEvery: 4, untilStep: 4 });
    b.dispose();
    const ck = latestCheckpoint(join(dir, 'b'));
    assert.equal(ck, join(dir, 'b', 'checkpoint-4'));
    const resume = loadTrainingCheckpoint(ck!);
    assert.equal(resume.state.step, 4);
    const rb = trainDeepseekV3(resume.model, tokens, { ...o, out: join(dir, 'b') }, resume);
    assert.deepEqual(rb.logs.map((l) => l.loss), ra.logs.slice(4).map((l) => l.loss));
    const sa = a.stateDict();
    for (const [name, t] of resume.model.stateDict()) {
      const x = sa.get(name)!.data() as Float32Array;
      const y = t.data() as Float32Array;
      assert.deepEqual(Array.from(y), Array.from(x), name);
    }
    // the routing biases moved (aux-loss-free balancing ran) and by multiples of γ
    const bias = sa.get('model.layers.1.mlp.gate.e_score_correction_bias')!.data() as Float32Array;
    assert.ok(bias.some((v) => v !== 0));
    for (const v of bias) assert.ok(Math.abs(v / 0.01 - Math.round(v / 0.01)) < 1e-3, `bias ${v} is not a multiple of γ`);
    assert.ok(existsSync(join(dir, 'a', 'optimizer.safetensors')) && existsSync(join(dir, 'a', 'model.safetensors')));
    assert.equal(latestCheckpoint(join(dir, 'a')), join(dir, 'a'));
    // resuming with different options is refused
    const again = loadTrainingCheckpoint(ck!);
    assert.throws(() => trainDeepseekV3(again.model, tokens, { ...o, seed: 4 }, again), /same values/);
    a.dispose();
    resume.model.dispose();
    again.model.dispose();
  });
});

test('the loss falls; loss parts, MaxVio and per-expert loads are logged', () => {
  const m = micro();
  const r = trainDeepseekV3(m, tokens, { steps: 30, batchSize: 4, seqLen: 16, lr: 2e-2 });
  const first = r.logs[0];
  const last = r.logs[r.logs.length - 1];
  assert.ok(last.main < first.main - 0.5, `main loss ${first.main} → ${last.main}`);
  assert.ok(first.mtp !== null && first.balance !== null && first.balance > 0);
  // λ schedule: 0.3 then 0.1; loss = main + λ·mtp + balance
  assert.equal(first.mtpWeight, 0.3);
  assert.equal(last.mtpWeight, 0.1);
  assert.ok(Math.abs(first.loss - (first.main + 0.3 * first.mtp! + first.balance!)) < 1e-4);
  // micro: one MoE main layer + one MTP layer, 4 experts, K = 2 → 2·B·T assignments per layer
  assert.equal(first.load.length, 2);
  assert.equal(first.load[0].reduce((a, b) => a + b, 0), 2 * 4 * 16);
  assert.ok(first.maxVio >= 0 && Number.isFinite(first.maxVio));
  assert.ok(last.tokensPerSecond > 0 && last.tokens === 30 * 64);
  m.dispose();
});

test("the report's LR and λ shapes", () => {
  const s = reportSchedule(1e-3, 100); // warmup 5, constant to 66, cosine to 1e-4 by 100
  assert.ok(Math.abs(s(0) - 2e-4) < 1e-12);
  assert.equal(s(4), 1e-3);
  assert.equal(s(50), 1e-3);
  assert.ok(s(80) < 1e-3 && s(80) > 1e-4);
  assert.ok(Math.abs(s(100) - 1e-4) < 1e-12);
  assert.equal(reportMtpWeight(65, 100), 0.3);
  assert.equal(reportMtpWeight(66, 100), 0.1);
});

test('--precision bf16 / fp8 train through the simulated Linears and leave the model in f32 afterwards', () => {
  const o: DeepseekTrainOptions = { steps: 3, batchSize: 2, seqLen: 16, lr: 1e-2, seed: 1 };
  const losses: Record<string, number[]> = {};
  for (const precision of ['fp32', 'bf16', 'fp8'] as const) {
    const m = micro();
    losses[precision] = trainDeepseekV3(m, tokens, { ...o, precision }).logs.map((l) => l.main);
    assert.ok(!Object.prototype.hasOwnProperty.call(m.model.layers[0].self_attn.o_proj, 'forward'), 'Linear forward restored');
    m.dispose();
  }
  for (const p of ['bf16', 'fp8']) {
    assert.ok(losses[p].every(Number.isFinite));
    assert.notDeepEqual(losses[p], losses.fp32, `${p} changed nothing`);
    assert.ok(Math.abs(losses[p][0] - losses.fp32[0]) < 0.05, `${p} first loss ${losses[p][0]} vs ${losses.fp32[0]}`);
  }
});
