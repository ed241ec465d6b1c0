/**
 * Parity of Kiln's ErnieModel with HF transformers' ErnieModel (fixtures from scripts/fixtures/ernie3-hf-parity.py):
 * a/ use_task_id + gelu, bare `ErnieModel` keys, one F32 file; b/ ErnieForMaskedLM layout (`ernie.` prefix + `cls.*`
 * head, no pooler), relu, 4 token types, BF16 shards. Both batches hold a padded row (attention mask) and two
 * token types; a/ also mixes task types. Plus `kiln embed` (runEmbed) on one row, and the vocab.txt tokenizer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k from '../../../src/index.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { loadErnieTokenizer, loadPretrained, loadPretrainedMaskedLm, savePretrained } from '../../../src/models/ernie3/hf.js';
import { runEmbed } from '../../../src/models/ernie3/cli.js';
import { ernieParamCount } from '../../../src/models/ernie3/hf-config.js';

const FIX = join(process.cwd(), 'test/fixtures/ernie3');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function fixture(sub: string) {
  const { tensors } = readSafetensors(join(FIX, sub, 'outputs.safetensors'));
  const i32 = (name: string) => {
    const t = tensors.get(name);
    return t ? k.fromArray(t.data as Int32Array, t.shape, { dtype: 'i32' }) : null;
  };
  return { tensors, inputIds: i32('input_ids')!, tokenTypeIds: i32('token_type_ids'), taskTypeIds: i32('task_type_ids'), attentionMask: i32('attention_mask') };
}

for (const sub of ['a', 'b']) {
  test(`HF ErnieModel parity ${sub}: last_hidden_state and pooler_output within 1e-5`, () => {
    const model = loadPretrained(join(FIX, sub)).eval();
    const f = fixture(sub);
    const out = k.noGrad(() => model.forward(f));
    const want = f.tensors.get('last_hidden_state')!;
    assert.deepEqual(out.lastHiddenState.shape, want.shape);
    const d = maxAbsDiff(out.lastHiddenState.data() as Float32Array, want.data as Float32Array);
    assert.ok(d < 1e-5, `last_hidden_state differs from transformers by ${d}`);
    const wantPool = f.tensors.get('pooler_output');
    if (wantPool) {
      const dp = maxAbsDiff(out.poolerOutput!.data() as Float32Array, wantPool.data as Float32Array);
      assert.ok(dp < 1e-5, `pooler_output differs from transformers by ${dp}`);
    } else assert.equal(out.poolerOutput, null);
    assert.equal(model.numParameters(), ernieParamCount(model.config, { pooler: wantPool !== undefined }));
    // without the attention mask the padded row changes (the mask is really applied), the unpadded row does not
    const noMask = k.noGrad(() => model.forward({ ...f, attentionMask: null })).lastHiddenState;
    const [, T, H] = want.shape;
    const row = (t: k.Tensor, r: number) => (t.data() as Float32Array).slice(r * T * H, (r + 1) * T * H);
    assert.ok(maxAbsDiff(row(noMask, 0), row(out.lastHiddenState, 0)) < 1e-6);
    assert.ok(maxAbsDiff(row(noMask, 1), row(out.lastHiddenState, 1)) > 1e-3);
    model.dispose();
  });
}

test('HF ErnieForMaskedLM parity b: MLM logits (head tied to the word embeddings) within 1e-5', () => {
  const mlm = loadPretrainedMaskedLm(join(FIX, 'b')).eval();
  const f = fixture('b');
  const logits = k.noGrad(() => mlm.forward(f));
  const want = f.tensors.get('prediction_logits')!;
  assert.deepEqual(logits.shape, want.shape);
  const d = maxAbsDiff(logits.data() as Float32Array, want.data as Float32Array);
  assert.ok(d < 1e-5, `MLM logits differ from transformers by ${d}`);
  mlm.dispose();
  assert.throws(() => loadPretrainedMaskedLm(join(FIX, 'a')), /no MLM head/);
});

test('HF ErnieModel a: task types and token types matter; save → load round-trips', () => {
  const model = loadPretrained(join(FIX, 'a')).eval();
  assert.ok(model.config.use_task_id);
  const f = fixture('a');
  const base = k.noGrad(() => model.forward(f)).lastHiddenState.data() as Float32Array;
  const noTask = k.noGrad(() => model.forward({ ...f, taskTypeIds: null })).lastHiddenState.data() as Float32Array;
  assert.ok(maxAbsDiff(base, noTask) > 1e-3);
  const dir = mkdtempSync(join(tmpdir(), 'kiln-ernie-'));
  try {
    savePretrained(model, dir);
    const again = loadPretrained(dir).eval();
    assert.equal(maxAbsDiff(k.noGrad(() => again.forward(f)).lastHiddenState.data() as Float32Array, base), 0);
    again.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  model.dispose();
});

test('kiln embed (runEmbed) writes last_hidden_state [T, H] and pooler_output [H] equal to transformers', () => {
  const f = fixture('a');
  const [, T, H] = f.tensors.get('last_hidden_state')!.shape;
  const row = (name: string) => Array.from((f.tensors.get(name)!.data as Int32Array).slice(T, 2 * T)).join(','); // the padded row 1
  const dir = mkdtempSync(join(tmpdir(), 'kiln-embed-'));
  try {
    const out = join(dir, 'e.safetensors');
    const r = runEmbed({
      model: join(FIX, 'a'), ids: row('input_ids'), tokenTypeIds: row('token_type_ids'), taskTypeIds: row('task_type_ids'),
      attentionMask: row('attention_mask'), out,
    });
    assert.deepEqual(r, { tokens: T, hidden: H, pooler: true, out });
    const got = readSafetensors(out).tensors;
    assert.deepEqual(got.get('last_hidden_state')!.shape, [T, H]);
    assert.deepEqual(got.get('pooler_output')!.shape, [H]);
    const want = (f.tensors.get('last_hidden_state')!.data as Float32Array).slice(T * H, 2 * T * H);
    assert.ok(maxAbsDiff(got.get('last_hidden_state')!.data as Float32Array, want) < 1e-5);
    const wantPool = (f.tensors.get('pooler_output')!.data as Float32Array).slice(H, 2 * H);
    assert.ok(maxAbsDiff(got.get('pooler_output')!.data as Float32Array, wantPool) < 1e-5);
    assert.throws(() => runEmbed({ model: join(FIX, 'a'), ids: '1,2,999', out }), /outside the vocabulary/);
    assert.throws(() => runEmbed({ model: join(FIX, 'a'), ids: '1,2,3', tokenTypeIds: '0,1', out }), /2 entries but there are 3 tokens/);
    // --text goes through the directory's vocab.txt (BERT-style WordPiece, Chinese characters split)
    const rt = runEmbed({ model: join(FIX, 'a'), text: 'The dogs, 中国人', pair: 'hello world', out });
    assert.equal(rt.tokens, 12);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the fixture directory loads its WordPiece tokenizer (vocab.txt): Chinese characters split, pairs typed', () => {
  const tok = loadErnieTokenizer(join(FIX, 'a'));
  const enc = tok.encode('The dogs, 中国人', { pair: 'hello world' });
  assert.deepEqual(enc.tokens, ['[CLS]', 'the', 'dog', '##s', ',', '中', '国', '人', '[SEP]', 'hello', 'world', '[SEP]']);
  assert.deepEqual(enc.typeIds, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
});

test('WordPiece ids equal the HF tokenizers library (BertWordPieceTokenizer) on tricky strings and pairs', () => {
  const tok = loadErnieTokenizer(join(FIX, 'a'));
  const ref = JSON.parse(readFileSync(join(FIX, 'a', 'tokenizer-ids.json'), 'utf8')) as {
    single: { text: string; ids: number[] }[]; pair: { text: string; pair: string; ids: number[]; type_ids: number[] }[];
  };
  for (const c of ref.single) assert.deepEqual(tok.encode(c.text).ids, c.ids, JSON.stringify(c.text));
  for (const c of ref.pair) {
    const e = tok.encode(c.text, { pair: c.pair });
    assert.deepEqual(e.ids, c.ids, JSON.stringify([c.text, c.pair]));
    assert.deepEqual(e.typeIds, c.type_ids);
  }
});

test('the commander wiring: `embed` parses its options and runs; the registry entries count parameters', async () => {
  const { Command } = await import('commander');
  const { registerErnieCommands } = await import('../../../src/models/ernie3/cli.js');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-embed-cli-'));
  const writes: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  (process.stdout as { write: unknown }).write = (s: string) => (writes.push(String(s)), true);
  try {
    const program = new Command().exitOverride();
    registerErnieCommands(program);
    const out = join(dir, 'x.safetensors');
    await program.parseAsync(['embed', '--model', join(FIX, 'a'), '--ids', '1,5,6,2', '--token-type-ids', '0,0,1,1', '--task-type-ids', '1,1,1,1', '--out', out, '--json'], { from: 'user' });
    const got = readSafetensors(out).tensors;
    assert.deepEqual(got.get('last_hidden_state')!.shape, [4, 32]);
    assert.deepEqual(JSON.parse(writes[0]), { tokens: 4, hidden: 32, pooler: true, out });
    const { ernieFamily, ernie3Family } = await import('../../../src/models/ernie3/family.js');
    assert.equal(ernie3Family.info('ernie3-10b').params_total, 10_826_391_040);
    const cfgA = JSON.parse(readFileSync(join(FIX, 'a', 'config.json'), 'utf8'));
    const a = loadPretrained(join(FIX, 'a'));
    assert.equal(ernieFamily.info(cfgA).params_total, a.numParameters());
    assert.equal(ernieFamily.info(cfgA).params_encoder, a.encoder.numParameters());
    a.dispose();
  } finally {
    (process.stdout as { write: unknown }).write = orig;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loader errors name the problem: layer count, shapes, unknown config values', async () => {
  const { cpSync, writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-ernie-bad-'));
  try {
    cpSync(join(FIX, 'a'), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(FIX, 'a', 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 3 }));
    assert.throws(() => loadPretrained(dir), /missing tensors: encoder\.layer\.2\./);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 1 }));
    assert.throws(() => loadPretrained(dir), /unexpected tensors: encoder\.layer\.1\./);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, vocab_size: 41 }));
    assert.throws(() => loadPretrained(dir), /'embeddings\.word_embeddings\.weight' has shape \[40,32\] but config\.json makes it \[41,32\]/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, use_task_id: false }));
    assert.throws(() => loadPretrained(dir), /unexpected tensors: embeddings\.task_type_embeddings\.weight/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, hidden_act: 'swish' }));
    assert.throws(() => loadPretrained(dir), /hidden_act 'swish' is not supported/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'bert' }));
    assert.throws(() => loadPretrained(dir), /model_type is 'bert', expected 'ernie'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fine-tuning: in training mode every parameter of the loaded encoder gets a gradient', () => {
  const model = loadPretrained(join(FIX, 'a')).train();
  const f = fixture('a');
  const out = model.forward(f);
  out.poolerOutput!.sum().add(out.lastHiddenState.mul(out.lastHiddenState).mean()).backward();
  for (const [name, p] of model.namedParameters()) {
    assert.ok(p.grad, `${name} has no gradient`);
    const g = p.grad!.data() as Float32Array;
    assert.ok(g.some((x) => x !== 0) && g.every(Number.isFinite), `${name}: gradient all zero or not finite`);
  }
  model.dispose();
});
