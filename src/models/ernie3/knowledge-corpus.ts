/**
 * The WordNet knowledge corpus for ERNIE 3.0 pre-training and evaluation: `loadKnowledgeCorpus(dir)` reads a
 * prepared directory (default: the shipped `data/ernie/`, made by `kiln ernie prepare`, see data/ernie/README.md and
 * src/datapipe/text/wordnet-corpus.ts for the file formats) into token ids. It satisfies `PretrainCorpus`
 * (multitask.ts), so `MultiTaskSampler` draws all five tasks from it exactly as from `syntheticKg()`.
 *
 * Contract of the fields:
 * - `vocab`: word-level, lower-case; ids 0–4 are the specials of synthetic-kg.ts ([PAD] [CLS] [SEP] [MASK] [UNK]);
 *   then every word of every entity lemma, relation name and cloze item (always in, whatever `vocabSize`), then the
 *   most frequent corpus words. `id(word)` = its id, or UNK (4). `textOf(ids)` joins the words with spaces.
 *   `##s` is the plural marker: the corpus writes a plural mention in lemma form + `##s` ("apple tree ##s").
 * - `entities`: the entity lemmas (space-separated words); `entityPos[i]` its WordNet part of speech (n, v, a).
 * - `relations`: relation names (WordNet pointer names: hypernym, part meronym, antonym, similar to, derivation,
 *   attribute); a relation's label is its index. A triple `(head, relation, tail)` reads "tail is the relation of
 *   head": (dog, hypernym, canine), (tree, part meronym, trunk).
 * - `triples`: the pre-training triples, as id arrays; the relation ids are the relation name's words.
 *   `tripleRelation[i]` = the label of `triples[i]`. By default (`pretrainTriples: 'train'`, the strict protocol)
 *   the TRAIN triples only: pairs held out for evaluation never appear here. `pretrainTriples: 'all'` (the second,
 *   "full knowledge graph" protocol — ERNIE 3.0 pre-trains on a whole KG) appends the held-out triples after the
 *   train ones; the relation-classification and cloze splits do not change (fine-tuning never sees a test label).
 *   `heldOutTriples` (+ `heldOutRelation`): the triples of held-out pairs.
 * - `tripleSentences[i]`: every sentence that expresses `triples[i]` (its `k` list names it; for the held-out triples
 *   of the 'all' protocol, every sentence with both the head and the tail among its entity spans), in corpus order.
 * - `documents`: lists of `AnnotatedSentence`. `spans`: entity spans (tokens equal an entity lemma exactly) and
 *   phrase spans (multi-word WordNet expressions that are not entities, relation cue phrases like "a kind of"),
 *   never overlapping. `triple`: index into `triples` of the first (pre-training) triple whose head and tail are both
 *   entity spans of the sentence, else −1. Documents: WordNet gloss documents (definitions "<lemma> is a …" and example sentences
 *   of sibling synsets) and public-domain text (KJV) chunks that express at least one triple.
 * - `relationDataset`: relation classification of a word pair, `{ head, tail, label }` (label indexes `relations`);
 *   at most 300 pairs per relation; no unordered {head, tail} pair of `test` occurs in `train` (nor in `triples`).
 * - `cloze`: zero-shot hypernym items from held-out pairs: `context` = "<head> is", `candidates` = 4 continuations
 *   "<a|an> <lemma>" (the true hypernym and 3 hypernym lemmas that are not ancestors of the head), `answer` = the
 *   index of the true one. Score each candidate's log-likelihood after the context (NLG module).
 * - `clozeSeen`: the same items from TRAIN noun hypernym pairs (cloze-seen.jsonl; facts the knowledge tasks read under
 *   both protocols), at most as many as `cloze`: recall of pre-trained facts, to set beside `cloze`'s generalisation
 *   to held-out pairs. Empty when the directory has no cloze-seen.jsonl (prepared before it existed).
 *   A malformed line of either cloze file is an E_FORMAT error naming the file and line.
 * - `stats`: the counts of the preparation (stats.json).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../../errors.js';
import type { PretrainCorpus } from './multitask.js';
import { SPECIALS, UNK, type AnnotatedSentence, type Span, type Triple } from './synthetic-kg.js';

export interface RelationExample {
  head: number[];
  tail: number[];
  label: number;
}

export interface ClozeItem {
  context: number[];
  candidates: number[][];
  answer: number;
}

export interface KnowledgeCorpus extends PretrainCorpus {
  vocab: string[];
  id(word: string): number;
  textOf(ids: number[]): string;
  entities: string[];
  entityPos: string[];
  relations: string[];
  tripleRelation: number[];
  heldOutTriples: Triple[];
  heldOutRelation: number[];
  tripleSentences: AnnotatedSentence[][];
  relationDataset: { train: RelationExample[]; test: RelationExample[] };
  cloze: ClozeItem[];
  /** Cloze items from train pairs (seen by pre-training); [] for a directory without cloze-seen.jsonl. */
  clozeSeen: ClozeItem[];
  stats: Record<string, unknown>;
}

export interface LoadKnowledgeOptions {
  /** Cap the vocabulary (≥ the words the entities, relations and cloze items need); default: all of vocab.txt. */
  vocabSize?: number;
  /** Which triples pre-training may use: 'train' (default, strict) or 'all' (held-out triples too; see the header). */
  pretrainTriples?: 'train' | 'all';
}

/** The shipped prepared directory: `<repo>/data/ernie` (found upwards from this file, in src/ or dist/src/). */
export function defaultKnowledgeDir(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const c = join(d, 'data', 'ernie');
    if (existsSync(join(c, 'vocab.txt'))) return c;
    d = dirname(d);
  }
  throw new KilnError('E_IO', 'ERNIE knowledge corpus: data/ernie/vocab.txt not found above this module; pass the prepared directory explicitly (kiln ernie prepare --out <dir>)');
}

function read(dir: string, name: string): string {
  const p = join(dir, name);
  if (!existsSync(p)) throw new KilnError('E_IO', `ERNIE knowledge corpus: ${p} is missing; prepare the directory with kiln ernie prepare --out ${dir}`);
  return readFileSync(p, 'utf8');
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

/** The items of a cloze file's text (cloze.jsonl, cloze-seen.jsonl); a malformed line is an E_FORMAT error. */
function parseCloze(path: string, text: string, id: (w: string) => number): ClozeItem[] {
  const words = (x: unknown): x is string[] => Array.isArray(x) && x.length > 0 && x.every((w) => typeof w === 'string' && w !== '');
  const items: ClozeItem[] = [];
  text.split('\n').forEach((l, i) => {
    if (l === '') return;
    const bad = (why: string) => new KilnError('E_FORMAT', `${path}:${i + 1}: ${why}; expected {"context":[words],"candidates":[[words],…],"answer":i} per line — re-run kiln ernie prepare`);
    let c: { context?: unknown; candidates?: unknown; answer?: unknown };
    try {
      c = JSON.parse(l) as typeof c;
    } catch {
      throw bad('not JSON');
    }
    if (c === null || typeof c !== 'object') throw bad('not a JSON object');
    if (!words(c.context)) throw bad('"context" is not a non-empty list of words');
    if (!Array.isArray(c.candidates) || c.candidates.length < 2 || !c.candidates.every(words)) throw bad('"candidates" is not a list of ≥ 2 non-empty word lists');
    const cands = c.candidates as string[][];
    if (typeof c.answer !== 'number' || !Number.isInteger(c.answer) || c.answer < 0 || c.answer >= cands.length) throw bad(`"answer" is not an index into the ${cands.length} candidates`);
    items.push({ context: c.context.map(id), candidates: cands.map((x) => x.map(id)), answer: c.answer });
  });
  return items;
}

interface DocRecord {
  id: string;
  source: string;
  sentences: { t: string; e: [number, number][]; p: [number, number][]; k: number[] }[];
}

export function loadKnowledgeCorpus(dir: string = defaultKnowledgeDir(), o: LoadKnowledgeOptions = {}): KnowledgeCorpus {
  dir = resolve(dir);
  const stats = JSON.parse(read(dir, 'stats.json')) as Record<string, unknown>;
  const all = lines(read(dir, 'vocab.txt'));
  if (SPECIALS.some((s, i) => all[i] !== s)) throw new KilnError('E_FORMAT', `${join(dir, 'vocab.txt')}: must start with ${SPECIALS.join(' ')}`);
  const required = typeof stats.vocab_required === 'number' ? stats.vocab_required : all.length;
  const size = o.vocabSize ?? all.length;
  if (size < required)
    throw new KilnError('E_ARG', `ERNIE knowledge corpus: vocabSize ${size} is below the ${required} words entities, relations and cloze items need; use ≥ ${required}`);
  const vocab = all.slice(0, size);
  const index = new Map(vocab.map((w, i) => [w, i]));
  const id = (w: string): number => index.get(w) ?? UNK;
  const ids = (s: string): number[] => s.split(' ').map(id);
  const textOf = (xs: number[]): string => xs.map((x) => vocab[x] ?? '[?]').join(' ');

  const entRows = lines(read(dir, 'entities.tsv')).map((l) => l.split('\t'));
  if (!Array.isArray(stats.relations) || stats.relations.some((r) => typeof r !== 'string'))
    throw new KilnError('E_FORMAT', `${join(dir, 'stats.json')}: no "relations" list; re-run kiln ernie prepare`);
  const relations = stats.relations as string[];
  const label = (r: string, where: string): number => {
    const i = relations.indexOf(r);
    if (i < 0) throw new KilnError('E_FORMAT', `${where}: unknown relation "${r}" (known: ${relations.join(', ')})`);
    return i;
  };

  // Triples: train ones re-indexed; sentence k indices refer to triples.tsv rows.
  const triples: Triple[] = [], tripleRelation: number[] = [], heldOutTriples: Triple[] = [], heldOutRelation: number[] = [];
  const trainIndex = new Map<number, number>(); // triples.tsv row → index into `triples`
  const heldRows: number[] = [];
  lines(read(dir, 'triples.tsv')).forEach((l, row) => {
    const [h, r, t, split] = l.split('\t');
    const tr: Triple = { head: ids(h), relation: ids(r), tail: ids(t) };
    if (split === 'train') {
      trainIndex.set(row, triples.length);
      triples.push(tr);
      tripleRelation.push(label(r, 'triples.tsv'));
    } else {
      heldOutTriples.push(tr);
      heldOutRelation.push(label(r, 'triples.tsv'));
      heldRows.push(row);
    }
  });
  const protocol = o.pretrainTriples ?? 'train';
  if (protocol !== 'train' && protocol !== 'all') throw new KilnError('E_ARG', `ERNIE knowledge corpus: pretrainTriples must be 'train' or 'all', got '${String(protocol)}'`);
  if (protocol === 'all')
    heldRows.forEach((row, i) => {
      trainIndex.set(row, triples.length);
      triples.push(heldOutTriples[i]);
      tripleRelation.push(heldOutRelation[i]);
    });
  const tripleSentences: AnnotatedSentence[][] = triples.map(() => []);

  const documents: AnnotatedSentence[][] = lines(read(dir, 'documents.jsonl')).map((l) => {
    const d = JSON.parse(l) as DocRecord;
    return d.sentences.map((s) => {
      const spans: Span[] = [...s.e.map(([start, end]) => ({ start, end, kind: 'entity' as const })),
        ...s.p.map(([start, end]) => ({ start, end, kind: 'phrase' as const }))].sort((a, b) => a.start - b.start);
      const ks = s.k.map((x) => trainIndex.get(x)).filter((x): x is number => x !== undefined);
      const sentence: AnnotatedSentence = { ids: ids(s.t), spans, triple: ks[0] ?? -1 };
      for (const k of new Set(ks)) tripleSentences[k].push(sentence);
      return sentence;
    });
  });
  if (protocol === 'all') {
    // documents.jsonl's k lists name train triples only: find the sentences whose entity spans include both the head
    // and the tail of each held-out triple
    const bySpan = new Map<string, Set<AnnotatedSentence>>();
    for (const d of documents) for (const x of d) for (const sp of x.spans) {
      if (sp.kind !== 'entity') continue;
      const key = x.ids.slice(sp.start, sp.end).join(',');
      let set = bySpan.get(key);
      if (!set) bySpan.set(key, (set = new Set()));
      set.add(x);
    }
    heldRows.forEach((_, i) => {
      const t = heldOutTriples[i];
      const tails = bySpan.get(t.tail.join(','));
      for (const x of bySpan.get(t.head.join(',')) ?? []) if (tails?.has(x)) tripleSentences[triples.length - heldRows.length + i].push(x);
    });
  }

  const train: RelationExample[] = [], test: RelationExample[] = [];
  for (const l of lines(read(dir, 'relations.tsv'))) {
    const [h, t, r, split] = l.split('\t');
    (split === 'test' ? test : train).push({ head: ids(h), tail: ids(t), label: label(r, 'relations.tsv') });
  }
  const cloze = parseCloze(join(dir, 'cloze.jsonl'), read(dir, 'cloze.jsonl'), id);
  // cloze-seen.jsonl is optional: directories prepared before it existed still load (no seen items)
  const clozeSeen = existsSync(join(dir, 'cloze-seen.jsonl')) ? parseCloze(join(dir, 'cloze-seen.jsonl'), read(dir, 'cloze-seen.jsonl'), id) : [];
  return {
    vocab, id, textOf, entities: entRows.map((r) => r[0]), entityPos: entRows.map((r) => r[2]), relations,
    triples, tripleRelation, heldOutTriples, heldOutRelation, documents, tripleSentences, relationDataset: { train, test }, cloze, clozeSeen, stats,
  };
}
