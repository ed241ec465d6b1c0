/**
 * Entity linking by lemma matching (src/datapipe/text/entity-link.ts): tokenizer, longest match over multi-word
 * lemmas, plural and irregular forms (nouns only), lemma-form rewriting with the plural marker, phrases vs entities,
 * and sentence splitting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LemmaLinker, PLURAL_MARKER, singularForms, splitSentences, wordTokens } from '../../src/datapipe/text/entity-link.js';

const spanText = (l: { tokens: string[]; mentions: { start: number; end: number; kind: string }[] }) =>
  l.mentions.map((m) => `${m.kind}:${l.tokens.slice(m.start, m.end).join(' ')}`);

test('word tokens: lower case, accents removed, inner hyphens kept, possessive split, punctuation kept', () => {
  assert.deepEqual(wordTokens('The Café\'s T-shirt, (new) — "great"!'), ['the', 'cafe', "'s", 't-shirt', ',', 'new', 'great', '!']);
  assert.deepEqual(wordTokens('God’s  light;\nand'), ['god', "'s", 'light', ';', 'and']);
  assert.deepEqual(wordTokens('as e.g. a U.S. dog.'), ['as', 'e.g.', 'a', 'u.s.', 'dog', '.']);
});

test('singular forms of a plural last word', () => {
  assert.deepEqual(singularForms('berries'), ['berry', 'berrie']);
  assert.deepEqual(singularForms('boxes'), ['box', 'boxe']);
  assert.deepEqual(singularForms('dogs'), ['dog']);
  assert.deepEqual(singularForms('glass'), []);
  assert.deepEqual(singularForms('geese', new Map([['geese', ['goose']]])), ['goose']);
});

test('longest match first over multi-word lemmas; plural forms rewritten to the lemma plus the marker', () => {
  const l = new LemmaLinker(new Map([['geese', ['goose']], ['mice', ['mouse']]]));
  for (const e of ['ice', 'cream', 'ice cream', 'apple', 'apple tree', 'tree', 'goose', 'berry', 'box', 'mouse']) l.add(e, 'entity');
  l.add('hot', 'entity', false);
  l.add('a kind of', 'phrase');
  l.add('ice cream cone', 'phrase');
  const r = l.link(wordTokens('Apple trees and ice cream; an ice cream cone, hot geese, berries, boxes. Hots.'));
  assert.deepEqual(r.tokens, ['apple', 'tree', PLURAL_MARKER, 'and', 'ice', 'cream', ';', 'an', 'ice', 'cream', 'cone', ',', 'hot', 'goose',
    PLURAL_MARKER, ',', 'berry', PLURAL_MARKER, ',', 'box', PLURAL_MARKER, '.', 'hots', '.']);
  assert.deepEqual(spanText(r), ['entity:apple tree', 'entity:ice cream', 'phrase:ice cream cone', 'entity:hot', 'entity:goose', 'entity:berry', 'entity:box']);
  assert.deepEqual(r.mentions.map((m) => m.lemma), ['apple tree', 'ice cream', 'ice cream cone', 'hot', 'goose', 'berry', 'box']);
  // every entity span's tokens equal its lemma; spans never overlap
  for (const m of r.mentions) assert.equal(r.tokens.slice(m.start, m.end).join(' '), m.lemma);
  for (let i = 1; i < r.mentions.length; i++) assert.ok(r.mentions[i].start >= r.mentions[i - 1].end);
  // an entity replaces a phrase of the same text, not the other way round
  l.add('apple tree', 'phrase');
  assert.equal(l.has('apple tree'), 'entity');
  assert.deepEqual(spanText(l.link(wordTokens('a kind of mouse; mice'))), ['phrase:a kind of', 'entity:mouse', 'entity:mouse']);
});

test('sentence splitting at . ? ! (and extra delimiters) and newlines', () => {
  assert.deepEqual(splitSentences('A dog barked. Did it? Yes!\nNew line here'), ['A dog barked.', 'Did it?', 'Yes!', 'New line here']);
  assert.deepEqual(splitSentences('Let there be light: and there was light; good.', ';:'), ['Let there be light:', 'and there was light;', 'good.']);
  assert.deepEqual(splitSentences('He said "go." Then left.'), ['He said "go."', 'Then left.']);
  assert.deepEqual(splitSentences('  \n . \n'), []);
});
