// BPE training: identical vocabulary and merges to the HF BpeTrainer on the same corpus, round trips, options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainBpe } from '../../src/tokenizers/train-bpe.js';
import { loadTokenizer } from '../../src/tokenizers/index.js';
import { KilnError } from '../../src/errors.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/tokenizers/', import.meta.url));
const corpus = JSON.parse(readFileSync(FIX + 'training-corpus.json', 'utf8')) as { texts: string[]; vocabSize: number; minFrequency: number; specialTokens: string[] };

test('trainBpe reproduces the HF BpeTrainer (same vocab, same merges in order)', () => {
  const ref = JSON.parse(readFileSync(FIX + 'trained-reference.tokenizer.json', 'utf8'));
  const r = trainBpe(corpus.texts, { vocabSize: corpus.vocabSize, minFrequency: corpus.minFrequency, specialTokens: corpus.specialTokens });
  assert.equal(r.merges, ref.model.merges.length);
  assert.deepEqual(r.json.model.merges, ref.model.merges);
  assert.deepEqual(r.json.model.vocab, ref.model.vocab);
  assert.deepEqual(r.json.added_tokens, ref.added_tokens);
});

test('a trained tokenizer round-trips tricky text and writes a loadable tokenizer.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tok-'));
  const out = join(dir, 'tokenizer.json');
  const r = trainBpe(corpus.texts, { vocabSize: 600, specialTokens: ['<|endoftext|>'], preTokenizer: 'deepseek-v3', out });
  const tok = loadTokenizer(out);
  assert.equal(tok.vocabSize, 600);
  assert.equal(tok.tokenToId('<|endoftext|>'), 0);
  for (const s of ['', 'Shall I compare thee', '深度求索 123456 😀 e\u0301\n\n\t x', 'a<|endoftext|>b']) {
    const ids = tok.encodeIds(s);
    assert.equal(tok.decode(ids), s);
    assert.deepEqual(r.tokenizer.encode(s).ids, ids);
  }
  // merges shorten the text: fewer tokens than bytes on the training text
  const text = corpus.texts.join('\n');
  assert.ok(tok.encodeIds(text).length < 0.5 * Buffer.byteLength(text));
});

test('minFrequency stops early; bad vocabSize is a KilnError', () => {
  const small = trainBpe(corpus.texts, { vocabSize: 5000, minFrequency: 1000 });
  assert.ok(small.merges < 50, `merges ${small.merges}`);
  const none = trainBpe(['ab ab ab'], { vocabSize: 300 });
  assert.ok(none.merges >= 2);
  assert.throws(() => trainBpe(['x'], { vocabSize: 100 }), KilnError);
});
