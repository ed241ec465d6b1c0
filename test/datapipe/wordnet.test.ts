/**
 * The WordNet 3.0 reader (src/datapipe/text/wordnet.ts) on a real excerpt of the database (fixtures/wordnet, made by
 * scripts/fixtures/wordnet-excerpt.mjs): synsets, multi-word lemmas, pointer decoding (semantic and lexical), glosses
 * split into definition and examples, byte-offset consistency, index sense order, exceptions and sense-key counts;
 * and the knowledge-graph subset (wordnet-kg.ts) built from it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadWordNet, parseDataFile, parseDataLine, splitGloss, synsetKey } from '../../src/datapipe/text/wordnet.js';
import { buildKnowledgeGraph, glossSentences } from '../../src/datapipe/text/wordnet-kg.js';

const FIX = join(process.cwd(), 'test/datapipe/fixtures/wordnet');
const wn = loadWordNet(FIX);
const key = (lemma: string, file: 'noun' | 'adj' = 'noun', sense = 0) => wn.senseOrder[file].get(lemma)![sense];

test('parses every synset of the excerpt with offsets equal to byte positions', () => {
  assert.equal(wn.synsets.size, 23);
  const text = readFileSync(join(FIX, 'data.noun'), 'latin1');
  for (const s of wn.synsets.values()) {
    if (!s.key.endsWith('-n')) continue;
    assert.equal(text.slice(s.offset, s.offset + 8), String(s.offset).padStart(8, '0'));
  }
  // one byte more before a line breaks every later offset: the reader refuses it
  const lines = text.split('\n');
  const i = lines.findIndex((l) => !l.startsWith('  '));
  lines[i] = lines[i].replace(' | ', '  | ');
  assert.throws(() => parseDataFile(lines.join('\n'), 'edited'), /offset \d+ is not the line's byte position/);
});

test('dog: lemmas (multi-word), pointers by name, gloss split', () => {
  const dog = wn.get(key('dog'));
  assert.deepEqual(dog.words, ['dog', 'domestic dog', 'Canis familiaris']);
  assert.equal(dog.pos, 'n');
  assert.equal(dog.lexFile, 5);
  const rel = dog.pointers.map((p) => [p.relation, wn.get(p.target).words[0]]);
  assert.deepEqual(rel, [['hypernym', 'canine'], ['hypernym', 'domestic animal'], ['hyponym', 'puppy'], ['part meronym', 'flag']]);
  assert.ok(dog.pointers.every((p) => p.sourceWord === 0 && p.targetWord === 0));
  assert.equal(dog.definition, 'a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds');
  assert.deepEqual(dog.examples, ['the dog barked all night']);
  // the canid synset is dog's hypernym; "canine" names two synsets, the tooth first (sense order of index.noun)
  assert.deepEqual(wn.get(key('canine', 'noun', 1)).words, ['canine', 'canid']);
  assert.deepEqual(wn.get(key('canine', 'noun', 0)).words.slice(0, 2), ['canine', 'canine tooth']);
  assert.equal(dog.pointers[0].target, key('canine', 'noun', 1));
});

test('adjectives: satellites, lexical antonym pointer with word numbers, similar-to, attribute', () => {
  const hot = wn.get(key('hot', 'adj'));
  const byRel = (r: string) => hot.pointers.filter((p) => p.relation === r).map((p) => wn.get(p.target).words[0]);
  assert.deepEqual(byRel('antonym'), ['cold']);
  assert.deepEqual(byRel('similar to'), ['baking', 'blistering']);
  assert.deepEqual(byRel('attribute'), ['temperature']);
  assert.deepEqual(byRel('derivation'), ['hotness']);
  const ant = hot.pointers.find((p) => p.symbol === '!')!;
  assert.deepEqual([ant.sourceWord, ant.targetWord], [1, 1]);
  const baking = wn.get(key('baking', 'adj'));
  assert.equal(baking.pos, 's');
  assert.equal(baking.key.endsWith('-a'), true);
  assert.deepEqual(baking.words, ['baking', 'baking hot']);
  // sense keys and their SemCor counts (cntlist.rev)
  assert.equal(wn.senseKey(wn.get(key('dog')), 0), 'dog%1:05:00::');
  assert.equal(wn.tagCount(wn.get(key('dog')), 0), 42);
  assert.equal(wn.senseKey(hot, 0), 'hot%3:00:01::');
  assert.equal(wn.tagCount(hot, 0), 50);
  assert.equal(wn.senseKey(baking, 0), 'baking%5:00:00:hot:01');
  assert.deepEqual(wn.exceptions.noun.get('wolves'), ['wolf']);
  assert.deepEqual(wn.exceptions.adj.get('hotter'), ['hot']);
});

test('line parsing: adjective markers, hex counts, pointer symbols, quoted examples', () => {
  const s = parseDataLine('00000042 00 a 03 big(a) 0 large_scale(p) 0 Big_Apple(ip) a 002 ! 00000100 a 0101 %p 00000200 n 0000 | of great size; "a big house"; "it is large_scale"', 'test');
  assert.deepEqual(s.words, ['big', 'large scale', 'Big Apple']);
  assert.deepEqual(s.lexIds, [0, 0, 10]);
  assert.equal(s.key, synsetKey(42, 'a'));
  assert.deepEqual(s.pointers.map((p) => [p.relation, p.target, p.sourceWord, p.targetWord]),
    [['antonym', '00000100-a', 1, 1], ['part meronym', '00000200-n', 0, 0]]);
  assert.deepEqual(splitGloss('of great size; "a big house"; "it is large"'), { definition: 'of great size', examples: ['a big house', 'it is large'] });
  assert.throws(() => parseDataLine('00000042 00 a 03 big 0 | x', 'test'), /line ends early/);
  assert.throws(() => parseDataLine('00000042 00 q 01 big 0 000 | x', 'test'), /bad synset header/);
});

test('knowledge graph from the excerpt: first-sense entities, forward triples, gloss sentences', () => {
  const kg = buildKnowledgeGraph(wn, { roots: [key('animal')], minTagCount: 0, minAdjTagCount: 0, minVerbTagCount: 0 });
  const lemmas = kg.entities.map((e) => e.lemma);
  for (const l of ['dog', 'domestic dog', 'canid', 'animal', 'cat', 'wolf', 'tail', 'flag', 'hot', 'cold', 'baking', 'temperature'])
    assert.ok(lemmas.includes(l), l);
  // "canine" is first the tooth: not an entity of the canid synset; capitalised lemmas are never entities
  assert.ok(!lemmas.includes('canine'));
  assert.ok(!lemmas.includes('canis familiaris'));
  assert.equal(new Set(lemmas).size, lemmas.length);
  const has = (h: string, r: string, t: string) => kg.triples.some((x) => x.head === h && x.relation === r && x.tail === t);
  assert.ok(has('dog', 'hypernym', 'canid'));
  assert.ok(has('dog', 'hypernym', 'domestic animal'));
  assert.ok(has('dog', 'part meronym', 'flag'));
  assert.ok(has('vertebrate', 'part meronym', 'tail'));
  assert.ok(has('hot', 'antonym', 'cold') !== has('cold', 'antonym', 'hot')); // symmetric relations once per pair
  assert.ok(has('hot', 'similar to', 'baking'));
  assert.ok(has('hot', 'attribute', 'temperature'));
  assert.ok(!kg.triples.some((t) => t.relation === 'hyponym' || t.relation.endsWith('holonym')));
  const dogDoc = kg.glossDocuments.find((d) => d.sentences.some((s) => s.startsWith('dog is')))!;
  assert.ok(dogDoc.sentences.includes('dog is a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds.'));
  assert.ok(dogDoc.sentences.includes('the dog barked all night.'));
  assert.deepEqual(glossSentences(wn.get(key('cat')), 'cat'), ['cat is a feline mammal usually having thick soft fur and no ability to roar: domestic cats; wildcats.']);
  assert.equal(glossSentences(wn.get(key('hot', 'adj')), 'hot')[0].startsWith('hot means used of physical heat'), true);
});
