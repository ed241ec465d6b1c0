/**
 * A tiny synthetic knowledge graph and corpus for ERNIE 3.0's pre-training tasks (tests, the quick start before the
 * WordNet corpus exists): multi-word entities, relations with multi-word surface phrases, triples (head, relation,
 * tail), and documents of sentences that mention a triple's head and tail, each sentence annotated with its entity
 * and phrase spans (what knowledge masking masks as wholes). Word-level vocabulary with BERT's special tokens.
 * Deterministic for a seed.
 */
import { Generator } from '../../tensor/random.js';

export const PAD = 0;
export const CLS = 1;
export const SEP = 2;
export const MASK = 3;
export const UNK = 4;
export const SPECIALS = ['[PAD]', '[CLS]', '[SEP]', '[MASK]', '[UNK]'];

export type SpanKind = 'entity' | 'phrase';

/** [start, end) over the sentence's token ids. */
export interface Span {
  start: number;
  end: number;
  kind: SpanKind;
}

export interface AnnotatedSentence {
  ids: number[];
  spans: Span[];
  /** The triple this sentence expresses (index into `triples`), or −1 for a filler sentence. */
  triple: number;
}

export interface Triple {
  head: number[];
  relation: number[];
  tail: number[];
}

export interface SyntheticKg {
  vocab: string[];
  triples: Triple[];
  /** Documents: lists of sentences. */
  documents: AnnotatedSentence[][];
  /** Word → id. */
  id(word: string): number;
}

const ENTITIES = [
  'red fox', 'grey wolf', 'oak tree', 'maple', 'river delta', 'north sea', 'salmon', 'brown bear', 'honey bee', 'clover',
  'mountain goat', 'alpine meadow', 'dog', 'animal', 'plant', 'body of water', 'fish', 'insect', 'flower', 'forest',
];
const RELATIONS: [string, string][] = [
  ['hypernym', 'is a kind of'], ['part of', 'is part of'], ['habitat', 'lives in'], ['eats', 'feeds on'], ['near', 'is found near'],
];
const FILLER = ['in spring the days grow long', 'people walk there often', 'the weather changed quickly', 'many stories are told about it'];

/** Builds the corpus: `nTriples` random triples and `nDocs` documents of 3–6 sentences (mostly triple mentions). */
export function syntheticKg({ seed = 0, nTriples = 24, nDocs = 12 }: { seed?: number; nTriples?: number; nDocs?: number } = {}): SyntheticKg {
  const gen = new Generator(seed);
  const pick = (n: number) => Math.floor(gen.uniform() * n);
  const vocab = [...SPECIALS];
  const index = new Map<string, number>(vocab.map((w, i) => [w, i]));
  const id = (w: string) => {
    let i = index.get(w);
    if (i === undefined) {
      i = vocab.length;
      vocab.push(w);
      index.set(w, i);
    }
    return i;
  };
  const words = (s: string) => s.split(' ').map(id);
  for (const s of [...ENTITIES, ...RELATIONS.flat(), ...FILLER, 'the', '.']) words(s);
  const triples: Triple[] = [];
  const tripleText: [string, string, string][] = [];
  for (let t = 0; t < nTriples; t++) {
    const h = pick(ENTITIES.length);
    let tl = pick(ENTITIES.length);
    if (tl === h) tl = (tl + 1) % ENTITIES.length;
    const r = RELATIONS[pick(RELATIONS.length)];
    triples.push({ head: words(ENTITIES[h]), relation: words(r[0]), tail: words(ENTITIES[tl]) });
    tripleText.push([ENTITIES[h], r[1], ENTITIES[tl]]);
  }
  const sentenceOf = (t: number): AnnotatedSentence => {
    const [h, phrase, tl] = tripleText[t];
    const ids: number[] = [];
    const spans: Span[] = [];
    const push = (s: string, kind: SpanKind | null) => {
      const start = ids.length;
      ids.push(...words(s));
      if (kind) spans.push({ start, end: ids.length, kind });
    };
    push('the', null);
    push(h, 'entity');
    push(phrase, 'phrase');
    push('the', null);
    push(tl, 'entity');
    push('.', null);
    return { ids, spans, triple: t };
  };
  const documents: AnnotatedSentence[][] = [];
  for (let d = 0; d < nDocs; d++) {
    const n = 3 + pick(4);
    const doc: AnnotatedSentence[] = [];
    for (let s = 0; s < n; s++) {
      if (gen.uniform() < 0.2) doc.push({ ids: [...words(FILLER[pick(FILLER.length)]), id('.')], spans: [], triple: -1 });
      else doc.push(sentenceOf(pick(nTriples)));
    }
    documents.push(doc);
  }
  return { vocab, triples, documents, id };
}

/** The sentence that expresses triple t in some document (null if none does). */
export function sentenceForTriple(kg: SyntheticKg, t: number): AnnotatedSentence | null {
  for (const doc of kg.documents) for (const s of doc) if (s.triple === t) return s;
  return null;
}
