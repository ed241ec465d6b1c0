/**
 * Slow (KILN_SLOW_TESTS=1): the full preparation (`prepareKnowledgeCorpus`, what `kiln ernie prepare` runs) from
 * /usr/share/wordnet and the KJV excerpt reproduces every shipped file of data/ernie/ byte for byte (~30–60 s).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareKnowledgeCorpus } from '../../../src/datapipe/text/wordnet-prepare.js';
import { rmDir, tempDir } from '../../datapipe/helpers.js';

test('full preparation reproduces data/ernie byte for byte', { timeout: 600_000 }, async (t) => {
  if (!existsSync('/usr/share/wordnet/data.noun')) {
    t.skip('Debian wordnet-base is not installed: apt-get install -y wordnet-base (CI does)');
    return;
  }
  const ROOT = process.cwd();
  const out = tempDir('wnfull');
  try {
    await prepareKnowledgeCorpus({ wordnet: '/usr/share/wordnet', corpus: [join(ROOT, 'data/kjv/kjv-excerpt.txt')], out });
    for (const f of ['entities.tsv', 'triples.tsv', 'relations.tsv', 'cloze.jsonl', 'cloze-seen.jsonl', 'documents.jsonl', 'vocab.txt', 'stats.json'])
      assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(ROOT, 'data/ernie', f))), `${f} differs from the shipped one`);
  } finally {
    rmDir(out);
  }
});
