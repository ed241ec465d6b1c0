/**
 * `kiln ernie prepare` through commander (registerErniePrepareCommands): a run on the WordNet excerpt fixture prints
 * the stats as JSON and writes the prepared files; a missing WordNet directory or a bad option fails with exit code 1
 * and a one-line message that names the problem.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerErniePrepareCommands } from '../../src/cli/ernie-prepare.js';
import { rmDir, tempDir } from './helpers.js';

const FIX = join(process.cwd(), 'test/datapipe/fixtures/wordnet');

async function kiln(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const program = new Command('kiln').exitOverride();
  registerErniePrepareCommands(program, program.command('train'));
  let out = '', err = '';
  const w1 = process.stdout.write.bind(process.stdout), w2 = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { code, out, err };
}

test('kiln ernie prepare on the excerpt: JSON stats, files written', async () => {
  const dir = tempDir('wncli');
  try {
    const corpus = join(dir, 'c.txt');
    writeFileSync(corpus, 'It was hot by day and cold by night. The hot sun; a cold wind.\n');
    const r = await kiln(['ernie', 'prepare', '--wordnet', FIX, '--corpus', corpus, '--out', join(dir, 'out'), '--cpus', '1', '--json']);
    assert.equal(r.code, 0, r.err);
    const stats = JSON.parse(r.out);
    // the default noun roots are not in the excerpt: the graph is hot, cold (their satellites are too rare) and the
    // attribute noun temperature
    assert.deepEqual(stats.entities_by_pos, { a: 2, n: 1 });
    assert.deepEqual(stats.triples_by_relation, { antonym: 1, attribute: 2 });
    assert.equal(stats.documents_by_source.text, 1);
    for (const f of ['entities.tsv', 'triples.tsv', 'relations.tsv', 'cloze.jsonl', 'cloze-seen.jsonl', 'documents.jsonl', 'vocab.txt', 'stats.json'])
      assert.ok(existsSync(join(dir, 'out', f)), f);
  } finally {
    rmDir(dir);
  }
});

test('kiln ernie prepare: a missing WordNet directory and a bad option fail with a message', async () => {
  const r = await kiln(['ernie', 'prepare', '--wordnet', '/nonexistent/wordnet', '--corpus', 'x.txt', '--out', '/tmp/never']);
  assert.equal(r.code, 1);
  assert.match(r.err, /^kiln ernie prepare: \/nonexistent\/wordnet\/data\.noun not found; install Debian's wordnet-base/);
  const c = await kiln(['ernie', 'prepare', '--wordnet', FIX, '--corpus', '/nonexistent/x.txt', '--out', '/tmp/never']);
  assert.equal(c.code, 1);
  assert.match(c.err, /corpus file \/nonexistent\/x\.txt does not exist/);
  const b = await kiln(['ernie', 'prepare', '--corpus', 'x.txt', '--out', '/tmp/never', '--test-fraction', '2']);
  assert.equal(b.code, 1);
  assert.match(b.err, /--test-fraction must be in \(0, 1\), got 2/);
});
