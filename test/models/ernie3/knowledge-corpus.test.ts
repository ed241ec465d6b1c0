/**
 * The shipped WordNet knowledge corpus (data/ernie via loadKnowledgeCorpus): every entity span's tokens equal an
 * entity lemma; every triple sentence contains its head and tail as entity spans; spans never overlap; relation
 * classification splits are pair-disjoint (and held-out pairs never appear as pre-training triples); cloze answers
 * point at the held-out hypernym; and the pre-training generators run on it with correct labels (knowledge masking
 * masks whole entities; knowledge-text examples accept every triple sentence). The seen cloze (cloze-seen.jsonl)
 * answers with a pre-training (train) hypernym triple; a directory without it loads with no seen items; a malformed
 * cloze line is an E_FORMAT error naming the file and line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../../../src/tensor/random.js';
import { defaultKnowledgeDir, loadKnowledgeCorpus } from '../../../src/models/ernie3/knowledge-corpus.js';
import { IGNORE, knowledgeMaskedLm, universalKnowledgeText } from '../../../src/models/ernie3/pretrain-data.js';
import { MASK, SPECIALS, UNK } from '../../../src/models/ernie3/synthetic-kg.js';

const c = loadKnowledgeCorpus();
const V = c.vocab.length;
const sentences = c.documents.flat();
const key = (ids: number[]) => ids.join(',');
const pairKey = (a: number[], b: number[]) => [key(a), key(b)].sort().join('|');

test('vocabulary, ids and sizes', () => {
  assert.deepEqual(c.vocab.slice(0, 5), SPECIALS);
  assert.equal(c.id('dog'), c.vocab.indexOf('dog'));
  assert.equal(c.id('no-such-word-xyz'), UNK);
  assert.equal(c.textOf([c.id('apple'), c.id('tree')]), 'apple tree');
  assert.equal(new Set(c.vocab).size, V);
  assert.ok(c.entities.length > 3000 && c.triples.length > 1500 && sentences.length > 4000, JSON.stringify(c.stats));
  assert.deepEqual(c.relations, ['hypernym', 'part meronym', 'antonym', 'similar to', 'derivation', 'attribute']);
  for (const s of sentences) for (const x of s.ids) assert.ok(x >= 0 && x < V && x !== MASK);
  assert.throws(() => loadKnowledgeCorpus(undefined, { vocabSize: 100 }), /vocabSize 100 is below/);
  assert.equal(loadKnowledgeCorpus(undefined, { vocabSize: Number(c.stats.vocab_required) }).vocab.length, c.stats.vocab_required);
});

test('entity spans are whole entity lemmas; spans never overlap; triple sentences contain head and tail spans', () => {
  const lemmas = new Set(c.entities.map((l) => key(l.split(' ').map(c.id))));
  let entitySpans = 0, phraseSpans = 0, tripleSentences = 0;
  for (const s of sentences) {
    let end = 0;
    for (const sp of s.spans) {
      assert.ok(sp.start >= end && sp.end > sp.start && sp.end <= s.ids.length);
      end = sp.end;
      const toks = s.ids.slice(sp.start, sp.end);
      if (sp.kind === 'entity') {
        entitySpans++;
        assert.ok(lemmas.has(key(toks)), `"${c.textOf(toks)}" is not an entity lemma`);
      } else {
        phraseSpans++;
        assert.ok(toks.length >= 2, 'phrases are multi-word');
      }
    }
    if (s.triple < 0) continue;
    tripleSentences++;
    const t = c.triples[s.triple];
    const ents = s.spans.filter((sp) => sp.kind === 'entity').map((sp) => key(s.ids.slice(sp.start, sp.end)));
    assert.ok(ents.includes(key(t.head)) && ents.includes(key(t.tail)), `${c.textOf(s.ids)} / ${c.textOf(t.head)} ${c.textOf(t.tail)}`);
  }
  assert.ok(entitySpans > 10_000 && phraseSpans > 500 && tripleSentences > 1000, `${entitySpans} ${phraseSpans} ${tripleSentences}`);
  // triple relations are the relation names' words, labels index `relations`
  c.triples.forEach((t, i) => assert.equal(c.textOf(t.relation), c.relations[c.tripleRelation[i]]));
});

test('relation classification: pair-disjoint splits, every class in both, held-out pairs absent from pre-training triples', () => {
  const { train, test: held } = c.relationDataset;
  const trainPairs = new Set(train.map((x) => pairKey(x.head, x.tail)));
  for (const x of held) assert.ok(!trainPairs.has(pairKey(x.head, x.tail)));
  const pretrain = new Set(c.triples.map((t) => pairKey(t.head, t.tail)));
  for (const x of held) assert.ok(!pretrain.has(pairKey(x.head, x.tail)));
  for (const t of c.heldOutTriples) assert.ok(!pretrain.has(pairKey(t.head, t.tail)));
  for (let r = 0; r < c.relations.length; r++) {
    assert.ok(train.filter((x) => x.label === r).length >= 50, c.relations[r]);
    assert.ok(held.filter((x) => x.label === r).length >= 5, c.relations[r]);
  }
  // each example is a WordNet triple of its relation
  const all = new Map<string, number>();
  [...c.triples, ...c.heldOutTriples].forEach((t, i) =>
    all.set(`${key(t.head)}|${key(t.tail)}`, i < c.triples.length ? c.tripleRelation[i] : c.heldOutRelation[i - c.triples.length]));
  for (const x of [...train, ...held]) assert.equal(all.get(`${key(x.head)}|${key(x.tail)}`), x.label);
});

test('cloze: the answer is the held-out hypernym of the context head, distractors are not its hypernyms', () => {
  const hyper = c.relations.indexOf('hypernym');
  const heldHyper = new Set(c.heldOutTriples.filter((_, i) => c.heldOutRelation[i] === hyper).map((t) => `${key(t.head)}|${key(t.tail)}`));
  const anyHyper = new Set([...c.triples.filter((_, i) => c.tripleRelation[i] === hyper), ...c.heldOutTriples.filter((_, i) => c.heldOutRelation[i] === hyper)]
    .map((t) => `${key(t.head)}|${key(t.tail)}`));
  assert.ok(c.cloze.length > 100);
  const answers = [0, 0, 0, 0];
  for (const z of c.cloze) {
    assert.equal(z.candidates.length, 4);
    assert.equal(c.vocab[z.context.at(-1)!], 'is');
    const head = z.context.slice(0, -1);
    const lemma = (cand: number[]) => cand.slice(1); // drop the article
    for (const cand of z.candidates) assert.ok(['a', 'an'].includes(c.vocab[cand[0]]));
    assert.ok(heldHyper.has(`${key(head)}|${key(lemma(z.candidates[z.answer]))}`), c.textOf(z.context));
    z.candidates.forEach((cand, i) => { if (i !== z.answer) assert.ok(!anyHyper.has(`${key(head)}|${key(lemma(cand))}`)); });
    answers[z.answer]++;
  }
  assert.ok(answers.every((n) => n > c.cloze.length / 8), `answer positions ${answers}`);
});

test('seen cloze: answers are pre-training (train) hypernym triples, never held-out pairs; absent file = no items', () => {
  const hyper = c.relations.indexOf('hypernym');
  const trainHyper = new Set(c.triples.filter((_, i) => c.tripleRelation[i] === hyper).map((t) => `${key(t.head)}|${key(t.tail)}`));
  const held = new Set(c.heldOutTriples.map((t) => pairKey(t.head, t.tail)));
  assert.equal(c.clozeSeen.length, 289);
  assert.equal(c.clozeSeen.length, c.stats.cloze_seen);
  for (const z of c.clozeSeen) {
    assert.equal(z.candidates.length, 4);
    const head = z.context.slice(0, -1);
    const tail = z.candidates[z.answer].slice(1);
    assert.ok(trainHyper.has(`${key(head)}|${key(tail)}`), c.textOf(z.context));
    assert.ok(!held.has(pairKey(head, tail)));
    for (const x of [...z.context, ...z.candidates.flat()]) assert.notEqual(x, UNK);
  }
  // a directory prepared before cloze-seen.jsonl existed still loads; a malformed cloze line names file and line
  const dir = mkdtempSync(join(tmpdir(), 'kiln-ernie-kc-'));
  try {
    cpSync(defaultKnowledgeDir(), dir, { recursive: true });
    rmSync(join(dir, 'cloze-seen.jsonl'));
    const old = loadKnowledgeCorpus(dir);
    assert.deepEqual(old.clozeSeen, []);
    assert.deepEqual(old.cloze, c.cloze);
    const first = readFileSync(join(dir, 'cloze.jsonl'), 'utf8').split('\n')[0];
    writeFileSync(join(dir, 'cloze-seen.jsonl'), `${first}\n{"context":["dog","is"],"candidates":[["a","canine"]],"answer":3}\n`);
    assert.throws(() => loadKnowledgeCorpus(dir), (e: Error & { code?: string }) =>
      e.code === 'E_FORMAT' && /cloze-seen\.jsonl:2: "candidates" is not a list/.test(e.message));
    writeFileSync(join(dir, 'cloze-seen.jsonl'), `${first}\n${first}\n{"context":`);
    assert.throws(() => loadKnowledgeCorpus(dir), /cloze-seen\.jsonl:3: not JSON/);
    writeFileSync(join(dir, 'cloze-seen.jsonl'), `${first}\n`);
    assert.equal(loadKnowledgeCorpus(dir).clozeSeen.length, 1);
    writeFileSync(join(dir, 'cloze.jsonl'), `${first.replace(/"answer":\d/, '"answer":4')}\n`);
    assert.throws(() => loadKnowledgeCorpus(dir), /cloze\.jsonl:1: "answer" is not an index into the 4 candidates/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('generators on the corpus: knowledge masking masks whole entities; knowledge-text accepts every triple sentence', () => {
  const gen = new Generator(3);
  let checked = 0;
  for (const s of sentences.filter((_, i) => i % 7 === 0)) {
    const ex = knowledgeMaskedLm(s, gen, { vocabSize: V, rate: 0.3 });
    for (const sp of s.spans) {
      const masked = ex.labels!.slice(sp.start + 1, sp.end + 1).map((l) => l !== IGNORE);
      assert.ok(masked.every((m) => m === masked[0]), 'a span is masked whole or not at all');
      if (masked[0]) assert.deepEqual(ex.labels!.slice(sp.start + 1, sp.end + 1), s.ids.slice(sp.start, sp.end));
    }
    checked++;
  }
  assert.ok(checked > 500);
  for (const s of sentences.filter((x) => x.triple >= 0).slice(0, 300)) {
    const ex = universalKnowledgeText(c.triples[s.triple], s, gen, { vocabSize: V });
    assert.equal(ex.inputIds.length, ex.labels!.length);
  }
});

test('tripleSentences: every sentence expressing a triple (all mention head and tail); full-KG protocol appends the held-out triples', () => {
  assert.equal(c.tripleSentences.length, c.triples.length);
  const has = (s: number[], xs: number[]) => s.some((_, i) => xs.every((x, j) => s[i + j] === x));
  let withSentence = 0, total = 0;
  c.tripleSentences.forEach((ss, i) => {
    if (ss.length) withSentence++;
    total += ss.length;
    for (const s of ss) assert.ok(has(s.ids, c.triples[i].head) && has(s.ids, c.triples[i].tail), c.textOf(s.ids));
  });
  // measured on the shipped data: 1,236 of 2,415 train triples have a sentence, 1,428 (triple, sentence) pairs; the
  // first-sentence index (`triple`) reaches fewer triples
  assert.equal(c.triples.length, 2415);
  assert.equal(withSentence, 1236);
  assert.equal(total, 1428);
  assert.equal(new Set(sentences.filter((s) => s.triple >= 0).map((s) => s.triple)).size, 1067);
  const full = loadKnowledgeCorpus(undefined, { pretrainTriples: 'all' });
  assert.equal(full.triples.length, c.triples.length + c.heldOutTriples.length);
  assert.deepEqual(full.triples.slice(0, c.triples.length), c.triples);
  assert.deepEqual(full.triples.slice(c.triples.length), c.heldOutTriples);
  assert.deepEqual(full.tripleRelation.slice(c.triples.length), c.heldOutRelation);
  assert.deepEqual(full.relationDataset, c.relationDataset, 'the evaluation splits do not change');
  full.tripleSentences.forEach((ss, i) => { for (const s of ss) assert.ok(has(s.ids, full.triples[i].head) && has(s.ids, full.triples[i].tail)); });
  assert.ok(full.tripleSentences.slice(c.triples.length).some((ss) => ss.length > 0), 'held-out triples have sentences in the corpus');
  assert.throws(() => loadKnowledgeCorpus(undefined, { pretrainTriples: 'some' as never }), /pretrainTriples must be/);
});
