/** The rectified-flow objective (flow-loss.ts) and the tiny end-to-end run (tiny-dit.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../src/index.js';
import { maxDiff } from '../helpers/tensors.js';
import type { Condition } from '../../src/models/dit/flow.js';
import { dropText, flowMatchingLoss, sampleSigmas } from '../../src/train/flow-loss.js';
import { sampleFlow } from '../../src/infer/flow-sampler.js';
import { SingleDit } from '../../src/models/dit/single-dit.js';
import { SmallTextEncoder } from '../../src/models/dit/text-encoder.js';
import { DEMO_WORDS, demoLatents, encodeCondition, trainTinyDit } from '../../src/train/tiny-dit.js';

test('logit-normal training σ (shifted) and text dropout', () => {
  const s = Array.from(sampleSigmas(4001, new k.Generator(1))).sort((a, b) => a - b);
  assert.ok(Math.abs(s[2000] - 0.5) < 0.03, `median ${s[2000]}`);
  const shifted = sampleSigmas(4001, new k.Generator(1), { shift: 3 });
  assert.ok(shifted.reduce((a, b) => a + b) / 4001 > 0.65);
  // text dropout with p = 1 zeroes every condition (mask all real); p = 0 keeps it
  const cond: Condition = { text: k.ones([2, 3, 4]), pooled: k.ones([2, 4]), textMask: k.tensor([[1, 1, 0], [1, 0, 0]]) };
  const d = dropText(cond, 1, new k.Generator(1));
  assert.equal(d.text.abs().sum().item(), 0);
  assert.equal(d.pooled!.abs().sum().item(), 0);
  assert.deepEqual(d.textMask!.toArray(), [[1, 1, 1], [1, 1, 1]]);
  assert.equal(dropText(cond, 0, new k.Generator(1)), cond);
});

test('flow-matching loss has the velocity target: a perfect model scores 0', () => {
  const x0 = k.randn([3, 2, 1, 2, 2], { generator: new k.Generator(5) });
  // recover ε from x_σ and σ with the known x0: v = (x_σ − x0)/σ = ε − x0
  const { loss } = flowMatchingLoss((x, t) => x.sub(x0).div(t.reshape([-1, 1, 1, 1, 1]).div(1000)), x0, { text: k.zeros([3, 1, 2]) }, { generator: new k.Generator(6) });
  assert.ok(loss.item() < 1e-8);
});

test('tiny end to end: a Single-DiT + text encoder learn prompt-conditioned latents (loss falls, guided samples follow the prompt)', () => {
  const dit = new SingleDit({ num_attention_heads: 2, attention_head_dim: 16, in_channels: 4, out_channels: 4, text_dim: 16, freq_dim: 32, ffn_dim: 64, num_layers: 2 }, { generator: new k.Generator(1) });
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
  dit.dispose();
  te.dispose();
});
