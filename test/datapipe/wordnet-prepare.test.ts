/**
 * The ERNIE knowledge-corpus preparation as a datapipe: the shipped spec (data/ernie/prepare.yaml) compiles against
 * the built-in operators; the pipeline runs end to end on the WordNet excerpt fixture and a small corpus and writes
 * files whose spans, triples and splits are consistent; and — when Debian's wordnet-base is installed — the shipped
 * data/ernie/ is reproduced from /usr/share/wordnet (the whole graph, and the documents of a slice of the corpus;
 * the full run's byte-identity is what `kiln ernie prepare` and `kiln datapipe run data/ernie/prepare.yaml` show).
 * The shipped "seen" cloze (cloze-seen.jsonl) is checked against triples.tsv: train noun hypernym pairs only, never a
 * held-out pair, true hypernyms as answers, no ancestor among the distractors, chosen by the pair hash.
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
import { assembleKnowledgeCorpus, pairKey, unitHash, type ClozeRecord, type LinkedDocument } from '../../src/datapipe/text/wordnet-corpus.js';
import { prepareKnowledgeCorpus } from '../../src/datapipe/text/wordnet-prepare.js';
import { KG_DEFAULTS } from '../../src/datapipe/text/wordnet-kg.js';
import { rmDir, tempDir } from './helpers.js';

const ROOT = process.cwd();
const FIX = join(ROOT, 'test/datapipe/fixtures/wordnet');
const SYSTEM_WN = '/usr/share/wordnet';
const ANIMAL = '00001740-n'; // "animal" in the renumbered excerpt

const readLines = (p: string) => readFileSync(p, 'utf8').split('\n').filter(Boolean);

/**
 * Checks seen-cloze items against a prepared directory's triples.tsv and entities.tsv: each is "<head> is" over 4
 * "<a|an> <lemma>" candidates whose answer is a TRAIN hypernym of a noun head, whose pair is never held out (in any
 * relation), and whose distractors are hypernym lemmas that are not ancestors of the head. Returns the pairs.
 */
function checkSeenCloze(dir: string, items: ClozeRecord[]): { head: string; tail: string }[] {
  const triples = readLines(join(dir, 'triples.tsv')).map((l) => l.split('\t'));
  const pos = new Map(readLines(join(dir, 'entities.tsv')).map((l) => l.split('\t')).map((r) => [r[0], r[2]]));
  const trainHyper = new Set(triples.filter((t) => t[1] === 'hypernym' && t[3] === 'train').map((t) => `${t[0]}\t${t[2]}`));
  const heldPairs = new Set(triples.filter((t) => t[3] === 'test').map((t) => pairKey(t[0], t[2])));
  const hyperTails = new Set(triples.filter((t) => t[1] === 'hypernym').map((t) => t[2]));
  const parents = new Map<string, string[]>();
  for (const t of triples) if (t[1] === 'hypernym') parents.set(t[0], [...(parents.get(t[0]) ?? []), t[2]]);
  const ancestors = (h: string) => {
    const out = new Set<string>();
    const stack = [h];
    while (stack.length) for (const p of parents.get(stack.pop()!) ?? []) if (!out.has(p)) (out.add(p), stack.push(p));
    return out;
  };
  return items.map((z) => {
    assert.equal(z.relation, 'hypernym');
    assert.equal(z.context.at(-1), 'is');
    const head = z.context.slice(0, -1).join(' ');
    assert.equal(z.head, head);
    assert.equal(pos.get(head), 'n', `${head} is a noun entity`);
    assert.equal(z.candidates.length, 4);
    for (const cand of z.candidates) assert.ok(['a', 'an'].includes(cand[0]), cand.join(' '));
    const lemmas = z.candidates.map((cand) => cand.slice(1).join(' '));
    const tail = lemmas[z.answer];
    assert.ok(trainHyper.has(`${head}\t${tail}`), `(${head}, hypernym, ${tail}) is a train triple`);
    assert.ok(!heldPairs.has(pairKey(head, tail)), `{${head}, ${tail}} is not a held-out pair`);
    const anc = ancestors(head);
    assert.ok(anc.has(tail));
    lemmas.forEach((l, i) => {
      if (i === z.answer) return;
      assert.ok(hyperTails.has(l) && !anc.has(l) && l !== head, `distractor "${l}" of ${head}`);
    });
    return { head, tail };
  });
}

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
    // the seen cloze: written, train pairs only, no more items than the held-out cloze
    const seen = readLines(join(out, 'cloze-seen.jsonl')).map((l) => JSON.parse(l) as ClozeRecord);
    assert.ok(checkSeenCloze(out, seen).length > 0);
    assert.equal(stats.cloze_seen, seen.length);
    assert.ok(seen.length <= readLines(join(out, 'cloze.jsonl')).length);
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
  assert.deepEqual(c.clozeSeen.map(item), readLines(join(shipped, 'cloze-seen.jsonl')).map((l) => item(JSON.parse(l))));
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

test('the shipped seen cloze: train noun hypernym pairs only, chosen by the pair hash, as many as the held-out items', () => {
  const dir = join(ROOT, 'data/ernie');
  const seen = readLines(join(dir, 'cloze-seen.jsonl')).map((l) => JSON.parse(l) as ClozeRecord);
  const held = readLines(join(dir, 'cloze.jsonl')).map((l) => JSON.parse(l) as ClozeRecord);
  const stats = JSON.parse(readFileSync(join(dir, 'stats.json'), 'utf8')) as Record<string, number>;
  // measured: 289 held-out items, 1,212 train noun hypernym triples, of which 289 (the cap) are kept
  assert.equal(held.length, 289);
  assert.equal(seen.length, 289);
  assert.equal(stats.cloze_seen, seen.length);
  const pairs = checkSeenCloze(dir, seen);
  assert.equal(new Set(pairs.map((p) => `${p.head}\t${p.tail}`)).size, pairs.length, 'no pair twice');
  const heldPairs = new Set(held.map((z) => pairKey(z.head, z.candidates[z.answer].slice(1).join(' '))));
  for (const p of pairs) assert.ok(!heldPairs.has(pairKey(p.head, p.tail)));
  // the held-out items fail the same check (their pairs are not train pairs): the check can fail
  assert.throws(() => checkSeenCloze(dir, held.slice(0, 1)), /is a train triple/);
  // chosen by hash, not by order: every kept pair hashes below every eligible pair left out; kept in triples.tsv order
  const triples = readLines(join(dir, 'triples.tsv')).map((l) => l.split('\t'));
  const pos = new Map(readLines(join(dir, 'entities.tsv')).map((l) => l.split('\t')).map((r) => [r[0], r[2]]));
  const eligible = triples.filter((t) => t[1] === 'hypernym' && t[3] === 'train' && pos.get(t[0]) === 'n').map((t) => `${t[0]}\t${t[2]}`);
  assert.equal(eligible.length, 1212);
  const kept = pairs.map((p) => `${p.head}\t${p.tail}`);
  const keptSet = new Set(kept);
  const h = (k: string) => unitHash(`seen\t${k}`);
  const maxKept = Math.max(...kept.map(h));
  assert.ok(eligible.filter((k) => !keptSet.has(k)).every((k) => h(k) > maxKept));
  assert.deepEqual(kept, eligible.filter((k) => keptSet.has(k)));
  // answer positions spread like the held-out set's; every word is in the vocabulary
  const positions = [0, 1, 2, 3].map((i) => seen.filter((z) => z.answer === i).length);
  assert.ok(positions.every((n) => n > seen.length / 8), `answer positions ${positions}`);
  const vocab = new Set(readLines(join(dir, 'vocab.txt')));
  for (const z of seen) for (const w of [...z.context, ...z.candidates.flat()]) assert.ok(vocab.has(w), w);
});
