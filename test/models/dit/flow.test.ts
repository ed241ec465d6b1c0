/** The rectified-flow formulation (flow.ts): resolution shift, σ schedule, guided velocity. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { maxDiff } from '../../helpers/tensors.js';
import { flowTimesteps, guidedVelocity, resolutionShift, shiftSigma, sigmaSchedule, type Condition } from '../../../src/models/dit/flow.js';

test('resolution shift and the sampling schedule', () => {
  assert.ok(Math.abs(resolutionShift(256) - Math.exp(0.5)) < 1e-12);
  assert.ok(Math.abs(resolutionShift(4096) - Math.exp(1.15)) < 1e-12);
  assert.equal(shiftSigma(0, 3), 0);
  assert.equal(shiftSigma(1, 3), 1);
  assert.equal(shiftSigma(0.5, 3), 0.75);
  const sched = sigmaSchedule(4, 2);
  assert.equal(sched.length, 5);
  assert.equal(sched[0], 1);
  assert.equal(sched[4], 0);
  assert.ok(sched.every((v, i) => i === 0 || v < sched[i - 1]));
  assert.throws(() => sigmaSchedule(0), (e: k.KilnError) => e.code === 'E_ARG');
  assert.deepEqual(flowTimesteps(2, 0.25).toArray(), [250, 250]);
});

test('guided velocity: g = 1 is the model itself; g ≠ 1 is v_null + g·(v_text − v_null) from one batched call', () => {
  const cond: Condition = { text: k.full([2, 3, 4], 2), pooled: k.ones([2, 4]), textMask: k.ones([2, 3]) };
  let calls = 0;
  // v = mean of the text states (2 with text, 0 for the null condition) + 1000·σ / 1000
  const model = (x: k.Tensor, t: k.Tensor, c: Condition) => {
    calls++;
    return c.text.mean([1, 2]).add(t.div(1000)).reshape([-1, 1, 1, 1, 1]).expand(x.shape).contiguous();
  };
  const x = k.zeros([2, 1, 1, 2, 2]);
  assert.ok(maxDiff(guidedVelocity(model, cond, 2, 1)(x, 0.5), k.full(x.shape, 2.5)) < 1e-6);
  assert.equal(calls, 1);
  assert.ok(maxDiff(guidedVelocity(model, cond, 2, 3)(x, 0.5), k.full(x.shape, 0.5 + 3 * 2)) < 1e-6);
  assert.equal(calls, 2);
});
