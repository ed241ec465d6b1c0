/** The GPT demo model: exact parameter count, learning on the bundled text, checkpoint round trip, generation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k from '../../src/index.js';
import { Gpt } from '../../src/models/gpt/model.js';
import { gptParamCount } from '../../src/models/gpt/config.js';
import { trainLanguageModel } from '../../src/train/lm.js';
import { ByteTokenizer } from '../../src/tokenizers/byte.js';
import { BUNDLED_TEXT } from '../../src/cli/demo.js';
import { loadModelWeights, readConfig, saveModel } from '../../src/io/checkpoint.js';
import { sample } from '../../src/infer/generate.js';

const small = { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 };

test('parameter count formula equals the module tree', () => {
  for (const preset of ['gpt-tiny', 'gpt-small']) {
    const m = new Gpt(preset);
    assert.equal(m.numParameters(), gptParamCount(m.config));
    m.dispose();
  }
  assert.throws(() => new Gpt({ hidden_size: 30, num_attention_heads: 4 }), (e: k.KilnError) => e.code === 'E_CONFIG');
});

test('trains: loss falls well below the unigram level on the sonnets', () => {
  const tokens = new ByteTokenizer().encode(readFileSync(BUNDLED_TEXT, 'utf8'));
  const model = new Gpt(small, { generator: new k.Generator(1) });
  const { losses } = trainLanguageModel(model, tokens, { steps: 80, batchSize: 8, seqLen: 32, lr: 1e-2, seed: 1 });
  const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(first > 5, `initial loss ${first} should be near ln 256 = 5.55`);
  assert.ok(last < 3.0, `loss after 80 steps is ${last}`);
  model.dispose();
});

test('save → load reproduces logits exactly; sampling is seeded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-gpt-'));
  try {
    const a = new Gpt(small, { generator: new k.Generator(2) });
    saveModel(a, dir, a.config);
    const cfg = readConfig(dir);
    const b = new Gpt(cfg as never, { generator: new k.Generator(99) });
    loadModelWeights(b, dir);
    const ids = k.fromArray(Int32Array.from([72, 101, 108, 108, 111]), [1, 5]);
    assert.deepEqual(k.noGrad(() => b.forward(ids).data()), k.noGrad(() => a.forward(ids).data()));
    const s1 = sample((x) => a.forward(x), Int32Array.from([72]), { maxNewTokens: 8, contextLength: 64, seed: 3 });
    const s2 = sample((x) => b.forward(x), Int32Array.from([72]), { maxNewTokens: 8, contextLength: 64, seed: 3 });
    assert.deepEqual(s1, s2);
    assert.equal(s1.length, 8);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
