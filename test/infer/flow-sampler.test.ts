/** The plain rectified-flow sampler (flow-sampler.ts): exact on known velocity fields, seeded, CFG. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../src/index.js';
import { maxDiff } from '../helpers/tensors.js';
import type { Condition } from '../../src/models/dit/flow.js';
import { sampleFlow } from '../../src/infer/flow-sampler.js';

const cond: Condition = { text: k.ones([2, 3, 4]), pooled: k.ones([2, 4]), textMask: k.ones([2, 3]) };

test('samplers: exact on a point-mass flow; seeded; CFG combines text and null velocities', () => {
  const x0 = k.randn([2, 1, 1, 2, 2], { generator: new k.Generator(2) });
  // the exact velocity toward a single data point: v = (x − x0)/σ
  const toPoint = (x: k.Tensor, t: k.Tensor) => x.sub(x0).div(t.reshape([-1, 1, 1, 1, 1]).div(1000));
  for (const sampler of ['euler', 'heun'] as const)
    assert.ok(maxDiff(sampleFlow(toPoint, x0.shape, cond, { steps: 5, seed: 3, sampler, shift: 2 }), x0) < 1e-5);
  // constant velocity c: x(0) = ε − c, ε from the seed
  const c = 0.25;
  const out = sampleFlow((x) => k.full(x.shape, c), [2, 1, 1, 2, 2], cond, { steps: 3, seed: 9 });
  assert.ok(maxDiff(out, k.randn([2, 1, 1, 2, 2], { generator: new k.Generator(9) }).sub(c)) < 1e-6);
  assert.equal(maxDiff(out, sampleFlow((x) => k.full(x.shape, c), [2, 1, 1, 2, 2], cond, { steps: 3, seed: 9 })), 0);
  // CFG: v = v_null + g (v_text − v_null) with v_text = 1 (text = ones), v_null = 0 (zero text)
  const byText = (x: k.Tensor, _t: k.Tensor, cc: Condition) => cc.text.mean([1, 2]).reshape([-1, 1, 1, 1, 1]).expand(x.shape).contiguous();
  const g = sampleFlow(byText, [2, 1, 1, 2, 2], cond, { steps: 2, seed: 4, guidance: 3 });
  assert.ok(maxDiff(g, k.randn([2, 1, 1, 2, 2], { generator: new k.Generator(4) }).sub(3)) < 1e-5);
});
