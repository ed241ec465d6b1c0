/** Rectified flow: schedules, samplers on exact velocity fields, CFG, seeding, and a tiny end-to-end run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { maxDiff } from '../../helpers/tensors.js';
import { flowMatchingLoss, resolutionShift, sampleFlow, sampleSigmas, shiftSigma, sigmaSchedule, dropText, type Condition } from '../../../src/models/dit/flow.js';
import { SingleDit } from '../../../src/models/dit/single-dit.js';
import { SmallTextEncoder } from '../../../src/models/dit/text-encoder.js';
import { DEMO_WORDS, demoLatents, encodeCondition, trainTinyDit } from '../../../src/models/dit/train-dit.js';


const cond: Condition = { text: k.ones([2, 3, 4]), pooled: k.ones([2, 4]), textMask: k.ones([2, 3]) };

test('timestep shift and logit-normal sampling', () => {
  assert.ok(Math.abs(resolutionShift(256) - Math.exp(0.5)) < 1e-12);
  assert.ok(Math.abs(resolutionShift(4096) - Math.exp(1.15)) < 1e-12);
  assert.equal(shiftSigma(0, 3), 0);
  assert.equal(shiftSigma(1, 3), 1);
  assert.equal(shiftSigma(0.5, 3), 0.75);
  const s = Array.from(sampleSigmas(4001, new k.Generator(1))).sort((a, b) => a - b);
  assert.ok(Math.abs(s[2000] - 0.5) < 0.03, `median ${s[2000]}`);
  const shifted = sampleSigmas(4001, new k.Generator(1), { shift: 3 });
  assert.ok(shifted.reduce((a, b) => a + b) / 4001 > 0.65);
  const sched = sigmaSchedule(4, 2);
  assert.equal(sched.length, 5);
  assert.equal(sched[0], 1);
  assert.equal(sched[4], 0);
  assert.ok(sched.every((v, i) => i === 0 || v < sched[i - 1]));
});

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
  // text dropout with p = 1 zeroes every condition; p = 0 keeps it
  const d = dropText(cond, 1, new k.Generator(1));
  assert.equal(d.text.abs().sum().item(), 0);
  assert.equal(dropText(cond, 0, new k.Generator(1)), cond);
});

test('flow-matching loss has the velocity target: a perfect model scores 0', () => {
  const x0 = k.randn([3, 2, 1, 2, 2], { generator: new k.Generator(5) });
  // recover ε from x_σ and σ with the known x0: v = (x_σ − x0)/σ = ε − x0
  const { loss } = flowMatchingLoss((x, t) => x.sub(x0).div(t.reshape([-1, 1, 1, 1, 1]).div(1000)), x0, { text: k.zeros([3, 1, 2]) }, { generator: new k.Generator(6) });
  assert.ok(loss.item() < 1e-8);
});

test('tiny end to end: a Single-DiT + text encoder learn prompt-conditioned latents (loss falls, guided samples follow the prompt)', () => {
  const dit = new SingleDit({ ...{ num_attention_heads: 2, attention_head_dim: 16, in_channels: 4, out_channels: 4, text_dim: 16, freq_dim: 32, ffn_dim: 64, num_layers: 2 } }, { generator: new k.Generator(1) });
  const te = new SmallTextEncoder({ vocab_size: 256, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 8 }, { generator: new k.Generator(2) });
  const { losses } = trainTinyDit(dit, te, { steps: 200, batchSize: 8, lr: 5e-3, seed: 3 });
  const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
  assert.ok(last < 0.4 * first, `loss ${first} → ${last}`);
  // sample each prompt; the brightest channel must be the prompted one
  let correct = 0;
  k.noGrad(() => {
    const c = encodeCondition(te, DEMO_WORDS);
    const x = sampleFlow((xx, t, cc) => dit.forward({ latents: xx, timestep: t, text: cc.text, textMask: cc.textMask }), [4, 4, 2, 4, 4], c, { steps: 8, seed: 1, guidance: 2 });
    const means = x.mean([2, 3, 4]).toArray() as number[][];
    means.forEach((m, b) => { if (m.indexOf(Math.max(...m)) === b) correct++; });
    assert.ok(maxDiff(demoLatents([0], 4, 2, 4, 4), demoLatents([0], 4, 2, 4, 4)) === 0);
  });
  assert.ok(correct >= 3, `${correct}/4 prompts sampled to the right channel`);
});

test('CLI registration: kiln aquarius flow-demo --json runs and reports', async () => {
  const { Command } = await import('commander');
  const { registerDitCommands } = await import('../../../src/models/dit/cli.js');
  const program = new Command().exitOverride();
  registerDitCommands(program);
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => { out.push(s); return true; }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'kiln', 'aquarius', 'flow-demo', '--steps', '20', '--json']);
  } finally {
    process.stdout.write = write;
  }
  const r = JSON.parse(out.join('')) as { steps: number; first_loss: number; last_loss: number; correct: Record<string, number> };
  assert.equal(r.steps, 20);
  assert.ok(r.last_loss < r.first_loss);
  assert.deepEqual(Object.keys(r.correct), ['1', '2', '4']);
});
