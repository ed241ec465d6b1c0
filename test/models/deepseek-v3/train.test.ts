/** A tiny DeepSeek-V3 learns: main and MTP losses fall under AdamW on a repeating sequence, balancing on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { AdamW } from '../../../src/optim/adamw.js';
import { DeepseekV3ForCausalLM, maxViolation } from '../../../src/models/deepseek-v3/index.js';

test('training steps lower the main and MTP losses; loads are reported for every MoE layer', () => {
  const m = new DeepseekV3ForCausalLM('deepseek-v3-micro', { generator: new k.Generator(1) });
  const opt = new AdamW(m.parameters(), { lr: 1e-2, weightDecay: 0 });
  const seq = Int32Array.from({ length: 4 * 17 }, (_, i) => (i * 7 + Math.floor(i / 17)) % 32);
  const ids = k.fromArray(Int32Array.from({ length: 4 * 16 }, (_, i) => seq[Math.floor(i / 16) * 17 + (i % 16)]), [4, 16], { dtype: 'i32' });
  const tg = k.fromArray(Int32Array.from({ length: 4 * 16 }, (_, i) => seq[Math.floor(i / 16) * 17 + (i % 16) + 1]), [4, 16], { dtype: 'i32' });
  const hist: { main: number; mtp: number }[] = [];
  for (let s = 0; s < 40; s++) {
    k.tidy(() => {
      const r = m.loss(ids, tg, { mtpWeight: 0.3, balanceAlpha: 1e-4 });
      assert.equal(r.load.length, 2); // main MoE layer + the MTP module's
      assert.equal(r.load[0].reduce((a, b) => a + b, 0), 4 * 16 * 2);
      assert.ok(maxViolation(r.load[0]) >= 0);
      r.loss.backward();
      opt.step();
      opt.zeroGrad();
      m.updateRoutingBiases(0.001);
      hist.push({ main: r.main.item(), mtp: r.mtp!.item() });
    });
  }
  const first = hist[0], last = hist[hist.length - 1];
  assert.ok(last.main < first.main * 0.5, `main loss ${first.main} → ${last.main}`);
  assert.ok(last.mtp < first.mtp * 0.7, `MTP loss ${first.mtp} → ${last.mtp}`);
  m.dispose();
});
