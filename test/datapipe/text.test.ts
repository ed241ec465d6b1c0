// Text operators: normalisation, length filter, exact and MinHash-LSH near-dedup, byte-level token shards that
// decode back to the kept documents; the example text spec end to end (no binaries needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinRegistry } from '../../src/datapipe/builtin-operators.js';
import { compileGraph } from '../../src/datapipe/graph.js';
import { runLocal } from '../../src/datapipe/local-executor.js';
import { loadSpec } from '../../src/datapipe/spec.js';
import { estimatedJaccard, MinHasher, shingles } from '../../src/datapipe/text/minhash.js';
import { normalizeText } from '../../src/datapipe/text/text-operators.js';
import { rmDir, tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WORDS = 'data model token video frame clip shard graph stage worker queue stream river mountain cloud ' +
  'signal engine kernel tensor matrix vector batch epoch layer weight bias gradient';
function para(seed: number, n = 80): string {
  const w = WORDS.split(' ');
  let x = seed;
  return Array.from({ length: n }, () => ((x = (x * 1103515245 + 12345) % 2147483648), w[x % w.length])).join(' ');
}

test('normalizeText: NFKC, control characters, whitespace', () => {
  assert.equal(normalizeText('  ﬁne\u0007  text\n\nhere ', false), 'fine text here');
  assert.equal(normalizeText('ＡＢＣ Déjà', true), 'abc déjà');
});

test('MinHash estimates Jaccard similarity', () => {
  const a = para(1, 300);
  const words = a.split(' ');
  const b = words.map((w, i) => (i % 20 === 0 ? 'zzz' : w)).join(' '); // ~5% of words changed
  const mh = new MinHasher({ numPerm: 256, bands: 32, ngram: 3, seed: 7 });
  const sa = shingles(a, 3), sb = shingles(b, 3);
  const exact = [...sa].filter((x) => sb.has(x)).length / new Set([...sa, ...sb]).size;
  const est = estimatedJaccard(mh.signature(a), mh.signature(b));
  assert.ok(Math.abs(est - exact) < 0.1, `estimate ${est} vs exact ${exact}`);
  assert.ok(estimatedJaccard(mh.signature(a), mh.signature(para(99, 300))) < 0.2);
});

test('text pipeline: dedup, near-dedup, length filter, poison line, token shards round-trip', async () => {
  const input = tempDir('txt');
  const out = tempDir('txtout');
  try {
    const A = para(1), B = para(2), C = para(3);
    const nearA = A.split(' ').map((w, i) => (i === 40 ? 'different' : w)).join(' ');
    writeFileSync(join(input, 'docs.jsonl'), [A, `  ${A.replace(/ /g, '   ')}\t`, nearA, 'hi', B]
      .map((t) => JSON.stringify({ text: t })).join('\n') + '\nnot json\n');
    writeFileSync(join(input, 'note.txt'), C);
    const spec = loadSpec(join(ROOT, 'examples/datapipe/text.yaml'));
    const r = await runLocal(compileGraph(spec, builtinRegistry(), { input, ffmpeg: '', ffprobe: '' }), { outDir: out });
    const man = readFileSync(join(out, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const byId = new Map(man.map((m) => [m.id, m]));
    assert.equal(byId.get('docs-l0000001').dropped, 'exact: exact duplicate of docs-l0000000');
    assert.match(byId.get('docs-l0000002').dropped, /^near: near-duplicate of docs-l0000000 \(jaccard ~0\.\d+\)$/);
    assert.match(byId.get('docs-l0000003').dropped, /^length: length 2 < min_chars 20$/);
    const kept = man.filter((m) => !m.dropped);
    assert.deepEqual(kept.map((m) => m.id), ['docs-l0000000', 'docs-l0000004', 'note']);
    assert.equal(r.summary.errors, 1);
    assert.match(readFileSync(join(out, 'errors.jsonl'), 'utf8'), /docs-l0000005.*no \\"text\\" field/);
    // Token shards decode to the kept texts joined by EOS (256), in id order.
    const tm = JSON.parse(readFileSync(join(out, 'tokens/tokens-manifest.json'), 'utf8'));
    assert.equal(tm.dtype, 'uint16');
    const all: number[] = [];
    for (const s of tm.shards) {
      const b = readFileSync(join(out, 'tokens', s.name));
      const u = new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
      assert.ok(s === tm.shards.at(-1) || u.length === 4096);
      all.push(...u);
    }
    const expected = [A, B, C].flatMap((t) => [...Buffer.from(t), 256]);
    assert.deepEqual(all, expected);
    assert.deepEqual(kept.map((m) => m.token_offset), [0, kept[0].tokens, kept[0].tokens + kept[1].tokens]);
    assert.equal(kept[0].tokens, Buffer.byteLength(A) + 1);
  } finally {
    rmDir(input);
    rmDir(out);
  }
});
