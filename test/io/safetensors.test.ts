/**
 * Tests for src/io/safetensors.ts: round trips of every dtype (incl. 0-d and empty tensors), metadata, reading a
 * file written by the Python `safetensors` package and writing the same bytes, lazy single-tensor reads (also into
 * SharedArrayBuffer storage), and one malformed header per validation rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type RawTensor, openSafetensors, parseSafetensorsHeader, readSafetensors, serializeSafetensors, writeSafetensors,
} from '../../src/io/safetensors.js';
import { decodeToF32, encodeF32 } from '../../src/tensor/convert.js';
import { type DType, DTYPES, typedArray, DTYPE_BYTES } from '../../src/tensor/dtype.js';
import { KilnError } from '../../src/errors.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/safetensors/', import.meta.url));

function tensor(dtype: DType, shape: number[], seed = 1): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = typedArray(dtype, new ArrayBuffer(n * DTYPE_BYTES[dtype]), 0, n);
  for (let i = 0; i < n; i++) {
    const v = ((i * 7919 + seed * 104729) % 251) - 125;
    if (data instanceof BigInt64Array) data[i] = BigInt(v) * 1234567891011n;
    else if (dtype === 'bool') data[i] = v & 1;
    else if (dtype === 'f32') data[i] = v / 8;
    else data[i] = (v + 125) & (dtype === 'bf16' || dtype === 'f16' ? 0x7bff : dtype === 'i32' ? 0x7fffffff : 0x77);
  }
  return { dtype, shape, data };
}

function assertSameTensor(a: RawTensor, b: RawTensor, what: string): void {
  assert.equal(a.dtype, b.dtype, what);
  assert.deepEqual(a.shape, b.shape, what);
  assert.equal(a.data.constructor, b.data.constructor, what);
  assert.deepEqual(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength),
    new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength), what);
}

const isFormat = (re?: RegExp) => (e: unknown): boolean => {
  if (!(e instanceof KilnError) || e.code !== 'E_FORMAT') return false;
  if (re && !re.test(e.message)) assert.fail(`message ${JSON.stringify(e.message)} does not match ${re}`);
  return true;
};

test('round trip of every dtype, 0-d scalars and empty tensors, in memory and on disk', () => {
  const tensors = new Map<string, RawTensor>();
  for (const d of DTYPES) {
    tensors.set(`${d}.m`, tensor(d, [3, 5], DTYPES.indexOf(d)));
    tensors.set(`${d}.scalar`, tensor(d, [], 3));
    tensors.set(`${d}.empty`, tensor(d, [0, 4]));
    tensors.set(`${d}.empty0d`, tensor(d, [2, 0, 3]));
  }
  const md = { format: 'pt', note: 'ünïcode "quoted"\n' };
  const bytes = serializeSafetensors(tensors, md);
  const back = readSafetensors(bytes);
  assert.deepEqual(back.metadata, md);
  assert.equal(back.tensors.size, tensors.size);
  for (const [n, t] of tensors) assertSameTensor(back.tensors.get(n)!, t, n);
  // Every tensor is aligned to its element size in the file (written widest dtype first).
  const h = parseSafetensorsHeader(bytes);
  assert.equal(h.dataOffset % 8, 0);
  for (const e of h.entries.values()) assert.equal(e.begin % DTYPE_BYTES[e.dtype!], 0, e.name);

  const dir = mkdtempSync(join(tmpdir(), 'kiln-st-'));
  try {
    const p = join(dir, 'all.safetensors');
    writeSafetensors(p, Object.fromEntries(tensors), md);
    assert.deepEqual(readdirSync(dir), ['all.safetensors']); // the temp file was renamed away
    assert.deepEqual(new Uint8Array(readFileSync(p)), bytes);
    const fromFile = readSafetensors(p);
    for (const [n, t] of tensors) assertSameTensor(fromFile.tensors.get(n)!, t, n);
    assert.deepEqual(fromFile.metadata, md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('empty file: no tensors, with and without metadata', () => {
  const none = serializeSafetensors({});
  assert.equal(new TextDecoder().decode(none.subarray(8)), '{}      ');
  assert.equal(readSafetensors(none).tensors.size, 0);
  const withMd = readSafetensors(serializeSafetensors({}, { a: 'b' }));
  assert.deepEqual(withMd.metadata, { a: 'b' });
});

type Expect = { dtype: DType; shape: number[]; hex: string; values: (number | string)[] };

test('reads the file written by Python safetensors, and writes the identical bytes', () => {
  const path = join(FIX, 'python-all-dtypes.safetensors');
  const expected = JSON.parse(readFileSync(join(FIX, 'python-all-dtypes.json'), 'utf8')) as {
    metadata: Record<string, string>; tensors: Record<string, Expect>;
  };
  const { metadata, tensors } = readSafetensors(path);
  assert.deepEqual(metadata, expected.metadata);
  assert.deepEqual([...tensors.keys()].sort(), Object.keys(expected.tensors).sort());
  for (const [name, want] of Object.entries(expected.tensors)) {
    const t = tensors.get(name)!;
    assert.equal(t.dtype, want.dtype, name);
    assert.deepEqual(t.shape, want.shape, name);
    assert.equal(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('hex'), want.hex, name);
    if (t.dtype === 'i64') {
      assert.deepEqual([...(t.data as BigInt64Array)].map(String), want.values, name);
    } else {
      const got = [...decodeToF32(t.dtype, t.data)].map((x) => (Number.isNaN(x) ? 'nan' : x === Infinity ? 'inf' : x === -Infinity ? '-inf' : x));
      assert.deepEqual(got, want.values, name);
    }
  }
  // Same tensors + metadata → byte-identical file.
  const ours = serializeSafetensors(tensors, metadata);
  assert.deepEqual(ours, new Uint8Array(readFileSync(path)));
  // Our encoder reproduces the Python-side casts of the float data.
  const f32 = decodeToF32('f32', tensors.get('f32.matrix')!.data);
  assert.deepEqual(encodeF32('bf16', f32), tensors.get('bf16.w')!.data);
});

test('lazy open: header only, one positioned read, into SharedArrayBuffer storage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-st-'));
  try {
    const p = join(dir, 'lazy.safetensors');
    const a = tensor('f32', [64, 32]);
    const b = tensor('bf16', [7]);
    const c = tensor('i64', [3]);
    writeSafetensors(p, { a, b, c }, { format: 'pt' });
    const f = openSafetensors(p);
    assert.deepEqual(f.names(), ['a', 'b', 'c']);
    assert.deepEqual(f.metadata, { format: 'pt' });
    const ia = f.info('a');
    assert.equal(ia.dtype, 'f32');
    assert.deepEqual(ia.shape, [64, 32]);
    assert.equal(ia.byteLength, 64 * 32 * 4);
    const raw = readFileSync(p);
    assert.deepEqual(new Uint8Array(raw.subarray(ia.byteOffset, ia.byteOffset + ia.byteLength)),
      new Uint8Array(a.data.buffer));
    assertSameTensor(f.read('b'), b, 'b');
    const shared = f.read('c', { shared: true });
    assert.ok(shared.data.buffer instanceof SharedArrayBuffer);
    assertSameTensor(shared, c, 'c shared');
    const into = new Float32Array(new SharedArrayBuffer(64 * 32 * 4));
    assert.equal(f.read('a', { into }).data, into);
    assertSameTensor({ dtype: 'f32', shape: [64, 32], data: into }, a, 'a into');
    assert.throws(() => f.read('a', { into: new Float32Array(3) }), (e: unknown) => e instanceof KilnError && e.code === 'E_ARG');
    assert.throws(() => f.read('a', { into: new Int32Array(64 * 32) }), (e: unknown) => e instanceof KilnError && e.code === 'E_ARG');
    assert.throws(() => f.read('zzz'), (e: unknown) => e instanceof KilnError && e.code === 'E_CHECKPOINT' && /zzz/.test(e.message));
    f.close();
    assert.throws(() => f.read('a'), (e: unknown) => e instanceof KilnError && e.code === 'E_IO');
    // A file truncated after opening is reported, not silently short.
    const g = openSafetensors(p);
    writeFileSync(p, raw.subarray(0, raw.length - 10));
    assert.throws(() => g.read('b'), (e: unknown) => e instanceof KilnError && e.code === 'E_IO'); // b is last in the file
    g.close();
    assert.throws(() => openSafetensors(join(dir, 'missing.safetensors')), (e: unknown) => e instanceof KilnError && e.code === 'E_IO');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lazy read past 4 GiB in a sparse file: only the header and the one tensor are read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-st-'));
  try {
    const big = 2 ** 30; // f32 elements = 4 GiB of (sparse, never read) data
    const header = { a_big: { dtype: 'F32', shape: [big], data_offsets: [0, big * 4] },
      b_small: { dtype: 'F32', shape: [4], data_offsets: [big * 4, big * 4 + 16] } };
    const file = mk(header, 0);
    const p = join(dir, 'sparse.safetensors');
    const fd = openSync(p, 'w');
    writeSync(fd, file);
    writeSync(fd, new Uint8Array(Float32Array.from([1.5, -2, 3, 4]).buffer), 0, 16, file.length + big * 4);
    closeSync(fd);
    const f = openSafetensors(p);
    assert.deepEqual(f.info('a_big'), { dtype: 'f32', shape: [big], byteOffset: file.length, byteLength: big * 4 });
    assert.deepEqual([...(f.read('b_small').data as Float32Array)], [1.5, -2, 3, 4]);
    f.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A file from a header (object or raw JSON text) and a data region of `dataLen` bytes. */
function mk(header: unknown, dataLen: number, lenOverride?: bigint): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

test('malformed headers are E_FORMAT errors naming the problem and tensor', () => {
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  assert.equal(readSafetensors(mk(ok, 8)).tensors.size, 1);
  const cases: [string, Uint8Array, RegExp][] = [
    ['too small', new Uint8Array(5), /too small/],
    ['header length > file', mk(ok, 8, 1000n), /past the end/],
    ['header length > 100 MB', mk(ok, 8, 200_000_000n), /exceeds/],
    ['header length u64 huge', mk(ok, 8, 2n ** 63n), /exceeds/],
    ['not starting with {', mk(` ${JSON.stringify(ok)}`, 8), /start with/],
    ['not UTF-8', (() => { const b = mk('{"w\xff":1}', 0); b[11] = 0xff; return b; })(), /UTF-8/],
    ['invalid JSON', mk('{"w": {', 0), /invalid JSON/],
    ['array root', mk('[1]', 0), /start with/],
    ['entry not object', mk({ w: 3 }, 0), /"w".*not an object/],
    ['missing dtype', mk({ w: { shape: [2], data_offsets: [0, 8] } }, 8), /"w".*dtype/],
    ['unknown dtype', mk({ w: { dtype: 'F99', shape: [2], data_offsets: [0, 8] } }, 8), /"w".*unknown dtype/],
    ['negative dim', mk({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8), /"w".*shape/],
    ['fractional dim', mk({ w: { dtype: 'F32', shape: [2.5], data_offsets: [0, 10] } }, 10), /"w".*shape/],
    ['float-literal dim', mk('{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', 8), /"w".*shape/],
    ['string dim', mk({ w: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, 8), /"w".*shape/],
    ['offsets wrong arity', mk({ w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8), /"w".*data_offsets/],
    ['size mismatch', mk({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /"w".*needs 12/],
    ['end before begin', mk({ w: { dtype: 'F32', shape: [0], data_offsets: [0, 0] }, v: { dtype: 'U8', shape: [0], data_offsets: [8, 0] } }, 8), /end before begin|gap/],
    ['offset beyond file', mk({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4), /past the data region|cover/],
    ['gap', mk({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /"w".*gap/],
    ['overlap', mk({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /"b".*overlap/],
    ['trailing bytes', mk(ok, 12), /cover 8 bytes but the data region holds 12/],
    ['duplicate name', mk('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2), /duplicate.*"w"/],
    ['metadata value not string', mk({ __metadata__: { a: 1 }, ...ok }, 8), /__metadata__.*"a"/],
    ['metadata not object', mk({ __metadata__: 'x', ...ok }, 8), /__metadata__/],
    ['huge dims', mk({ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, 8), /"w".*2\^53/],
    ['unsafe-integer offset', mk('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}}', 1), /"w".*data_offsets/],
    ['deep nesting', mk(`{"w":${'['.repeat(5000)}${']'.repeat(5000)}}`, 0), /nesting/],
    ['sub-byte dtype misaligned', mk({ w: { dtype: 'F4', shape: [3], data_offsets: [0, 2] } }, 2), /"w".*whole number of bytes/],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => readSafetensors(bytes), isFormat(re), what);
  }
  // The file name is part of the message when reading from disk.
  const dir = mkdtempSync(join(tmpdir(), 'kiln-st-'));
  try {
    const p = join(dir, 'bad.safetensors');
    writeFileSync(p, cases[16]![1]);
    assert.throws(() => openSafetensors(p), (e: unknown) => e instanceof KilnError && e.message.includes(p) && e.message.includes('"w"'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unsupported dtypes are listed but reading them is a clear E_DTYPE naming the tensor', () => {
  const bytes = mk({ d: { dtype: 'F64', shape: [1], data_offsets: [0, 8] }, w: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    __metadata__: null }, 12);
  const h = parseSafetensorsHeader(bytes);
  assert.equal(h.entries.get('d')!.stDtype, 'F64');
  assert.throws(() => readSafetensors(bytes), (e: unknown) => e instanceof KilnError && e.code === 'E_DTYPE' && /"d".*F64/.test(e.message));
  const dir = mkdtempSync(join(tmpdir(), 'kiln-st-'));
  try {
    const p = join(dir, 'f64.safetensors');
    writeFileSync(p, bytes);
    const f = openSafetensors(p);
    assert.deepEqual(f.names(), ['d', 'w']);
    assert.equal(f.read('w').data.length, 1);
    assert.throws(() => f.read('d'), (e: unknown) => e instanceof KilnError && e.code === 'E_DTYPE' && /"d"/.test(e.message));
    assert.throws(() => f.info('d'), (e: unknown) => e instanceof KilnError && e.code === 'E_DTYPE');
    f.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer rejects bad tensors before touching the disk', () => {
  const bad: [string, RawTensor, string][] = [
    ['length', { dtype: 'f32', shape: [3], data: new Float32Array(2) }, 'E_ARG'],
    ['class', { dtype: 'bf16', shape: [2], data: new Float32Array(2) }, 'E_ARG'],
    ['shape', { dtype: 'f32', shape: [-1], data: new Float32Array(0) }, 'E_SHAPE'],
    ['dtype', { dtype: 'f64' as DType, shape: [1], data: new Float32Array(1) }, 'E_DTYPE'],
  ];
  for (const [what, t, code] of bad) {
    assert.throws(() => serializeSafetensors({ t }), (e: unknown) => e instanceof KilnError && e.code === code, what);
  }
  assert.throws(() => serializeSafetensors({ __metadata__: tensor('u8', [1]) }), KilnError);
  const dir = mkdtempSync(join(tmpdir(), 'kiln-st-'));
  try {
    assert.throws(() => writeSafetensors(join(dir, 'x.safetensors'), { t: bad[0]![1] }), KilnError);
    assert.deepEqual(readdirSync(dir), []);
    assert.throws(() => writeSafetensors(join(dir, 'no', 'such', 'dir.safetensors'), { t: tensor('u8', [1]) }),
      (e: unknown) => e instanceof KilnError && e.code === 'E_IO');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
