// Tokenizer pipeline behaviour beyond the parity fixtures: the ids-only fast path equals the tracked path on long
// mixed text, error messages name unsupported components, vocab/id lookups, and the kiln tokenize command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { asTextTokenizer, loadTokenizer, tokenizerFromJson } from '../../src/tokenizers/index.js';
import { registerTokenizeCommand } from '../../src/tokenizers/cli.js';
import { KilnError } from '../../src/errors.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/tokenizers/', import.meta.url));
const NAMES = ['deepseek-v3-style', 'gpt2-style', 'roberta-style', 'bert-wordpiece', 'metaspace-bytefallback', 'bpe-suffix-digits', 'llama3-style'];

function mixedText(): string {
  const corpus = JSON.parse(readFileSync(FIX + 'training-corpus.json', 'utf8')) as { texts: string[] };
  const parts: string[] = [];
  for (let k = 0; k < 8; k++) parts.push(...corpus.texts.map((t, i) => (i % 7 === 0 ? `${t}  \n\n\t${k}${i}😀` : t)));
  return parts.join('\n');
}

test('encodeIds (string-only fast path) equals encode().ids on ~60 KB of mixed text, every fixture tokenizer', () => {
  const text = mixedText();
  assert.ok(text.length > 50_000, `text length ${text.length}`);
  for (const n of NAMES) {
    const tok = loadTokenizer(FIX + `${n}.tokenizer.json`);
    for (const add of [true, false]) {
      const a = tok.encode(text, { addSpecialTokens: add });
      const b = tok.encodeIds(text, { addSpecialTokens: add });
      assert.deepEqual(b, a.ids, `${n} add=${add}`);
      // offsets are increasing and inside the text
      let last = 0;
      for (const [s, e] of a.offsets) {
        if (s === 0 && e === 0) continue;
        assert.ok(s >= 0 && e <= text.length && s <= e, `${n} offset ${s},${e}`);
        assert.ok(e >= last || s >= last - 4, `${n} offsets go backwards at ${s}`);
        last = e;
      }
    }
  }
});

test('byte-level tokenizers round-trip any text exactly', () => {
  const text = mixedText();
  for (const n of ['deepseek-v3-style', 'gpt2-style', 'llama3-style']) {
    const tok = loadTokenizer(FIX + `${n}.tokenizer.json`);
    assert.equal(tok.decode(tok.encodeIds(text, { addSpecialTokens: false })), text, n);
  }
});

test('vocab lookups: tokenToId / idToToken / vocabSize', () => {
  const tok = loadTokenizer(FIX + 'deepseek-v3-style.tokenizer.json');
  const bos = tok.tokenToId('<｜begin▁of▁sentence｜>');
  assert.equal(bos, 0);
  assert.equal(tok.idToToken(0), '<｜begin▁of▁sentence｜>');
  assert.equal(tok.idToToken(tok.tokenToId('Ġthe')!), 'Ġthe');
  assert.equal(tok.tokenToId('<think>'), tok.vocabSize - 2);
  assert.equal(tok.tokenToId('no such token'), undefined);
  assert.equal(tok.idLimit, tok.vocabSize);
  assert.equal(tok.decode([999_999]), '');
});

function baseJson(): Record<string, any> {
  return JSON.parse(readFileSync(FIX + 'gpt2-style.tokenizer.json', 'utf8'));
}

test('unsupported or broken tokenizer.json parts are KilnErrors naming the component', () => {
  const cases: Array<[string, (j: Record<string, any>) => void, RegExp]> = [
    ['normalizer', (j) => (j.normalizer = { type: 'Precompiled', precompiled_charsmap: '' }), /normalizer type "Precompiled"/],
    ['pre_tokenizer', (j) => (j.pre_tokenizer = { type: 'UnicodeScripts' }), /pre_tokenizer type "UnicodeScripts"/],
    ['model', (j) => (j.model = { type: 'Unigram', vocab: [] }), /model type "Unigram"/],
    ['decoder', (j) => (j.decoder = { type: 'CTC' }), /decoder type "CTC"/],
    ['post_processor', (j) => (j.post_processor = { type: 'Weird' }), /post_processor type "Weird"/],
    ['merge', (j) => j.model.merges.push(['Ġt', 'nonexistent']), /merge #\d+ .*missing from the vocabulary/],
    ['split behavior', (j) => (j.pre_tokenizer = { type: 'Split', pattern: { Regex: 'a' }, behavior: 'Sideways', invert: false }), /split behavior "Sideways"/],
    ['regex', (j) => (j.pre_tokenizer = { type: 'Split', pattern: { Regex: '(a)\\1' }, behavior: 'Isolated', invert: false }), /back-reference/],
  ];
  for (const [what, edit, re] of cases) {
    const j = baseJson();
    edit(j);
    assert.throws(() => tokenizerFromJson(j), (e: unknown) => e instanceof KilnError && re.test(e.message), what);
  }
  assert.throws(() => loadTokenizer('/nonexistent/tokenizer.json'), (e: unknown) => e instanceof KilnError && e.code === 'E_IO');
});

test('loadTokenizer on a model directory: tokenizer.json first, else vocab.txt with do_lower_case from tokenizer_config.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tokdir-'));
  copyFileSync(FIX + 'bert-wordpiece.vocab.txt', join(dir, 'vocab.txt'));
  const lower = loadTokenizer(FIX + 'bert-wordpiece.tokenizer.json').encode('Hello').tokens;
  assert.deepEqual(lower, ['[CLS]', 'he', '##ll', '##o', '[SEP]']);
  assert.deepEqual(loadTokenizer(dir).encode('Hello').tokens, lower);
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false }));
  assert.notDeepEqual(loadTokenizer(dir).encode('Hello').tokens, lower);
  copyFileSync(FIX + 'gpt2-style.tokenizer.json', join(dir, 'tokenizer.json'));
  assert.deepEqual(loadTokenizer(dir).encodeIds('Hello'), loadTokenizer(FIX + 'gpt2-style.tokenizer.json').encodeIds('Hello'));
  assert.throws(() => loadTokenizer(mkdtempSync(join(tmpdir(), 'kiln-empty-'))), (e: unknown) => e instanceof KilnError && /without tokenizer.json or vocab.txt/.test(e.message));
});

async function runCli(args: string[]): Promise<string> {
  const program = new Command();
  program.exitOverride();
  registerTokenizeCommand(program);
  const chunks: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  (process.stdout as any).write = (c: string) => {
    chunks.push(String(c));
    return true;
  };
  try {
    await program.parseAsync(['node', 'kiln', 'tokenize', ...args]);
  } finally {
    (process.stdout as any).write = orig;
  }
  return chunks.join('');
}

test('kiln tokenize prints ids (text and --json) and rejects a missing input', async () => {
  const tj = FIX + 'deepseek-v3-style.tokenizer.json';
  const tok = loadTokenizer(tj);
  const text = 'Hello 世界 12345!';
  const j = JSON.parse(await runCli(['--tokenizer', tj, '--text', text, '--json']));
  const e = tok.encode(text);
  assert.deepEqual(j.ids, e.ids);
  assert.deepEqual(j.tokens, e.tokens);
  assert.deepEqual(j.offsets, e.offsets);
  assert.equal(j.count, e.ids.length);
  assert.equal(j.decoded, tok.decode(e.ids));
  const plain = await runCli(['--tokenizer', tj, '--text', text, '--no-special-tokens']);
  assert.match(plain, new RegExp(`ids: ${tok.encodeIds(text, { addSpecialTokens: false }).join(' ')}\\n`));
  await assert.rejects(runCli(['--tokenizer', tj]), (err: unknown) => err instanceof KilnError && /exactly one of --text/.test(err.message));
  const v = JSON.parse(await runCli(['--tokenizer', FIX + 'bert-wordpiece.vocab.txt', '--text', 'hello world', '--pair', 'how are you', '--json']));
  assert.equal(v.tokens[0], '[CLS]');
  assert.deepEqual(v.ids, loadTokenizer(FIX + 'bert-wordpiece.vocab.txt').encode('hello world', { pair: 'how are you' }).ids);
  assert.equal(v.type_ids[v.type_ids.length - 1], 1);
});

test('legacy "a b" string merges load and encode like [a, b] pairs', () => {
  const j = JSON.parse(readFileSync(FIX + 'deepseek-v3-style.tokenizer.json', 'utf8'));
  const pairs = tokenizerFromJson(j);
  j.model.merges = (j.model.merges as Array<[string, string]>).map(([a, b]) => `${a} ${b}`);
  const strings = tokenizerFromJson(j);
  const text = mixedText();
  assert.deepEqual(strings.encodeIds(text), pairs.encodeIds(text));
  j.model.merges.push('nospace');
  assert.throws(() => tokenizerFromJson(j), (e: unknown) => e instanceof KilnError && /no space/.test(e.message));
});

test('asTextTokenizer gives the data pipeline shape (ids without special tokens, eos id, vocab size)', () => {
  const tok = loadTokenizer(FIX + 'deepseek-v3-style.tokenizer.json');
  const t = asTextTokenizer(tok, 'ds', '<｜end▁of▁sentence｜>');
  assert.equal(t.eosId, 1);
  assert.equal(t.vocabSize, tok.vocabSize);
  assert.equal(tok.idLimit, tok.vocabSize);
  assert.deepEqual(t.encode('Hello 世界'), tok.encodeIds('Hello 世界', { addSpecialTokens: false }));
  assert.equal(t.decode(t.encode('Hello 世界')), 'Hello 世界');
  assert.throws(() => asTextTokenizer(tok, 'ds', '<nope>'), KilnError);
});

test('encodeIds reports progress (increasing, ending at the total) without changing the ids', () => {
  const text = mixedText().repeat(6);
  for (const n of ['deepseek-v3-style', 'bert-wordpiece']) {
    const tok = loadTokenizer(FIX + `${n}.tokenizer.json`);
    const seen: number[] = [];
    const ids = tok.encodeIds(text, { onProgress: (done, total) => (assert.equal(total, text.length), seen.push(done)) });
    assert.deepEqual(ids, tok.encodeIds(text));
    assert.ok(seen.length >= 2, `${n}: ${seen.length} reports`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1]);
    assert.equal(seen[seen.length - 1], text.length);
  }
});
