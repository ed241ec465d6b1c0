/**
 * The knowledge graph Kiln's ERNIE 3.0 pre-training uses: a coherent, common-word subset of WordNet 3.0.
 *
 * Selection (deterministic, `buildKnowledgeGraph(wn, options)`):
 * 1. Nouns: the hyponym closure (no instances) of concrete roots — animals, plants, food, fruit, vegetables, body
 *    parts, tools, kitchen utensils, containers, vehicles, buildings, dwellings, furniture, clothing, musical
 *    instruments, weapons, bodies of water, geological formations. A synset is kept when one of its lemmas is a
 *    usable entity lemma (below) with a SemCor tag count ≥ `minTagCount`, plus the direct hypernyms of kept synsets
 *    (so every kept synset has its hypernym triple). The most frequent ones are kept up to `maxNounSynsets`.
 * 2. Adjectives: head synsets with an antonym and tag count ≥ `minAdjTagCount`, and their satellites with tag count
 *    ≥ `minAdjTagCount` (antonym and similar-to pairs).
 *    Then the parts and substances of kept nouns (part/substance meronyms) and the attribute nouns of kept adjectives.
 * 3. Verbs and adjectives that are derivational partners of kept nouns, with tag count ≥ `minVerbTagCount`.
 * An entity lemma is lower-case word tokens only (one word for verbs and adjectives) (no capitals, digits or punctuation), ≥ 3 letters, not a stop word,
 * not an inflected form of another word (verb.exc/adj.exc: "saw", "rose"), and the synset is the lemma's FIRST
 * (most frequent) sense in its part of speech (a crude but standard disambiguation: "bank" links to its first
 * sense only). Each lemma names one entity; a synset's representative is its first entity lemma.
 * Triples `(head, relation, tail)` read "tail is the relation of head", straight from WordNet's pointers between
 * kept synsets: (dog, hypernym, canine), (tree, part meronym, trunk), (hot, antonym, cold). Semantic pointers
 * connect the representatives; lexical pointers (antonym, derivation) the words they name. Inverse pointers
 * (hyponym, holonyms) are not kept: they duplicate the forward ones.
 * Phrases: multi-word WordNet lemmas of any part of speech that are not entities (what knowledge masking masks as
 * wholes besides entities), plus a few relation cue phrases ("a kind of", "part of", "member of", "made of").
 * Gloss documents: one per parent (hypernym, or adjective head) listing the kept synsets under it; each synset
 * contributes a definition sentence — nouns "<lemma> is <a|an> <definition>", adjectives "<lemma> means
 * <definition>", verbs "to <lemma> is to <definition>" — and its example sentences.
 */
import type { WnPointer, WnSynset, WordNet } from './wordnet.js';
import { isWordLemma, wordTokens } from './entity-link.js';

/** Roots of the noun subset: WordNet 3.0 synset keys (offset-pos) with their names. */
export const NOUN_ROOTS: Record<string, string> = {
  '00015388-n': 'animal', '00017222-n': 'plant', '00021265-n': 'food', '07555863-n': 'food (solid)',
  '13134947-n': 'fruit', '07707451-n': 'vegetable', '05220461-n': 'body part', '04451818-n': 'tool',
  '03621049-n': 'kitchen utensil', '03094503-n': 'container', '04524313-n': 'vehicle', '02913152-n': 'building',
  '03259505-n': 'dwelling', '03405725-n': 'furniture', '03051540-n': 'clothing', '03800933-n': 'musical instrument',
  '04565375-n': 'weapon', '09225146-n': 'body of water', '09287968-n': 'geological formation',
};

/** The relations kept as triples (pointer names of wordnet.ts), in the order of `KnowledgeGraph.relations`. */
export const KG_RELATIONS = ['hypernym', 'part meronym', 'member meronym', 'substance meronym', 'antonym', 'similar to', 'derivation', 'attribute'];

const STOP = new Set(`the and for are but not you all any can had her was one our out day get has him his how man new now old see two way who
boy did its let put say she too use may will shall must might would could should does done doing been being have having
from with into unto upon thee thou thy thine hath doth saith art also very more most much many few each every own
other such only same just than then there here when where whom which what why while since until because both
either neither about above after again against among before below between during through under over within without
like well even still back down off once further nor yes some them they their theirs these those this that were
whose yet thus hence therefore wherefore lest come came went go goes make made take took give gave know knew said
tell told bring brought call called keep kept set let lay laid lie lying rise rose fell fall saw seen found find
left leave felt feel hold held stand stood bear bore born`.split(/\s+/));

export const CUE_PHRASES = ['a kind of', 'a type of', 'a part of', 'part of', 'member of', 'made of', 'consisting of', 'such as', 'used for', 'used to'];

export interface KgOptions {
  /** Noun roots (synset keys); default NOUN_ROOTS. Roots the database lacks are skipped. */
  roots?: string[];
  maxNounSynsets?: number;
  minTagCount?: number;
  minAdjTagCount?: number;
  minVerbTagCount?: number;
}

export const KG_DEFAULTS: Required<KgOptions> = { roots: Object.keys(NOUN_ROOTS), maxNounSynsets: 2500, minTagCount: 1, minAdjTagCount: 4, minVerbTagCount: 2 };

export interface KgEntity {
  lemma: string;
  synset: string;
  pos: 'n' | 'v' | 'a' | 'r';
}

export interface KgTriple {
  head: string;
  relation: string;
  tail: string;
}

export interface GlossDocument {
  id: string;
  sentences: string[];
}

export interface KnowledgeGraph {
  entities: KgEntity[];
  triples: KgTriple[];
  phrases: string[];
  glossDocuments: GlossDocument[];
  /** Kept synset keys (sorted) and their representative lemma. */
  representatives: Map<string, string>;
}

const posOf = (s: WnSynset): 'n' | 'v' | 'a' | 'r' => (s.pos === 's' ? 'a' : s.pos);
const FILE: Record<'n' | 'v' | 'a' | 'r', 'noun' | 'verb' | 'adj' | 'adv'> = { n: 'noun', v: 'verb', a: 'adj', r: 'adv' };

/** Lower-cased, tokenised lemma text ("Ice_cream" → "ice cream"), or null when the lemma is not word tokens only. */
export function lemmaText(word: string): string | null {
  if (/[A-Z0-9]/.test(word)) return null;
  const t = wordTokens(word);
  return isWordLemma(t) && t.join(' ') === word.toLowerCase().replace(/\s+/g, ' ') ? t.join(' ') : null;
}

export function buildKnowledgeGraph(wn: WordNet, options: KgOptions = {}): KnowledgeGraph {
  const o = { ...KG_DEFAULTS, ...options };
  const inflected = new Set<string>([...wn.exceptions.verb.keys(), ...wn.exceptions.adj.keys()]);
  /** The synset's word i as an entity lemma, or null. */
  const entityLemma = (s: WnSynset, i: number): string | null => {
    const l = lemmaText(s.words[i]);
    if (!l || l.replace(/[ -]/g, '').length < 3 || STOP.has(l) || inflected.has(l)) return null;
    if (s.pos !== 'n' && l.includes(' ')) return null;
    const first = wn.senseOrder[FILE[posOf(s)]].get(l)?.[0];
    return first === undefined || first === s.key ? l : null;
  };
  const score = (s: WnSynset): number => Math.max(0, ...s.words.map((_, i) => (entityLemma(s, i) ? wn.tagCount(s, i) : -1)));
  const usable = (s: WnSynset) => s.words.some((_, i) => entityLemma(s, i) !== null);

  // 1. Nouns under the roots.
  const closure = new Set<string>();
  const stack = o.roots.filter((k) => wn.synsets.has(k));
  while (stack.length) {
    const k = stack.pop()!;
    if (closure.has(k)) continue;
    closure.add(k);
    for (const p of wn.get(k).pointers) if (p.symbol === '~') stack.push(p.target);
  }
  const nounCands = [...closure].map((k) => wn.get(k)).filter((s) => usable(s) && score(s) >= o.minTagCount);
  nounCands.sort((a, b) => score(b) - score(a) || (a.key < b.key ? -1 : 1));
  const kept = new Set<string>();
  for (const s of nounCands) {
    if (kept.size >= o.maxNounSynsets) break;
    kept.add(s.key);
  }
  for (const k of [...kept]) for (const p of wn.get(k).pointers) if (p.symbol === '@' && usable(wn.get(p.target))) kept.add(p.target);
  // their parts and substances (a car's bumper, bread's flour)
  for (const k of [...kept])
    for (const p of wn.get(k).pointers) if ((p.symbol === '%p' || p.symbol === '%s') && usable(wn.get(p.target))) kept.add(p.target);

  // 2. Adjectives: heads with antonyms, and their frequent satellites.
  for (const s of wn.synsets.values()) {
    if (s.pos !== 'a' || !usable(s) || score(s) < o.minAdjTagCount || !s.pointers.some((p) => p.symbol === '!')) continue;
    kept.add(s.key);
    for (const p of s.pointers) {
      const t = wn.get(p.target);
      if (p.symbol === '&' && usable(t) && score(t) >= o.minAdjTagCount) kept.add(t.key);
      if (p.symbol === '=' && usable(t)) kept.add(t.key); // the attribute noun (hot, cold → temperature)
    }
  }
  // 3. Verbs and adjectives derived from kept nouns.
  for (const k of [...kept]) {
    const s = wn.get(k);
    if (s.pos !== 'n') continue;
    for (const p of s.pointers) {
      if (p.symbol !== '+' || p.target.endsWith('-n') || p.target.endsWith('-r')) continue;
      const t = wn.get(p.target);
      if (usable(t) && score(t) >= o.minVerbTagCount) kept.add(t.key);
    }
  }

  // Entities: each lemma once (its first sense), representatives = first entity lemma of each kept synset.
  const keys = [...kept].sort();
  const entities: KgEntity[] = [];
  const taken = new Set<string>();
  const representatives = new Map<string, string>();
  const wordLemma = new Map<string, string | null>(); // `${key}#${i}` → entity lemma of word i+1
  for (const k of keys) {
    const s = wn.get(k);
    s.words.forEach((_, i) => {
      const l = entityLemma(s, i);
      const ok = l !== null && !taken.has(l);
      wordLemma.set(`${k}#${i + 1}`, ok ? l : null);
      if (!ok) return;
      taken.add(l);
      entities.push({ lemma: l, synset: k, pos: posOf(s) });
      if (!representatives.has(k)) representatives.set(k, l);
    });
  }
  for (const k of keys) if (!representatives.has(k)) kept.delete(k);

  // Triples from forward pointers between kept synsets.
  const triples: KgTriple[] = [];
  const seen = new Set<string>();
  const endOf = (key: string, word: number): string | null =>
    word === 0 ? representatives.get(key) ?? null : wordLemma.get(`${key}#${word}`) ?? null;
  for (const k of keys) {
    if (!kept.has(k)) continue;
    for (const p of wn.get(k).pointers as WnPointer[]) {
      if (!KG_RELATIONS.includes(p.relation) || !kept.has(p.target)) continue;
      const h = endOf(k, p.sourceWord);
      const t = endOf(p.target, p.targetWord);
      if (!h || !t || h === t) continue;
      // symmetric relations once per unordered pair
      const sym = p.relation === 'antonym' || p.relation === 'similar to' || p.relation === 'derivation' || p.relation === 'attribute';
      const id = sym ? `${p.relation}|${[h, t].sort().join('|')}` : `${p.relation}|${h}|${t}`;
      if (seen.has(id)) continue;
      seen.add(id);
      triples.push({ head: h, relation: p.relation, tail: t });
    }
  }

  // Phrases: multi-word lemmas (any part of speech) that are not entities, and the cue phrases.
  const phraseSet = new Set<string>(CUE_PHRASES);
  for (const s of wn.synsets.values())
    for (const w of s.words) {
      const l = lemmaText(w);
      if (l && l.includes(' ') && !taken.has(l)) phraseSet.add(l);
    }
  const phrases = [...phraseSet].sort();

  // Gloss documents grouped by parent.
  const groups = new Map<string, string[]>();
  for (const k of keys) {
    if (!kept.has(k)) continue;
    const s = wn.get(k);
    const parent = s.pos === 's' ? s.pointers.find((p) => p.symbol === '&')?.target : s.pointers.find((p) => p.symbol === '@')?.target;
    const g = s.pos === 'a' ? k : parent && (kept.has(parent) || s.pos !== 'n') ? parent : k;
    const list = groups.get(g);
    if (list) list.push(k);
    else groups.set(g, [k]);
  }
  const glossDocuments: GlossDocument[] = [];
  for (const [g, members] of [...groups].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const ordered = [...members].sort((a, b) => (a === g ? -1 : b === g ? 1 : a < b ? -1 : 1));
    const sentences: string[] = [];
    for (const k of ordered) sentences.push(...glossSentences(wn.get(k), representatives.get(k)!));
    glossDocuments.push({ id: `wordnet-${g}`, sentences });
  }
  return { entities, triples, phrases, glossDocuments, representatives };
}

const DETERMINER = /^(a|an|the|any|one|some|each|every|either|this|that|its|his|her|their|two|several|various|many)\b/i;

/** "a" or "an" before a word (by its first letter; good enough for definitions). */
export function article(word: string): string {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

/** The definition sentence and example sentences of a synset, written about `lemma`. */
export function glossSentences(s: WnSynset, lemma: string): string[] {
  const def = s.definition.replace(/\s+/g, ' ').trim();
  const out: string[] = [];
  if (def) {
    if (s.pos === 'n') out.push(`${lemma} is ${DETERMINER.test(def) ? '' : `${article(def)} `}${def}.`);
    else if (s.pos === 'v') out.push(`to ${lemma} is to ${def}.`);
    else out.push(`${lemma} means ${def}.`);
  }
  for (const e of s.examples) out.push(/[.?!]$/.test(e) ? e : `${e}.`);
  return out;
}
