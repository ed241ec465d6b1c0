/**
 * Seeded fuzz test for the safetensors reader: thousands of mutated files (bit flips, truncations, header-length
 * corruption, random JSON text edits, structured header edits with huge dims / overlapping offsets / duplicate
 * names / wrong types, appended bytes). Each must either parse consistently (every tensor's bytes are exactly its
 * region of the input, sized by its shape, and re-serializing gives the same tensors) or throw KilnError — never
 * another error type, never a hang. Some cases go through a real file and the lazy reader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RawTensor, openSafetensors, parseSafetensorsHeader, readSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import { DTYPE_BYTES } from '../../src/tensor/dtype.js';
import { baseFiles, headerOf, mutate, rng } from './fuzz-mutators.js';
import { KilnError } from '../../src/errors.js';

function checkConsistent(bytes: Uint8Array, parsed: { tensors: Map<string, RawTensor> }): void {
  const h = parseSafetensorsHeader(bytes);
  let covered = 0;
  for (const [name, t] of parsed.tensors) {
    const e = h.entries.get(name)!;
    const n = t.shape.reduce((a, d) => a * d, 1);
    assert.equal(t.data.length, n, name);
    assert.equal(t.data.byteLength, n * DTYPE_BYTES[t.dtype], name);
    assert.deepEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      bytes.subarray(h.dataOffset + e.begin, h.dataOffset + e.end), name);
    covered += t.data.byteLength;
  }
  assert.equal(covered, h.dataLength);
  const again = readSafetensors(serializeSafetensors(parsed.tensors));
  assert.equal(again.tensors.size, parsed.tensors.size);
}

test('fuzz: 4,000 mutated files parse consistently or throw KilnError', () => {
  const t0 = performance.now();
  const bases = baseFiles();
  const r = rng(0x5afe7e75);
  const dir = mkdtempSync(join(tmpdir(), 'kiln-fuzz-'));
  const counts = { ok: 0, kiln: 0 };
  const codes = new Map<string, number>();
  try {
    for (let i = 0; i < 4000; i++) {
      const base = bases[i % bases.length]!;
      let bytes = mutate(r, base);
      if (r() < 0.2) bytes = mutate(r, bytes.length >= 8 && headerOf(bytes) ? bytes : base); // some double mutations
      const viaFile = i % 25 === 0;
      try {
        if (viaFile) {
          const p = join(dir, `case-${i}.safetensors`);
          writeFileSync(p, bytes);
          const f = openSafetensors(p);
          try {
            const tensors = new Map<string, RawTensor>();
            for (const n of f.names()) tensors.set(n, f.read(n));
            checkConsistent(bytes, { tensors });
          } finally {
            f.close();
          }
        } else {
          checkConsistent(bytes, readSafetensors(bytes));
        }
        counts.ok++;
      } catch (e) {
        if (!(e instanceof KilnError)) {
          assert.fail(`case ${i}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n` +
            `header: ${Buffer.from(bytes.subarray(0, Math.min(bytes.length, 400))).toString('latin1')}`);
        }
        counts.kiln++;
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ms = performance.now() - t0;
  // Both outcomes must be exercised, and the run must be fast.
  assert.ok(counts.ok > 100, `only ${counts.ok} mutated files parsed`);
  assert.ok(counts.kiln > 3000, `only ${counts.kiln} rejected`);
  assert.ok(ms < 20_000, `fuzz took ${ms.toFixed(0)} ms`);
  console.log(`fuzz: ${counts.ok} parsed, ${counts.kiln} rejected (${[...codes].map(([c, n]) => `${c}=${n}`).join(' ')}) in ${ms.toFixed(0)} ms`);
});
