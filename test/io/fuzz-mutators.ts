/**
 * Mutators for the safetensors fuzz test (test/io/safetensors-fuzz.test.ts): a seeded PRNG, the base files, and
 * mutations (bit flips, truncation, header-length corruption, JSON text edits, structured header edits, appended
 * bytes, extreme numbers). Not a test file itself; also usable from a script to cross-check other readers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serializeSafetensors } from '../../src/io/safetensors.js';

/** mulberry32: a small deterministic PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function baseFiles(): Uint8Array[] {
  const fixture = fileURLToPath(new URL('../../../test/fixtures/safetensors/python-all-dtypes.safetensors', import.meta.url));
  const small = serializeSafetensors({
    'layer.0.w': { dtype: 'f32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    'layer.0.b': { dtype: 'bf16', shape: [3], data: new Uint16Array([0x3f80, 0x4000, 0xbf80]) },
    idx: { dtype: 'i64', shape: [], data: new BigInt64Array([7n]) },
    mask: { dtype: 'bool', shape: [0], data: new Uint8Array(0) },
    q: { dtype: 'f8e4m3', shape: [4], data: new Uint8Array([1, 2, 0x7e, 0xfe]) },
  }, { format: 'pt' });
  return [new Uint8Array(readFileSync(fixture)), small];
}

const DTYPE_WORDS = ['F32', 'BF16', 'F16', 'F8_E4M3', 'F8_E5M2', 'I32', 'I64', 'U8', 'BOOL', 'F64', 'I8', 'F4', 'F6_E2M3', 'X', '', 'f32'];
const JSON_CHARS = '{}[]",:0123456789-.eE \\ntfu\u00e9\u0000';

export function headerOf(bytes: Uint8Array): { n: number; text: string } | null {
  if (bytes.length < 8) return null;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > bytes.length - 8) return null;
  return { n, text: Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8') };
}

/** Rebuilds a file from new header text and the old data region, with a correct length prefix. */
function withHeader(bytes: Uint8Array, text: string): Uint8Array {
  const h = headerOf(bytes)!;
  const json = Buffer.from(text, 'utf8');
  const data = bytes.subarray(8 + h.n);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function randomDim(r: () => number): unknown {
  return pick(r, [0, 1, 2, 3, 7, -1, 2 ** 31, 2 ** 53, 2 ** 64, 1e300, 1.5, '2', null, [2], 4294967296 * 3]);
}

function structuredEdit(r: () => number, bytes: Uint8Array): Uint8Array {
  const h = headerOf(bytes)!;
  let obj: Record<string, Record<string, unknown>>;
  try {
    obj = JSON.parse(h.text) as Record<string, Record<string, unknown>>;
  } catch {
    return bytes; // an earlier mutation already broke the JSON
  }
  const names = Object.keys(obj).filter((k) => k !== '__metadata__' && obj[k] && typeof obj[k] === 'object');
  if (names.length === 0) return bytes;
  const name = pick(r, names);
  const e = obj[name]!;
  const kind = Math.floor(r() * 12);
  let text: string | null = null;
  switch (kind) {
    case 0: e.dtype = pick(r, DTYPE_WORDS); break;
    case 1: e.shape = [randomDim(r), randomDim(r)]; break;
    case 2: (e.shape as unknown[]).push(randomDim(r)); break;
    case 3: { const o = e.data_offsets as number[]; e.data_offsets = [o[0]! + Math.floor(r() * 9) - 4, o[1]!]; break; } // overlap/gap
    case 4: { const o = e.data_offsets as number[]; e.data_offsets = [o[1], o[0]]; break; }
    case 5: e.data_offsets = pick(r, [[0], [0, 1, 2], '0,4', [-4, 0], [0, 2 ** 60], [1.5, 4], null]); break;
    case 6: delete e[pick(r, ['dtype', 'shape', 'data_offsets'])]; break;
    case 7: obj.__metadata__ = pick(r, [{ a: 1 }, 'str', [1], { a: null }, null, { b: 'x' }]) as Record<string, unknown>; break;
    case 8: { // duplicate a name textually
      const dup = `${JSON.stringify(name)}:${JSON.stringify(e)}`;
      text = JSON.stringify(obj).replace(/^\{/, `{${dup},`);
      break;
    }
    case 9: { // another tensor claims the same bytes
      obj[`${name}.copy`] = { ...e };
      break;
    }
    case 10: e.shape = [2 ** 26, 2 ** 26, 2 ** 26]; break; // huge element count
    default: obj[name] = pick(r, [3, 'x', [], null, {}]) as Record<string, unknown>;
  }
  return withHeader(bytes, text ?? JSON.stringify(obj));
}

export function mutate(r: () => number, base: Uint8Array): Uint8Array {
  const kind = Math.floor(r() * 7);
  const b = new Uint8Array(base);
  const h = headerOf(base)!;
  switch (kind) {
    case 0: { // bit flips, mostly in the header
      const flips = 1 + Math.floor(r() * 6);
      for (let k = 0; k < flips; k++) {
        const at = r() < 0.8 ? Math.floor(r() * (8 + h.n)) : Math.floor(r() * b.length);
        b[at]! ^= 1 << Math.floor(r() * 8);
      }
      return b;
    }
    case 1: return b.subarray(0, Math.floor(r() * b.length)); // truncation
    case 2: { // header-length corruption
      const dv = new DataView(b.buffer);
      const v = pick(r, [0n, 1n, 7n, BigInt(h.n - 1), BigInt(h.n + 1), BigInt(h.n + 8), BigInt(b.length), 100_000_001n,
        2n ** 32n + BigInt(h.n), 2n ** 63n, 2n ** 64n - 1n, BigInt(Math.floor(r() * 2 ** 40))]);
      dv.setBigUint64(0, v, true);
      return b;
    }
    case 3: { // random JSON text edits (replace / insert / delete characters)
      let t = h.text;
      const edits = 1 + Math.floor(r() * 4);
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(r() * t.length);
        const op = Math.floor(r() * 3);
        const c = pick(r, [...JSON_CHARS]);
        t = op === 0 ? t.slice(0, at) + c + t.slice(at + 1) : op === 1 ? t.slice(0, at) + c + t.slice(at) : t.slice(0, at) + t.slice(at + 1);
      }
      return withHeader(b, t);
    }
    case 4: return structuredEdit(r, b);
    case 5: { // appended or removed data bytes
      if (r() < 0.5) { const out = new Uint8Array(b.length + 1 + Math.floor(r() * 16)); out.set(b); return out; }
      return withHeader(b, `${h.text}${' '.repeat(Math.floor(r() * 9))}`);
    }
    default: { // numbers in the header text swapped for extreme ones
      const t = h.text.replace(/\d+/g, (m) => (r() < 0.15 ? pick(r, ['0', '18446744073709551615', '9007199254740993', '1e3', '-0', m + m]) : m));
      return withHeader(b, t);
    }
  }
}

