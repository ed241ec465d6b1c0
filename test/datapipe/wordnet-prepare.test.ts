/**
 * The ERNIE knowledge-corpus preparation as a datapipe: the shipped spec (data/ernie/prepare.yaml) compiles against
 * the built-in operators; the pipeline runs end to end on the WordNet excerpt fixture and a small corpus and writes
 * files whose spans, triples and splits are consistent; and — when Debian's wordnet-base is installed — the shipped
 * data/ernie/ is reproduced from /usr/share/wordnet (the whole graph, and the documents of a slice of the corpus;
 * the full run's byte-identity is what `kiln ernie prepare` and `kiln datapipe run data/ernie/prepare.yaml` show).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinRegistry } from '../../src/datapipe/builtin-operators.js';
import { compileGraph } from '../../src/datapipe/graph.js';
import { loadSpec } from '../../src/datapipe/spec.js';
import { knowledgeGraphFor, linkSentences } from '../../src/datapipe/text/entity-link-operators.js';
import { splitSentences, wordTokens } from '../../src/datapipe/text/entity-link.js';
import { assembleKnowledgeCorpus, type LinkedDocument } from '../../src/datapipe/text/wordnet-corpus.js';
import { prepareKnowledgeCorpus } from '../../src/datapipe/text/wordnet-prepare.js';
import { KG_DEFAULTS } from '../../src/datapipe/text/wordnet-kg.js';
import { rmDir, tempDir } from './helpers.js';

const ROOT = process.cwd();
const FIX = join(ROOT, 'test/datapipe/fixtures/wordnet');
const SYSTEM_WN = '/usr/share/wordnet';
const ANIMAL = '00001740-n'; // "animal" in the renumbered excerpt

const readLines = (p: string) => readFileSync(p, 'utf8').split('\n').filter(Boolean);

test('the shipped spec compiles: operators, types and params are valid', () => {
  const g = compileGraph(loadSpec(join(ROOT, 'data/ernie/prepare.yaml')), builtinRegistry(), { input: 'x', ffmpeg: '', ffprobe: '' });
  assert.deepEqual(g.stages.map((s) => s.def.name).sort(),
    ['knowledge-corpus', 'link-entities', 'split-sentences', 'split-sentences', 'text-files', 'wordnet-glosses']);
});

test('end to end on the excerpt: linked sentences, triples per sentence, disjoint splits, cloze, vocabulary', async () => {
  const dir = tempDir('wnprep');
  try {
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'Dogs are domestic animals. The wolves and a fox ran; a cat slept.\nA dog wags its flag: the flag is the tail of a dog. Hot days, cold nights.\n');
    const out = join(dir, 'out');
    const { stats } = await prepareKnowledgeCorpus({ wordnet: FIX, corpus: [corpus], out, cpus: 1, testFraction: 0.2, vocabSize: 100,
      corpusDocSentences: 3, kg: { roots: [ANIMAL], minTagCount: 0, minAdjTagCount: 0, minVerbTagCount: 0 } });
    const entities = new Set(readLines(join(out, 'entities.tsv')).map((l) => l.split('\t')[0]));
    const triples = readLines(join(out, 'triples.tsv')).map((l) => l.split('\t'));
    const docs = readLines(join(out, 'documents.jsonl')).map((l) => JSON.parse(l));
    const text = docs.filter((d) => d.source === 'text');
    const wordnet = docs.filter((d) => d.source === 'wordnet');
    assert.ok(wordnet.length > 0);
    // corpus docs of ≤ 3 sentences, kept only when one sentence expresses a train triple
    assert.ok(text.every((d) => d.sentences.length <= 3 && d.sentences.some((s: { k: number[] }) => s.k.length > 0)));
    const all = docs.flatMap((d) => d.sentences);
    const first = all.find((s) => s.t.startsWith('dog ##s are'));
    assert.ok(first, 'the first corpus sentence is kept');
    assert.equal(first.t, 'dog ##s are domestic animal ##s .');
    assert.deepEqual(first.e, [[0, 1], [3, 5]]);
    let withTriple = 0;
    for (const s of all) {
      const toks = s.t.split(' ');
      const spans = s.e.map(([a, b]: [number, number]) => toks.slice(a, b).join(' '));
      for (const x of spans) assert.ok(entities.has(x), `entity span "${x}"`);
      for (const k of s.k) {
        const [h, , t, split] = triples[k];
        assert.equal(split, 'train');
        assert.ok(spans.includes(h) && spans.includes(t), `${s.t} expresses ${triples[k].join(' ')}`);
        withTriple++;
      }
    }
    assert.equal(stats.triple_sentences, all.filter((s) => s.k.length > 0).length);
    assert.ok(withTriple > 0);
    const rel = readLines(join(out, 'relations.tsv')).map((l) => l.split('\t'));
    const key = (r: string[]) => [r[0], r[1]].sort().join('|');
    const testPairs = new Set(rel.filter((r) => r[3] === 'test').map(key));
    assert.ok(rel.filter((r) => r[3] === 'train').every((r) => !testPairs.has(key(r))));
    const vocab = readLines(join(out, 'vocab.txt'));
    assert.deepEqual(vocab.slice(0, 5), ['[PAD]', '[CLS]', '[SEP]', '[MASK]', '[UNK]']);
    for (const e of entities) for (const w of e.split(' ')) assert.ok(vocab.includes(w), w);
    assert.ok(vocab.length <= 100 || vocab.length === stats.vocab_required);
  } finally {
    rmDir(dir);
  }
});

test('reproduces the shipped data/ernie from /usr/share/wordnet (whole graph; documents of a corpus slice)', { timeout: 240_000 }, (t) => {
  if (!existsSync(join(SYSTEM_WN, 'data.noun'))) {
    t.skip(`Debian wordnet-base is not installed (${SYSTEM_WN}/data.noun missing): apt-get install -y wordnet-base (CI does)`);
    return;
  }
  const shipped = join(ROOT, 'data/ernie');
  const { kg, linker } = knowledgeGraphFor({ wordnet: SYSTEM_WN });
  assert.equal(kg.entities.map((e) => `${e.lemma}\t${e.synset}\t${e.pos}\n`).join(''), readFileSync(join(shipped, 'entities.tsv'), 'utf8'));
  // a slice: every 25th gloss document, and the shipped KJV documents re-split from the excerpt
  const slice = kg.glossDocuments.filter((_, i) => i % 25 === 0);
  const docs: LinkedDocument[] = slice.map((d) => ({ id: `${d.id}-s000000`, source: 'wordnet',
    sentences: linkSentences(linker, splitSentences(d.sentences.join('\n'))) }));
  const c = assembleKnowledgeCorpus(kg, docs);
  // the graph-only files are equal in full
  assert.equal(c.triples.map((x) => `${x.head}\t${x.relation}\t${x.tail}\t${x.split}\n`).join(''), readFileSync(join(shipped, 'triples.tsv'), 'utf8'));
  assert.equal(c.relations.map((r) => `${r.head}\t${r.tail}\t${r.relation}\t${r.split}\n`).join(''), readFileSync(join(shipped, 'relations.tsv'), 'utf8'));
  // cloze items: the same heads, contexts, answers and answer positions (distractors depend on the whole corpus' counts)
  const item = (x: { context: string[]; candidates: string[][]; answer: number }) => JSON.stringify([x.context, x.candidates[x.answer], x.answer]);
  assert.deepEqual(c.cloze.map(item), readLines(join(shipped, 'cloze.jsonl')).map((l) => item(JSON.parse(l))));
  // the slice's documents equal the shipped ones with the same ids
  const byId = new Map(readLines(join(shipped, 'documents.jsonl')).map((l) => [JSON.parse(l).id as string, l]));
  assert.equal(c.documents.length, slice.length);
  for (const d of c.documents) assert.equal(JSON.stringify(d), byId.get(d.id), d.id);
  // the corpus text is split the way the shipped documents were (KJV: ; and : split too)
  const kjv = readFileSync(join(ROOT, 'data/kjv/kjv-excerpt.txt'), 'utf8');
  const firstKjv = [...byId.values()].map((l) => JSON.parse(l)).find((d) => d.source === 'text');
  const n = Number(firstKjv.id.split('-s').at(-1));
  const sentences = splitSentences(kjv, ';:').filter((s) => wordTokens(s).filter((w) => /[a-z0-9]/.test(w)).length >= 3).slice(n, n + 12);
  assert.deepEqual(firstKjv.sentences.map((s: { t: string }) => s.t), sentences.map((s) => linker.link(wordTokens(s)).tokens.join(' ')));
  assert.equal(KG_DEFAULTS.maxNounSynsets, 2500);
});
