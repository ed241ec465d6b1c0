/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 header length
 * N, N bytes of UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`
 * (padded with spaces), then the tensor bytes, little-endian, row-major, offsets relative to the byte after the
 * header.
 *
 * Contract
 * - Tensor-agnostic: tensors are `RawTensor { dtype, shape, data }` with `data` the dtype's storage array
 *   (src/tensor/dtype.ts). Dtype strings F32 BF16 F16 F8_E4M3 F8_E5M2 I32 I64 U8 BOOL map to Kiln dtypes; the
 *   other dtypes the reference library knows (F64, I8, I16, U16, U32, U64, F8_E8M0, F4, F6_*, C64) are parsed
 *   and validated, listed by `names()`, and raise `KilnError('E_DTYPE')` naming the tensor when read.
 * - Parsing is bounds-checked like the reference reader: header length ≤ 100,000,000 bytes and ≤ file size, the
 *   header starts with '{', is valid UTF-8 and strict JSON (duplicate keys rejected), every entry well typed,
 *   byte count = product(shape) × dtype size, and the entries cover the data region exactly (contiguous, no
 *   overlap, no gap, ending at end of file). Any violation is `KilnError('E_FORMAT')` naming the file and
 *   tensor — never another error type, a hang, or an allocation larger than the input.
 * - `openSafetensors(path)` reads only the header and keeps the file descriptor; `read(name)` does one positioned
 *   read into a fresh aligned array (or into a caller's array, e.g. over a SharedArrayBuffer).
 * - Writing matches the reference writer (safetensors 0.8, Rust) byte for byte: tensors ordered by dtype (widest
 *   first, the reference's dtype order) then by name (UTF-8 byte order), so each tensor is aligned to its element
 *   size; compact JSON with `__metadata__` first; header padded with spaces to a multiple of 8. Metadata keys are
 *   written sorted (the reference writes them in hash order, so only single-key metadata can be byte-equal); an
 *   empty metadata object is omitted. `writeSafetensors` writes a temp file, fsyncs it, then renames it.
 * - Host byte order must be little-endian (every platform Node supports in practice); checked once.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { KilnError } from '../errors.js';
import { type DType, type StorageArray, DTYPES, DTYPE_BYTES, typedArray } from '../tensor/dtype.js';
import { type JsonValue, parseStrictJson, StrictJsonError } from './strict-json.js';

export type RawTensor = { dtype: DType; shape: number[]; data: StorageArray };

/** Where one tensor lives in a file; `byteOffset` is absolute (from the start of the file). */
export interface TensorInfo { dtype: DType; shape: number[]; byteOffset: number; byteLength: number }

/** One validated header entry; `begin`/`end` are relative to the data region, `dtype` null if Kiln lacks it. */
export interface HeaderEntry {
  name: string;
  stDtype: string;
  dtype: DType | null;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** Entries in header order. */
  entries: Map<string, HeaderEntry>;
  /** Byte offset of the data region (8 + N). */
  dataOffset: number;
  /** Byte length of the data region. */
  dataLength: number;
}

export const MAX_HEADER_BYTES = 100_000_000;

/** Every dtype the reference library knows: size in bits and the Kiln dtype (null: not supported by Kiln). */
const ST_DTYPES: Record<string, { bits: number; dtype: DType | null }> = {
  BOOL: { bits: 8, dtype: 'bool' }, U8: { bits: 8, dtype: 'u8' }, I8: { bits: 8, dtype: null },
  F8_E5M2: { bits: 8, dtype: 'f8e5m2' }, F8_E4M3: { bits: 8, dtype: 'f8e4m3' }, F8_E8M0: { bits: 8, dtype: null },
  I16: { bits: 16, dtype: null }, U16: { bits: 16, dtype: null }, F16: { bits: 16, dtype: 'f16' },
  BF16: { bits: 16, dtype: 'bf16' }, I32: { bits: 32, dtype: 'i32' }, U32: { bits: 32, dtype: null },
  F32: { bits: 32, dtype: 'f32' }, F64: { bits: 64, dtype: null }, I64: { bits: 64, dtype: 'i64' },
  U64: { bits: 64, dtype: null }, C64: { bits: 64, dtype: null }, F4: { bits: 4, dtype: null },
  F6_E2M3: { bits: 6, dtype: null }, F6_E3M2: { bits: 6, dtype: null },
};

const TO_ST: Record<DType, string> = {
  f32: 'F32', bf16: 'BF16', f16: 'F16', f8e4m3: 'F8_E4M3', f8e5m2: 'F8_E5M2', i32: 'I32', i64: 'I64', u8: 'U8', bool: 'BOOL',
};

/** The reference writer's dtype order (its Dtype enum), written widest-first. */
const WRITE_RANK: Record<DType, number> = { bool: 0, u8: 1, f8e5m2: 2, f8e4m3: 3, f16: 4, bf16: 5, i32: 6, f32: 7, i64: 8 };

let endianChecked = false;
function checkEndian(): void {
  if (endianChecked) return;
  if (endianness() !== 'LE') {
    throw new KilnError('E_NATIVE', 'safetensors I/O needs a little-endian host; this host is big-endian');
  }
  endianChecked = true;
}

const fmt = (source: string, msg: string): KilnError =>
  new KilnError('E_FORMAT', `${source}: ${msg}; the file is corrupt, truncated or not a safetensors file`);

/** Number of elements of `shape` (validated non-negative safe integers); null if it exceeds 2^53. */
function elementCount(shape: readonly number[]): number | null {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return null;
  }
  return n;
}

/** A non-negative integer literal (the reference reader takes `-0` as a float and rejects it too). */
function isDim(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && !Object.is(v, -0);
}

/** Reads the u64 header length from the first 8 bytes and checks it against the limits and the file size. */
function headerLength(prefix: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || prefix.length < 8) throw fmt(source, `only ${fileSize} bytes, too small for the 8-byte header length`);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (hi !== 0 || n > MAX_HEADER_BYTES) {
    throw fmt(source, `header length ${hi === 0 ? n : `${BigInt(hi) * 2n ** 32n + BigInt(lo)}`} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (8 + n > fileSize) throw fmt(source, `header length ${n} runs past the end of the ${fileSize}-byte file`);
  return n;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Validates the JSON header bytes (without the 8-byte prefix) of a file of `fileSize` bytes. */
function parseHeaderBytes(json: Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  const n = json.length;
  if (n === 0 || json[0] !== 0x7b) throw fmt(source, "the header does not start with '{'");
  let text: string;
  try {
    text = UTF8.decode(json);
  } catch {
    throw fmt(source, 'the header is not valid UTF-8');
  }
  let root: JsonValue;
  try {
    root = parseStrictJson(text);
  } catch (e) {
    if (e instanceof StrictJsonError) {
      const dup = /^duplicate key (".*") at/.exec(e.message);
      throw fmt(source, dup ? `duplicate tensor or metadata name ${dup[1]} in the header` : `invalid JSON header (${e.message})`);
    }
    throw e;
  }
  if (!(root instanceof Map)) throw fmt(source, 'the header is not a JSON object');

  let metadata: Record<string, string> = {};
  const entries = new Map<string, HeaderEntry>();
  for (const [name, v] of root) {
    if (name === '__metadata__') {
      if (v === null) continue;
      if (!(v instanceof Map)) throw fmt(source, '__metadata__ is not an object of strings');
      const kv: [string, string][] = [];
      for (const [k, s] of v) {
        if (typeof s !== 'string') throw fmt(source, `__metadata__ value for key ${JSON.stringify(k)} is not a string`);
        kv.push([k, s]);
      }
      metadata = Object.fromEntries(kv);
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (!(v instanceof Map)) throw fmt(source, `${where}: entry is not an object`);
    const dt = v.get('dtype');
    if (typeof dt !== 'string') throw fmt(source, `${where}: missing or non-string "dtype"`);
    const known = Object.hasOwn(ST_DTYPES, dt) ? ST_DTYPES[dt]! : undefined;
    if (!known) throw fmt(source, `${where}: unknown dtype ${JSON.stringify(dt)}`);
    const shape = v.get('shape');
    if (!Array.isArray(shape) || !shape.every(isDim)) {
      throw fmt(source, `${where}: "shape" must be an array of non-negative integers`);
    }
    const offs = v.get('data_offsets');
    if (!Array.isArray(offs) || offs.length !== 2 || !isDim(offs[0]) || !isDim(offs[1])) {
      throw fmt(source, `${where}: "data_offsets" must be [begin, end], non-negative integers`);
    }
    entries.set(name, { name, stDtype: dt, dtype: known.dtype, shape: shape as number[], begin: offs[0], end: offs[1] });
  }

  // Coverage: sorted by offsets, entries must tile [0, dataLength) exactly.
  const dataOffset = 8 + n;
  const dataLength = fileSize - dataOffset;
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    const where = `tensor ${JSON.stringify(e.name)}`;
    if (e.begin !== pos || e.end < e.begin) {
      throw fmt(source, `${where}: data_offsets [${e.begin}, ${e.end}] ${e.end < e.begin ? 'end before begin'
        : e.begin < pos ? `overlap the previous tensor (which ends at ${pos})` : `leave a gap after byte ${pos}`}`);
    }
    const count = elementCount(e.shape);
    if (count === null) throw fmt(source, `${where}: shape [${e.shape.join(', ')}] has more than 2^53 elements`);
    const bits = count * ST_DTYPES[e.stDtype]!.bits;
    if (bits % 8 !== 0) throw fmt(source, `${where}: ${count} × ${e.stDtype} is not a whole number of bytes`);
    if (e.end - e.begin !== bits / 8) {
      throw fmt(source, `${where}: data_offsets [${e.begin}, ${e.end}] hold ${e.end - e.begin} bytes but shape ` +
        `[${e.shape.join(', ')}] of ${e.stDtype} needs ${bits / 8}`);
    }
    if (e.end > dataLength) throw fmt(source, `${where}: data_offsets end ${e.end} is past the data region (${dataLength} bytes)`);
    pos = e.end;
  }
  if (pos !== dataLength) {
    throw fmt(source, `the tensors cover ${pos} bytes but the data region holds ${dataLength} (gap or trailing bytes)`);
  }
  return { metadata, entries, dataOffset, dataLength };
}

/**
 * Parses and validates the header of a safetensors file given its first bytes (`bytes` must hold at least the
 * 8 + N header bytes; pass `fileSize` when it is only a prefix). Returns metadata and entries.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, opts: { fileSize?: number; source?: string } = {}): SafetensorsHeader {
  const source = opts.source ?? '<bytes>';
  const fileSize = opts.fileSize ?? bytes.length;
  const n = headerLength(bytes, fileSize, source);
  if (bytes.length < 8 + n) throw fmt(source, `only ${bytes.length} bytes given but the header needs ${8 + n}`);
  return parseHeaderBytes(bytes.subarray(8, 8 + n), fileSize, source);
}

function entryToKiln(e: HeaderEntry, source: string): DType {
  if (e.dtype === null) {
    throw new KilnError('E_DTYPE', `${source}: tensor ${JSON.stringify(e.name)} has unsupported dtype ${e.stDtype}; ` +
      `Kiln stores ${Object.values(TO_ST).join(', ')} — convert it (e.g. to F32) before loading`);
  }
  return e.dtype;
}

function expectStorage(dtype: DType, a: StorageArray, n: number, what: string): void {
  const probe = typedArray(dtype, new ArrayBuffer(0), 0, 0);
  if (a.constructor !== probe.constructor) {
    throw new KilnError('E_ARG', `${what}: dtype ${dtype} needs a ${probe.constructor.name}, got a ${a.constructor.name}`);
  }
  if (a.length !== n) throw new KilnError('E_ARG', `${what}: expected ${n} elements, got ${a.length}`);
}

const sameBytes = (a: StorageArray): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function ioError(path: string, what: string, cause: unknown): KilnError {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new KilnError('E_IO', `${path}: ${what} failed: ${msg}`, { cause });
}

/** Reads exactly `into.length` bytes at `position`, in chunks (readSync takes at most 2 GiB at a time). */
function readFully(fd: number, into: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < into.length) {
    const chunk = Math.min(into.length - done, 1 << 30);
    let r: number;
    try {
      r = readSync(fd, into, done, chunk, position + done);
    } catch (e) {
      throw ioError(path, 'read', e);
    }
    if (r === 0) throw new KilnError('E_IO', `${path}: unexpected end of file at byte ${position + done} (was it truncated after opening?)`);
    done += r;
  }
}

export interface ReadOptions {
  /** Read into this array (the dtype's typed array, any buffer incl. SharedArrayBuffer) instead of a fresh one. */
  into?: StorageArray;
  /** Allocate the fresh array over a SharedArrayBuffer (for worker threads). */
  shared?: boolean;
}

/** A safetensors file opened lazily: the header is parsed, tensors are read one at a time on demand. */
export class SafetensorsFile {
  private fd: number | null;

  constructor(readonly path: string, fd: number, readonly header: SafetensorsHeader) {
    this.fd = fd;
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  /** Tensor names, sorted. */
  names(): string[] {
    return [...this.header.entries.keys()].sort();
  }

  has(name: string): boolean {
    return this.header.entries.has(name);
  }

  private entry(name: string): HeaderEntry {
    const e = this.header.entries.get(name);
    if (!e) throw new KilnError('E_CHECKPOINT', `${this.path}: no tensor named ${JSON.stringify(name)} (the file holds ${this.header.entries.size})`);
    return e;
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: entryToKiln(e, this.path), shape: [...e.shape], byteOffset: this.header.dataOffset + e.begin, byteLength: e.end - e.begin };
  }

  read(name: string, opts: ReadOptions = {}): RawTensor {
    if (this.fd === null) throw new KilnError('E_IO', `${this.path}: read(${JSON.stringify(name)}) after close()`);
    const e = this.entry(name);
    const dtype = entryToKiln(e, this.path);
    const count = (e.end - e.begin) / DTYPE_BYTES[dtype];
    let data: StorageArray;
    if (opts.into) {
      expectStorage(dtype, opts.into, count, `${this.path}: read(${JSON.stringify(name)}) into`);
      data = opts.into;
    } else {
      const bytes = e.end - e.begin;
      data = typedArray(dtype, opts.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes), 0, count);
    }
    readFully(this.fd, sameBytes(data), this.header.dataOffset + e.begin, this.path);
    return { dtype, shape: [...e.shape], data };
  }

  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

/** Opens `path` and parses its header only; call `.close()` when done. */
export function openSafetensors(path: string): SafetensorsFile {
  checkEndian();
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw ioError(path, 'open', e);
  }
  try {
    const size = fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    if (size >= 8) readFully(fd, prefix, 0, path);
    const n = headerLength(prefix, size, path);
    const json = new Uint8Array(n);
    readFully(fd, json, 8, path);
    return new SafetensorsFile(path, fd, parseHeaderBytes(json, size, path));
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Reads every tensor of a file (path or its bytes) eagerly into fresh aligned arrays. */
export function readSafetensors(input: string | Uint8Array): { metadata: Record<string, string>; tensors: Map<string, RawTensor> } {
  checkEndian();
  if (typeof input === 'string') {
    const f = openSafetensors(input);
    try {
      const tensors = new Map<string, RawTensor>();
      for (const name of f.header.entries.keys()) tensors.set(name, f.read(name));
      return { metadata: f.metadata, tensors };
    } finally {
      f.close();
    }
  }
  const h = parseSafetensorsHeader(input);
  const tensors = new Map<string, RawTensor>();
  for (const e of h.entries.values()) {
    const dtype = entryToKiln(e, '<bytes>');
    const bytes = new Uint8Array(e.end - e.begin);
    bytes.set(input.subarray(h.dataOffset + e.begin, h.dataOffset + e.end));
    tensors.set(e.name, { dtype, shape: [...e.shape], data: typedArray(dtype, bytes.buffer, 0, bytes.length / DTYPE_BYTES[e.dtype!]) });
  }
  return { metadata: h.metadata, tensors };
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

export type TensorsIn = Record<string, RawTensor> | Map<string, RawTensor>;

interface Layout { header: Uint8Array; order: [string, RawTensor][]; dataLength: number }

/** Byte-exact layout of the reference writer: the 8-byte length, the padded header, and the tensor order. */
function layout(tensors: TensorsIn, metadata: Record<string, string> | undefined): Layout {
  const list: [string, RawTensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of list) {
    const where = `writeSafetensors: tensor ${JSON.stringify(name)}`;
    if (name === '__metadata__') throw new KilnError('E_ARG', `${where}: the name is reserved for the metadata`);
    if (!t || !DTYPES.includes(t.dtype)) throw new KilnError('E_DTYPE', `${where}: unknown dtype ${String(t?.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every(isDim)) {
      throw new KilnError('E_SHAPE', `${where}: shape must be an array of non-negative integers, got ${JSON.stringify(t.shape)}`);
    }
    if (!ArrayBuffer.isView(t.data)) throw new KilnError('E_ARG', `${where}: data is not a typed array`);
    expectStorage(t.dtype, t.data, elementCount(t.shape) ?? -1, `${where} [${t.shape.join(', ')}]`);
  }
  const keys = new Map(list.map(([n]) => [n, Buffer.from(n, 'utf8')]));
  list.sort(([a, ta], [b, tb]) => WRITE_RANK[tb.dtype] - WRITE_RANK[ta.dtype] || Buffer.compare(keys.get(a)!, keys.get(b)!));

  const parts: string[] = [];
  const md = metadata ? Object.entries(metadata) : [];
  if (md.length > 0) {
    md.sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    for (const [k, v] of md) {
      if (typeof v !== 'string') throw new KilnError('E_ARG', `writeSafetensors: metadata value for ${JSON.stringify(k)} must be a string`);
    }
    parts.push(`"__metadata__":{${md.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  let off = 0;
  for (const [name, t] of list) {
    const end = off + t.data.byteLength;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${TO_ST[t.dtype]}","shape":[${t.shape.join(',')}],"data_offsets":[${off},${end}]}`);
    off = end;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new KilnError('E_ARG', `writeSafetensors: header of ${padded} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit readers enforce`);
  const header = new Uint8Array(8 + padded).fill(0x20);
  new DataView(header.buffer).setUint32(0, padded, true);
  header.fill(0, 4, 8);
  header.set(json, 8);
  return { header, order: list, dataLength: off };
}

/** The bytes of a safetensors file holding `tensors` (see the file header for the exact layout). */
export function serializeSafetensors(tensors: TensorsIn, metadata?: Record<string, string>): Uint8Array {
  checkEndian();
  const { header, order, dataLength } = layout(tensors, metadata);
  const out = new Uint8Array(header.length + dataLength);
  out.set(header, 0);
  let off = header.length;
  for (const [, t] of order) {
    out.set(sameBytes(t.data), off);
    off += t.data.byteLength;
  }
  return out;
}

let tmpCounter = 0;

/** Writes `tensors` to `path` atomically (temp file in the same directory, fsync, rename). */
export function writeSafetensors(path: string, tensors: TensorsIn, metadata?: Record<string, string>): void {
  checkEndian();
  const { header, order } = layout(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    const writeAll = (bytes: Uint8Array): void => {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd!, bytes, done, Math.min(bytes.length - done, 1 << 30));
    };
    writeAll(header);
    for (const [, t] of order) writeAll(sameBytes(t.data));
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e instanceof KilnError ? e : ioError(path, 'write', e);
  }
}
