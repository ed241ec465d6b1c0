/**
 * Tests for src/io/sharded.ts: reading the Python-written 2-shard fixture, writing sharded checkpoints and reading
 * them back, transformers-identical index text, and errors naming the missing file or tensor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatShardIndex, openCheckpoint, parseShardIndex, writeSharded } from '../../src/io/sharded.js';
import { type RawTensor, readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { KilnError } from '../../src/errors.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/safetensors/sharded/', import.meta.url));

const withDir = (fn: (dir: string) => void): void => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-shard-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
};

const f32 = (n: number, base: number): RawTensor =>
  ({ dtype: 'f32', shape: [n], data: Float32Array.from({ length: n }, (_, i) => base + i) });

const isErr = (code: string, re: RegExp) => (e: unknown): boolean => e instanceof KilnError && e.code === code && re.test(e.message);

test('reads the Python-written sharded checkpoint lazily', () => {
  const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Record<string, { dtype: string; shape: number[]; hex: string }>;
  const ck = openCheckpoint(FIX);
  try {
    assert.deepEqual(ck.names(), Object.keys(expected).sort());
    assert.deepEqual(ck.files(), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    assert.equal(ck.index!.totalSize, 256);
    ck.verify();
    for (const [name, want] of Object.entries(expected)) {
      const t = ck.read(name);
      assert.equal(t.dtype, want.dtype, name);
      assert.deepEqual(t.shape, want.shape, name);
      assert.equal(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('hex'), want.hex, name);
    }
    assert.equal(ck.info('lm_head.weight').file, 'model-00002-of-00002.safetensors');
    assert.throws(() => ck.read('nope'), isErr('E_CHECKPOINT', /"nope"/));
  } finally {
    ck.close();
  }
  // The index text transformers wrote is what formatShardIndex produces for the same map.
  const text = readFileSync(join(FIX, 'model.safetensors.index.json'), 'utf8');
  const idx = parseShardIndex(text, 'fixture');
  assert.equal(formatShardIndex(idx.totalSize!, idx.weightMap), text);
  // Also opens via the index path and via a single shard file.
  const viaIndex = openCheckpoint(join(FIX, 'model.safetensors.index.json'));
  assert.equal(viaIndex.names().length, 4);
  viaIndex.close();
  const single = openCheckpoint(join(FIX, 'model-00001-of-00002.safetensors'));
  assert.deepEqual(single.names(), ['model.embed_tokens.weight', 'model.layers.0.mlp.up_proj.weight']);
  single.close();
});

test('writeSharded splits greedily like huggingface_hub, names shards n-of-N, and reads back', () => {
  withDir((dir) => {
    const tensors: Record<string, RawTensor> = {
      'a.weight': f32(10, 0), // 40 bytes
      'b.weight': f32(10, 100), // 40
      'c.big': f32(40, 200), // 160 > max: own shard
      'd.bias': f32(2, 300), // 8
      'e.idx': { dtype: 'i64', shape: [], data: new BigInt64Array([-5n]) }, // 8
    };
    const r = writeSharded(dir, tensors, { maxShardBytes: 64 });
    assert.deepEqual(r.files, ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    assert.equal(r.totalSize, 256);
    assert.deepEqual(readdirSync(dir).sort(), [...r.files, 'model.safetensors.index.json'].sort());
    const idx = parseShardIndex(readFileSync(r.indexPath!, 'utf8'), 'x');
    assert.equal(idx.totalSize, 256);
    assert.deepEqual(Object.fromEntries(idx.weightMap), {
      'a.weight': r.files[0], 'c.big': r.files[1], 'b.weight': r.files[2], 'd.bias': r.files[2], 'e.idx': r.files[2],
    });
    assert.deepEqual(readSafetensors(join(dir, r.files[0]!)).metadata, { format: 'pt' });
    const ck = openCheckpoint(dir);
    ck.verify();
    for (const [n, t] of Object.entries(tensors)) assert.deepEqual(ck.read(n), t, n);
    ck.close();
  });
});

test('writeSharded output equals huggingface_hub split + safetensors save, byte for byte', () => {
  const split = fileURLToPath(new URL('../../../test/fixtures/safetensors/split/', import.meta.url));
  const ar = (n: number, base: number): RawTensor => f32(n, base);
  withDir((dir) => {
    const r = writeSharded(dir, {
      'e.idx': { dtype: 'i64', shape: [], data: new BigInt64Array([-5n]) },
      'a.weight': ar(10, 0), 'b.weight': ar(10, 100), 'c.big': ar(40, 200), 'd.bias': ar(2, 300),
    }, { maxShardBytes: 64 });
    const want = readdirSync(split).sort();
    assert.deepEqual(readdirSync(dir).sort(), want);
    for (const f of want) assert.deepEqual(readFileSync(join(dir, f)), readFileSync(join(split, f)), f);
    assert.ok(r.indexPath);
  });
});

test('one shard is written as model.safetensors without an index', () => {
  withDir((dir) => {
    const r = writeSharded(dir, new Map([['x', f32(3, 1)]]), { metadata: { format: 'pt', by: 'kiln' } });
    assert.deepEqual(r, { files: ['model.safetensors'], indexPath: null, totalSize: 12 });
    const ck = openCheckpoint(dir);
    assert.deepEqual(ck.names(), ['x']);
    assert.deepEqual([...(ck.read('x').data as Float32Array)], [1, 2, 3]);
    ck.close();
  });
});

test('diffusers-style prefix is found; custom prefix is honoured', () => {
  withDir((dir) => {
    writeSharded(dir, { w: f32(4, 0), v: f32(4, 9) }, { maxShardBytes: 16, prefix: 'diffusion_pytorch_model' });
    const ck = openCheckpoint(dir);
    assert.deepEqual(ck.files(), ['diffusion_pytorch_model-00001-of-00002.safetensors', 'diffusion_pytorch_model-00002-of-00002.safetensors']);
    ck.close();
    assert.throws(() => openCheckpoint(dir, { prefix: 'model' }), isErr('E_IO', /model\.safetensors/));
  });
});

test('errors name the missing file, the missing tensor, and bad index entries', () => {
  withDir((dir) => {
    for (const f of readdirSync(FIX)) copyFileSync(join(FIX, f), join(dir, f));
    unlinkSync(join(dir, 'model-00002-of-00002.safetensors'));
    const ck = openCheckpoint(dir);
    assert.equal(ck.read('model.embed_tokens.weight').shape[0], 8); // shard 1 still readable
    assert.throws(() => ck.read('lm_head.weight'), isErr('E_IO', /model-00002-of-00002\.safetensors.*"lm_head.weight"/));
    ck.close();

    // The index names a tensor the shard does not hold.
    writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), { other: f32(1, 0) });
    const ck2 = openCheckpoint(dir);
    assert.throws(() => ck2.read('lm_head.weight'), isErr('E_CHECKPOINT', /"lm_head.weight".*model-00002/));
    assert.throws(() => ck2.verify(), (e: unknown) => e instanceof KilnError && e.code === 'E_CHECKPOINT');
    ck2.close();

    const idx = (o: unknown): string => JSON.stringify(o);
    const bad: [string, RegExp][] = [
      ['{', /invalid JSON/],
      [idx({ metadata: {} }), /weight_map/],
      [idx({ weight_map: { a: 3 } }), /"a"/],
      [idx({ weight_map: { a: '../etc/passwd' } }), /"a".*plain file name/],
      [idx({ weight_map: { a: '/abs.safetensors' } }), /plain file name/],
      [idx({ metadata: { total_size: -1 }, weight_map: {} }), /total_size/],
      ['{"weight_map":{"a":"x","a":"y"}}', /duplicate/],
    ];
    for (const [text, re] of bad) {
      writeFileSync(join(dir, 'model.safetensors.index.json'), text);
      assert.throws(() => openCheckpoint(dir), isErr('E_FORMAT', re), text);
    }
    // total_size disagreeing with the shards is caught by verify().
    writeFileSync(join(dir, 'model.safetensors.index.json'), idx({ metadata: { total_size: 1 }, weight_map: { other: 'model-00002-of-00002.safetensors' } }));
    const ck3 = openCheckpoint(dir);
    assert.throws(() => ck3.verify(), isErr('E_CHECKPOINT', /total_size/));
    ck3.close();
  });
  assert.throws(() => openCheckpoint('/nonexistent/kiln/ckpt'), isErr('E_IO', /nonexistent/));
});

test('index text escapes non-ASCII like json.dumps and orders keys by code point', () => {
  const text = formatShardIndex(3, new Map([['é', 'a.safetensors'], ['z', 'b.safetensors'], ['😀', 'a.safetensors'], ['\uffff', 'a.safetensors']]));
  assert.equal(text, '{\n  "metadata": {\n    "total_size": 3\n  },\n  "weight_map": {\n' +
    '    "z": "b.safetensors",\n    "\\u00e9": "a.safetensors",\n    "\\uffff": "a.safetensors",\n    "\\ud83d\\ude00": "a.safetensors"\n  }\n}\n');
  assert.equal(formatShardIndex(0, new Map()), '{\n  "metadata": {\n    "total_size": 0\n  },\n  "weight_map": {}\n}\n');
});
