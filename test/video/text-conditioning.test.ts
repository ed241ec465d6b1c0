/**
 * The demo's text conditioning: the word-level tokenizer (tokenizers/word-level.ts), the Single-DiT's optional pooled
 * text path into adaLN (single-dit.ts `pooledTextDim`: gradient check, and the model reads the pooled vector), and a
 * word-level + pooled VideoModel (save → load gives the same video; the vocabulary is checked against the encoder).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateVideo, tinyVideoModelConfig } from '../../src/apps/demo-videos/text-to-video.js';
import { loadVideoModel, VideoModel, type VideoModelConfig } from '../../src/apps/video-model.js';
import { SingleDit } from '../../src/models/dit/single-dit.js';
import { normal_ } from '../../src/nn/init.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { fromArray, randn } from '../../src/tensor/creation.js';
import { Generator } from '../../src/tensor/random.js';
import { tidy } from '../../src/tensor/scope.js';
import { splitWords, WordLevelTokenizer } from '../../src/tokenizers/word-level.js';
import { gradcheck } from '../helpers/gradcheck.js';

const captions = ['a red striped square moving left on a dark background', 'a blue circle moving up on a light background'];

test('WordLevelTokenizer: vocabulary from a corpus, encode/decode, unknown words, JSON round trip, errors', () => {
  assert.deepEqual(splitWords('A Red square, moving LEFT!'), ['a', 'red', 'square', 'moving', 'left']);
  const tok = WordLevelTokenizer.fromCorpus(captions);
  assert.deepEqual(tok.vocab, ['[PAD]', '[UNK]', 'a', 'background', 'blue', 'circle', 'dark', 'left', 'light', 'moving', 'on', 'red', 'square', 'striped', 'up']);
  assert.equal(tok.vocabSize, 15);
  assert.deepEqual([...tok.encode('a red circle moving up')], [2, 11, 5, 9, 14]);
  assert.deepEqual([...tok.encode('a green circle')], [2, 1, 5]);
  assert.equal(tok.decode([2, 11, 5, 0, 0]), 'a red circle');
  assert.deepEqual(tok.unknownWords('a green triangle moving left, green'), ['green', 'triangle']);
  const back = WordLevelTokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
  assert.deepEqual(back.vocab, tok.vocab);
  assert.equal(WordLevelTokenizer.fromCorpus(['b a b', 'c'], { minCount: 2 }).vocab.join(' '), '[PAD] [UNK] b');
  assert.throws(() => new WordLevelTokenizer(['a', '[UNK]']), /must start with \[PAD\], \[UNK\]/);
  assert.throws(() => new WordLevelTokenizer(['[PAD]', '[UNK]', 'a', 'a']), /appears twice/);
  assert.throws(() => WordLevelTokenizer.fromJSON({ type: 'bpe' }), /expected \{ type: 'word-level'/);
  assert.throws(() => tok.decode([99]), /outside the vocabulary/);
});

test('SingleDit pooledTextDim: gradient check through the pooled path, and the output depends on the pooled vector', () => {
  const g = new Generator(3);
  const dit = new SingleDit({ patch_size: [1, 2, 2], num_attention_heads: 2, attention_head_dim: 8, in_channels: 3, out_channels: 3,
    text_dim: 6, freq_dim: 8, ffn_dim: 16, num_layers: 1 }, { generator: g, pooledTextDim: 5 });
  try {
    assert.ok(dit.condition_embedder.pooled_text_embedder);
    // the adaLN projection and the head start at zero (adaLN-zero); give them values so every path carries signal
    for (const p of [dit.condition_embedder.time_proj.weight, dit.proj_out.weight, ...dit.blocks[0].attn2.parameters()]) normal_(p, 0, 0.3, g);
    const x = randn([2, 3, 2, 4, 4], { generator: g }), text = randn([2, 3, 6], { generator: g });
    const t = fromArray([300, 700], [2]);
    const pooled = randn([2, 5], { generator: g });
    gradcheck((p) => dit.forward({ latents: x, timestep: t, text, pooled: p }), [pooled], { eps: 1e-2, atol: 2e-2, rtol: 2e-2 });
    const w1 = dit.condition_embedder.pooled_text_embedder!.linear_1.weight;
    gradcheck((w) => {
      const saved = dit.condition_embedder.pooled_text_embedder!.linear_1.weight;
      dit.condition_embedder.pooled_text_embedder!.linear_1.weight = w;
      try {
        return dit.forward({ latents: x, timestep: t, text, pooled });
      } finally {
        dit.condition_embedder.pooled_text_embedder!.linear_1.weight = saved;
      }
    }, [w1.detach().contiguous()], { eps: 1e-2, atol: 2e-2, rtol: 2e-2, maxPerInput: 16 });
    noGrad(() => tidy(() => {
      const a = dit.forward({ latents: x, timestep: t, text, pooled }).data() as Float32Array;
      const b = dit.forward({ latents: x, timestep: t, text, pooled: pooled.mul(-1) }).data() as Float32Array;
      const d = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
      assert.ok(d > 1e-3, `changing the pooled vector changed the output by only ${d}`);
      const p = dit.begin({ latents: x, timestep: t, text, pooled });
      const staged = p.head(p.blocks(p.x, 0, p.numBlocks)).data() as Float32Array;
      assert.ok(staged.every((v, i) => Math.abs(v - a[i]) < 1e-5), 'staged pass != forward');
    }));
    assert.throws(() => dit.forward({ latents: x, timestep: t, text }), /pooled-text embedder/);
  } finally {
    dit.dispose();
  }
  const plain = new SingleDit({ num_attention_heads: 2, attention_head_dim: 8, in_channels: 3, out_channels: 3, text_dim: 6, freq_dim: 8, ffn_dim: 16, num_layers: 1 });
  assert.equal(plain.condition_embedder.pooled_text_embedder, null);
  assert.ok(!plain.namedParameters().some(([n]) => n.includes('pooled')));
  plain.dispose();
});

test('word-level + pooled VideoModel: ids per word, save → load → the same video, vocabulary checked', () => {
  const vocab = WordLevelTokenizer.fromCorpus(captions).toJSON();
  const cfg = tinyVideoModelConfig('pixel', 3, { frames: 3, height: 16, width: 16 }, { hidden: 16, heads: 2, layers: 1, textHidden: 8, textLayers: 1, tokenizer: 'word', pooledText: true, absPos: true }, undefined, vocab);
  assert.equal(cfg.text_length, 16);
  assert.equal(cfg.text_encoder.vocab_size, 15);
  assert.throws(() => tinyVideoModelConfig('pixel', 3, { frames: 3, height: 16, width: 16 }, { tokenizer: 'word' }), /needs its vocabulary/);
  const model = new VideoModel({ ...cfg, prediction: 'x' } as VideoModelConfig, { seed: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'kiln-word-'));
  try {
    noGrad(() => tidy(() => {
      const { ids, mask } = model.tokenize(['a red circle moving up']);
      assert.deepEqual([...(ids.data() as Int32Array)].slice(0, 6), [2, 11, 5, 9, 14, 0]);
      assert.deepEqual([...(mask.data() as Float32Array)].slice(0, 6), [1, 1, 1, 1, 1, 0]);
    }));
    normal_(model.dit.proj_out.weight, 0, 0.1, new Generator(5)); // a fresh head outputs zeros
    model.save(dir);
    const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as VideoModelConfig;
    assert.deepEqual(saved.text_tokenizer, vocab);
    assert.equal(saved.pooled_text, true);
    const back = loadVideoModel(dir);
    try {
      const p = ['a red circle moving up on a dark background', 'a blue square moving left on a light background'];
      const a = generateVideo(model, p, { steps: 2, seed: 1 }), b = generateVideo(back, p, { steps: 2, seed: 1 });
      assert.deepEqual(a.videos[1].data, b.videos[1].data);
      assert.notDeepEqual(a.videos[0].data, a.videos[1].data);
    } finally {
      back.dispose();
    }
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...saved, text_encoder: { ...saved.text_encoder, vocab_size: 256 } }));
    assert.throws(() => loadVideoModel(dir), /vocab_size 256 does not match the word-level tokenizer's 15 ids/);
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
