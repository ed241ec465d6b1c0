/**
 * What ERNIE 3.0 training and evaluation read: a pre-training corpus (documents of annotated sentences + triples,
 * `PretrainCorpus`) with its word vocabulary, plus the two evaluation sets of issue 6 item 5 — relation
 * classification between two words (a held-out split whose word pairs are disjoint from the training pairs) and a
 * zero-shot cloze ("a dog is a kind of ___": a context and candidate completions, one of them right).
 * `ErnieTaskData` is what of the WordNet knowledge corpus (src/models/ernie3/knowledge-corpus.ts,
 * `loadKnowledgeCorpus(dir)`, shipped in data/ernie/) these read; `syntheticTaskData` builds the same shape from the
 * tiny synthetic knowledge graph (tests). `loadErnieData(source)`: 'synthetic', or a prepared directory (with
 * `pretrainTriples: 'all'`, the second, full-knowledge-graph protocol of knowledge-corpus.ts).
 */
import { KilnError } from '../errors.js';
import { loadKnowledgeCorpus, type ClozeItem, type RelationExample } from '../models/ernie3/knowledge-corpus.js';
import type { PretrainCorpus } from '../models/ernie3/multitask.js';
import { syntheticKg, type AnnotatedSentence, type Triple } from '../models/ernie3/synthetic-kg.js';

export type { ClozeItem, RelationExample };

export interface ErnieTaskData extends PretrainCorpus {
  vocab: string[];
  id(word: string): number;
  /** Relation names; a relation example's label indexes this list. */
  relations: string[];
  relationDataset: { train: RelationExample[]; test: RelationExample[] };
  cloze: ClozeItem[];
  /** Cloze items from pairs pre-training read (train triples), scored like `cloze`: recall, not generalisation; may be empty. */
  clozeSeen: ClozeItem[];
  textOf(ids: number[]): string;
}

/**
 * The synthetic knowledge graph as task data: relation examples from its triples (the pairs of every fourth distinct
 * (head, tail) pair held out: every sentence that states a held-out triple dropped from the documents, and the
 * held-out triples left out of `triples`, which pre-training reads), and a
 * cloze from each held-out triple: "the <head> <relation words> the ___" over its true tail and up to 3 other
 * entities; `clozeSeen`: the same items from as many train triples (distinct triples, evenly spaced over them in
 * order).
 */
export function syntheticTaskData({ seed = 0, nTriples = 40, nDocs = 24 }: { seed?: number; nTriples?: number; nDocs?: number } = {}): ErnieTaskData {
  const kg = syntheticKg({ seed, nTriples, nDocs });
  const key = (t: Triple) => `${t.head.join(' ')}|${t.tail.join(' ')}`;
  const pairs = [...new Set(kg.triples.map(key))];
  const heldPairs = new Set(pairs.filter((_, i) => i % 4 === 3));
  const relIds = [...new Set(kg.triples.map((t) => t.relation.join(' ')))];
  const relations = relIds.map((r) => r.split(' ').map((i) => kg.vocab[Number(i)]).join(' '));
  const train: RelationExample[] = [];
  const test: RelationExample[] = [];
  const seen = new Set<string>();
  kg.triples.forEach((t) => {
    const k = `${key(t)}|${t.relation.join(' ')}`;
    if (seen.has(k)) return;
    seen.add(k);
    (heldPairs.has(key(t)) ? test : train).push({ head: t.head, tail: t.tail, label: relIds.indexOf(t.relation.join(' ')) });
  });
  const heldTriple = new Set(kg.triples.map((t, i) => (heldPairs.has(key(t)) ? i : -1)).filter((i) => i >= 0));
  // pre-training sees the train triples only (re-indexed; a sentence's `triple` follows)
  const newIndex = new Map<number, number>();
  const triples: Triple[] = [];
  kg.triples.forEach((t, i) => {
    if (heldTriple.has(i)) return;
    newIndex.set(i, triples.length);
    triples.push(t);
  });
  const documents: AnnotatedSentence[][] = kg.documents
    .map((d) => d.filter((s) => !heldTriple.has(s.triple)).map((s) => ({ ...s, triple: s.triple < 0 ? -1 : newIndex.get(s.triple)! })))
    .filter((d) => d.length >= 2);
  const entities = [...new Map(kg.triples.flatMap((t) => [t.head, t.tail]).map((e) => [e.join(' '), e])).values()];
  const the = kg.id('the');
  const clozeItem = (t: Triple, i: number): ClozeItem => {
    // the relation's surface words, as the documents write them (the sentence that states the triple, if any)
    const s = kg.documents.flat().find((x) => x.triple === i);
    const phrase = s ? s.ids.slice(s.spans[1].start, s.spans[1].end) : t.relation;
    const others = entities.filter((e) => e.join(' ') !== t.tail.join(' ') && e.join(' ') !== t.head.join(' ')).slice(i % 5, (i % 5) + 3);
    const candidates = [t.tail, ...others];
    const answer = i % candidates.length;
    [candidates[0], candidates[answer]] = [candidates[answer], candidates[0]];
    return { context: [the, ...t.head, ...phrase, the], candidates, answer };
  };
  const cloze: ClozeItem[] = [];
  kg.triples.forEach((t, i) => {
    if (heldTriple.has(i)) cloze.push(clozeItem(t, i));
  });
  // seen: distinct train triples, as many as the held-out items, evenly spaced over them
  const trainIdx: number[] = [];
  const seenTriple = new Set<string>();
  kg.triples.forEach((t, i) => {
    const k = `${key(t)}|${t.relation.join(' ')}`;
    if (heldTriple.has(i) || seenTriple.has(k)) return;
    seenTriple.add(k);
    trainIdx.push(i);
  });
  const nSeen = Math.min(cloze.length, trainIdx.length);
  const clozeSeen = Array.from({ length: nSeen }, (_, j) => trainIdx[Math.floor((j * trainIdx.length) / nSeen)]).map((i) => clozeItem(kg.triples[i], i));
  return {
    documents, triples, vocab: kg.vocab, id: kg.id, relations, relationDataset: { train, test }, cloze, clozeSeen,
    textOf: (ids) => ids.map((i) => kg.vocab[i] ?? '[?]').join(' '),
  };
}

/** Checks that the data fits a model of `vocabSize` words and has what training and evaluation need. */
export function checkTaskData(d: ErnieTaskData, vocabSize: number, source: string): void {
  if (d.vocab.length > vocabSize)
    throw new KilnError('E_ARG', `${source}: the vocabulary has ${d.vocab.length} words but the model only ${vocabSize}; build the model with vocab_size ≥ ${d.vocab.length}`);
  if (d.documents.length < 2) throw new KilnError('E_ARG', `${source}: needs at least 2 documents, got ${d.documents.length}`);
}

/** 'synthetic' (the synthetic knowledge graph) or a prepared knowledge-corpus directory (default data/ernie). */
export function loadErnieData(source?: string, o: { pretrainTriples?: 'train' | 'all' } = {}): ErnieTaskData {
  if (source === 'synthetic') {
    if (o.pretrainTriples === 'all') throw new KilnError('E_ARG', "the synthetic data has no held-out triples to add (pretrainTriples: 'all' needs a prepared corpus directory)");
    return syntheticTaskData();
  }
  return loadKnowledgeCorpus(source, { pretrainTriples: o.pretrainTriples });
}
