/**
 * Assembles the prepared ERNIE 3.0 knowledge corpus from linked documents and the WordNet knowledge graph, and
 * reads/writes its files. Pure data (strings and numbers): the datapipe sink `knowledge-corpus` calls
 * `assembleKnowledgeCorpus` then `writeKnowledgeCorpus`; models read the files with their own loader.
 *
 * Files of a prepared directory (all UTF-8 text):
 *   entities.tsv        lemma \t synset key (offset-pos) \t pos
 *   triples.tsv         head \t relation \t tail \t split (train | test); test = the pair is held out
 *   relations.tsv       head \t tail \t relation \t split — the relation-classification set (balanced, pair-disjoint)
 *   cloze.jsonl         {"head","relation":"hypernym","context":[words],"candidates":[[words]×4],"answer":i}
 *   cloze-seen.jsonl    the same records from TRAIN noun hypernym pairs (facts pre-training's knowledge tasks read)
 *   documents.jsonl     {"id","source","sentences":[{"t":"space-joined tokens","e":[[s,e]…],"p":[[s,e]…],"k":[triple…]}]}
 *                       e = entity spans, p = phrase spans ([start, end) over the tokens), k = indices (0-based, in
 *                       triples.tsv order) of the TRAIN triples whose head and tail spans both occur in the sentence
 *   vocab.txt           one word per line: the specials, then every word of entities/relations/both cloze sets, then the
 *                       most frequent other corpus words (ties alphabetical), up to the vocabulary size
 *   stats.json          the counts (docs/ernie3.md quotes them)
 * Splits: an unordered {head, tail} pair is held out when a stable hash of it falls under `testFraction`; all its
 * triples are then `test` and are never listed as a sentence's triple. Cloze items come from held-out hypernym
 * pairs whose head is a noun: context "<head> is", candidates "<a|an> <lemma>" (the true hypernym and the 3 hypernym
 * lemmas that are not ancestors of the head with the corpus mention counts closest to the answer's, in log scale, so
 * that word frequency alone does not find the answer), answer position from the hash. The "seen" cloze is built the
 * same way from train noun hypernym pairs, at most as many items as the held-out set (those with the lowest
 * `unitHash("seen\t<head>\t<tail>")`, kept in triples.tsv order), so recall of pre-trained facts can be told from
 * generalisation to held-out ones.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PLURAL_MARKER } from './entity-link.js';
import { article, type KgTriple, type KnowledgeGraph } from './wordnet-kg.js';

export const SPECIAL_TOKENS = ['[PAD]', '[CLS]', '[SEP]', '[MASK]', '[UNK]'];

/** The relation classes of the prepared corpus (triples and the classification set), in label order. */
export const CORPUS_RELATIONS = ['hypernym', 'part meronym', 'antonym', 'similar to', 'derivation', 'attribute'];

/** One linked sentence: tokens in lemma form and its spans. */
export interface LinkedSentenceRecord {
  t: string;
  e: [number, number][];
  p: [number, number][];
}

export interface LinkedDocument {
  id: string;
  source: string;
  sentences: LinkedSentenceRecord[];
}

export interface PreparedSentence extends LinkedSentenceRecord {
  k: number[];
}

export interface PreparedTriple extends KgTriple {
  split: 'train' | 'test';
}

export interface RelationPair {
  head: string;
  tail: string;
  relation: string;
  split: 'train' | 'test';
}

export interface ClozeRecord {
  head: string;
  relation: string;
  context: string[];
  candidates: string[][];
  answer: number;
}

export interface PreparedCorpus {
  entities: KnowledgeGraph['entities'];
  triples: PreparedTriple[];
  relations: RelationPair[];
  cloze: ClozeRecord[];
  /** Cloze items from train pairs (the "seen" set): same format and rule as `cloze`. */
  clozeSeen: ClozeRecord[];
  documents: { id: string; source: string; sentences: PreparedSentence[] }[];
  vocab: string[];
  stats: Record<string, unknown>;
}

export interface AssembleOptions {
  /** Fraction of pairs held out (default 0.2). */
  testFraction?: number;
  /** Most pairs of one relation in the classification set (default 300). */
  maxPairsPerRelation?: number;
  /** Vocabulary size including the specials (default 6000). */
  vocabSize?: number;
  /** Keep a non-WordNet document only when ≥ this many of its sentences express a triple (default 1). */
  minTripleSentences?: number;
}

/** A stable number in [0, 1) for a string. */
export function unitHash(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32BE(0) / 2 ** 32;
}

export const pairKey = (a: string, b: string): string => [a, b].sort().join('\t');

export function assembleKnowledgeCorpus(kg: KnowledgeGraph, docs: LinkedDocument[], options: AssembleOptions = {}): PreparedCorpus {
  const testFraction = options.testFraction ?? 0.2;
  const maxPairs = options.maxPairsPerRelation ?? 300;
  const vocabSize = options.vocabSize ?? 6000;
  const minTriple = options.minTripleSentences ?? 1;

  // Triples of the corpus relations, split by pair.
  const triples: PreparedTriple[] = kg.triples.filter((t) => CORPUS_RELATIONS.includes(t.relation))
    .map((t) => ({ ...t, split: unitHash(pairKey(t.head, t.tail)) < testFraction ? 'test' : 'train' }));
  const byHead = new Map<string, number[]>();
  triples.forEach((t, i) => {
    if (t.split !== 'train') return;
    const l = byHead.get(t.head);
    if (l) l.push(i);
    else byHead.set(t.head, [i]);
  });

  // Sentences: which train triples each expresses (head and tail both mentioned as entities).
  const outDocs: PreparedCorpus['documents'] = [];
  let sentences = 0, tripleSentences = 0, mentions = 0, phraseSpans = 0;
  const expressed = new Set<number>();
  for (const d of [...docs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const ss: PreparedSentence[] = d.sentences.map((s) => {
      const toks = s.t.split(' ');
      const ents = new Set(s.e.map(([a, b]) => toks.slice(a, b).join(' ')));
      const k: number[] = [];
      for (const h of ents) for (const i of byHead.get(h) ?? []) if (ents.has(triples[i].tail)) k.push(i);
      return { ...s, k: k.sort((a, b) => a - b) };
    });
    const withTriple = ss.filter((s) => s.k.length > 0).length;
    if (d.source !== 'wordnet' && withTriple < minTriple) continue;
    outDocs.push({ id: d.id, source: d.source, sentences: ss });
    sentences += ss.length;
    tripleSentences += withTriple;
    for (const s of ss) {
      mentions += s.e.length;
      phraseSpans += s.p.length;
      for (const i of s.k) expressed.add(i);
    }
  }

  // The relation-classification set: pairs (one relation each), at most maxPairs per relation, split by pair.
  const pairRel = new Map<string, PreparedTriple>();
  const ambiguous = new Set<string>();
  for (const t of triples) {
    const key = pairKey(t.head, t.tail);
    if (pairRel.has(key) && pairRel.get(key)!.relation !== t.relation) ambiguous.add(key);
    else pairRel.set(key, t);
  }
  const relations: RelationPair[] = [];
  const pairs = [...pairRel].filter(([k]) => !ambiguous.has(k)).map(([k, t]) => ({ k, t, pick: unitHash(`pick\t${k}`), order: unitHash(`order\t${k}`) }));
  const ordered: typeof pairs = [];
  for (const rel of CORPUS_RELATIONS) ordered.push(...pairs.filter((x) => x.t.relation === rel).sort((a, b) => a.pick - b.pick).slice(0, maxPairs));
  for (const { t } of ordered.sort((a, b) => a.order - b.order)) relations.push({ head: t.head, tail: t.tail, relation: t.relation, split: t.split });

  // Cloze items from held-out (and, the "seen" set, train) noun hypernym pairs.
  const mentionCount = new Map<string, number>();
  for (const d of outDocs)
    for (const x of d.sentences) {
      const toks = x.t.split(' ');
      for (const [a, b] of x.e) {
        const l = toks.slice(a, b).join(' ');
        mentionCount.set(l, (mentionCount.get(l) ?? 0) + 1);
      }
    }
  const pos = new Map(kg.entities.map((e) => [e.lemma, e.pos]));
  const hyper = new Map<string, string[]>();
  for (const t of kg.triples) if (t.relation === 'hypernym') hyper.set(t.head, [...(hyper.get(t.head) ?? []), t.tail]);
  const ancestors = (h: string): Set<string> => {
    const seen = new Set<string>();
    const stack = [h];
    while (stack.length) for (const p of hyper.get(stack.pop()!) ?? []) if (!seen.has(p)) (seen.add(p), stack.push(p));
    return seen;
  };
  const hyperTails = [...new Set(triples.filter((t) => t.relation === 'hypernym').map((t) => t.tail))].sort();
  const clozeItem = (t: PreparedTriple): ClozeRecord | null => {
    const anc = ancestors(t.head);
    // distractors as frequent in the corpus as the answer (so a unigram prior cannot pick the answer)
    const fa = Math.log1p(mentionCount.get(t.tail) ?? 0);
    const distract = hyperTails.filter((x) => !anc.has(x) && x !== t.head)
      .map((x) => ({ x, d: Math.abs(Math.log1p(mentionCount.get(x) ?? 0) - fa), h: unitHash(`${t.head}\t${x}`) }))
      .sort((a, b) => a.d - b.d || a.h - b.h).slice(0, 3).map((y) => y.x);
    if (distract.length < 3) return null;
    const answer = Math.floor(unitHash(`answer\t${t.head}\t${t.tail}`) * 4);
    const cands = [...distract];
    cands.splice(answer, 0, t.tail);
    return { head: t.head, relation: 'hypernym', context: [...t.head.split(' '), 'is'],
      candidates: cands.map((c) => [article(c), ...c.split(' ')]), answer };
  };
  const clozeOf = (split: PreparedTriple['split']) => triples
    .filter((t) => t.relation === 'hypernym' && t.split === split && pos.get(t.head) === 'n')
    .map((t) => ({ t, item: clozeItem(t) })).filter((x): x is { t: PreparedTriple; item: ClozeRecord } => x.item !== null);
  const cloze: ClozeRecord[] = clozeOf('test').map((x) => x.item);
  // Cloze items from train noun hypernym pairs ("seen"): as many as the held-out set at most, chosen by a hash of the
  // pair, kept in triples order.
  const seenAll = clozeOf('train').map((x) => ({ ...x, h: unitHash(`seen\t${x.t.head}\t${x.t.tail}`) }));
  const seenKeep = new Set([...seenAll].sort((x, y) => x.h - y.h).slice(0, cloze.length).map((x) => x.item));
  const clozeSeen: ClozeRecord[] = seenAll.filter((x) => seenKeep.has(x.item)).map((x) => x.item);

  // Vocabulary.
  const must = new Set<string>();
  for (const e of kg.entities) for (const w of e.lemma.split(' ')) must.add(w);
  for (const r of CORPUS_RELATIONS) for (const w of r.split(' ')) must.add(w);
  for (const c of [...cloze, ...clozeSeen]) for (const w of [...c.context, ...c.candidates.flat()]) must.add(w);
  must.add(PLURAL_MARKER);
  const counts = new Map<string, number>();
  for (const d of outDocs) for (const s of d.sentences) for (const w of s.t.split(' ')) counts.set(w, (counts.get(w) ?? 0) + 1);
  const byCount = (a: string, b: string) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0) || (a < b ? -1 : a > b ? 1 : 0);
  const vocab = [...SPECIAL_TOKENS, ...[...must].sort(byCount)];
  for (const w of [...counts.keys()].filter((w) => !must.has(w)).sort(byCount)) {
    if (vocab.length >= vocabSize) break;
    vocab.push(w);
  }
  const inVocab = new Set(vocab);
  let tokens = 0, unk = 0;
  for (const [w, c] of counts) {
    tokens += c;
    if (!inVocab.has(w)) unk += c;
  }

  const count = <T>(xs: T[], f: (x: T) => string) => xs.reduce<Record<string, number>>((m, x) => ((m[f(x)] = (m[f(x)] ?? 0) + 1), m), {});
  const stats = {
    relations: CORPUS_RELATIONS, vocab_required: SPECIAL_TOKENS.length + must.size,
    entities: kg.entities.length, entities_by_pos: count(kg.entities, (e) => e.pos), synsets: kg.representatives.size,
    triples: triples.length, triples_by_relation: count(triples, (t) => t.relation), triples_by_split: count(triples, (t) => t.split),
    train_triples_expressed_by_a_sentence: expressed.size,
    documents: outDocs.length, documents_by_source: count(outDocs, (d) => d.source), sentences, triple_sentences: tripleSentences,
    entity_mentions: mentions, phrase_spans: phraseSpans, tokens, unk_tokens: unk, vocab: vocab.length,
    relation_pairs: relations.length, relation_pairs_by_split: count(relations, (r) => r.split),
    relation_pairs_by_relation: count(relations, (r) => `${r.relation} ${r.split}`), cloze: cloze.length,
    cloze_seen: clozeSeen.length,
  };
  return { entities: kg.entities, triples, relations, cloze, clozeSeen, documents: outDocs, vocab, stats };
}

/** Writes a prepared corpus into `dir` (each file written to a temp name, then renamed). */
export function writeKnowledgeCorpus(dir: string, c: PreparedCorpus): string[] {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    'entities.tsv': c.entities.map((e) => `${e.lemma}\t${e.synset}\t${e.pos}\n`).join(''),
    'triples.tsv': c.triples.map((t) => `${t.head}\t${t.relation}\t${t.tail}\t${t.split}\n`).join(''),
    'relations.tsv': c.relations.map((r) => `${r.head}\t${r.tail}\t${r.relation}\t${r.split}\n`).join(''),
    'cloze.jsonl': c.cloze.map((x) => `${JSON.stringify(x)}\n`).join(''),
    'cloze-seen.jsonl': c.clozeSeen.map((x) => `${JSON.stringify(x)}\n`).join(''),
    'documents.jsonl': c.documents.map((d) => `${JSON.stringify(d)}\n`).join(''),
    'vocab.txt': c.vocab.map((w) => `${w}\n`).join(''),
    'stats.json': `${JSON.stringify(c.stats, null, 2)}\n`,
  };
  for (const [name, text] of Object.entries(files)) {
    const tmp = join(dir, `.${name}.tmp-${process.pid}`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, name));
  }
  return Object.keys(files);
}
