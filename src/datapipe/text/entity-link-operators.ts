/**
 * Datapipe operators that prepare ERNIE 3.0's knowledge corpus (WordNet knowledge graph aligned to text):
 *   wordnet-glosses    source: one "doc" per gloss document of the knowledge graph (definition and example
 *                      sentences of the kept synsets under one parent), one sentence per line, source "wordnet"
 *   split-sentences    flatMap doc → "sentences" items `{ id, source, sentences }` of at most `max_sentences`
 *                      sentences each (ids `<doc id>-s<first sentence index, 6 digits>`); splits at . ? ! (plus
 *                      `extra_delimiters`) and newlines
 *   link-entities      map "sentences" → "linked" `{ id, source, linked: [{ t, e, p }] }`: word tokens in lemma form
 *                      with entity and phrase spans (entity-link.ts; longest match, plurals)
 *   knowledge-corpus   sink (all): assigns triples to sentences, keeps the documents that express triples, builds
 *                      the relation-classification and cloze sets and the vocabulary, writes the files of
 *                      wordnet-corpus.ts into `dir` (relative to the run's output directory, or absolute)
 * The knowledge-graph params (`wordnet`, `roots` (noun synset keys), `max_noun_synsets`, `min_tag_count`, `min_adj_tag_count`,
 * `min_verb_tag_count`) must be equal on the three stages that take them; the graph is built once per process.
 */
import { resolve } from 'node:path';
import { KilnError } from '../../errors.js';
import { pInt, pList, pNum, pOnly, pStr } from '../params.js';
import type { Item, Json, OperatorDef, Params } from '../types.js';
import { LemmaLinker, splitSentences, wordTokens } from './entity-link.js';
import { loadWordNet } from './wordnet.js';
import { assembleKnowledgeCorpus, writeKnowledgeCorpus, type LinkedDocument, type LinkedSentenceRecord } from './wordnet-corpus.js';
import { buildKnowledgeGraph, KG_DEFAULTS, type KgOptions, type KnowledgeGraph } from './wordnet-kg.js';

const KG_PARAMS = ['wordnet', 'roots', 'max_noun_synsets', 'min_tag_count', 'min_adj_tag_count', 'min_verb_tag_count'];

interface KgHandle {
  kg: KnowledgeGraph;
  linker: LemmaLinker;
}
const cache = new Map<string, KgHandle>();

/** The knowledge graph and its linker for the stage params (built once per process and params). */
export function knowledgeGraphFor(p: Params): KgHandle {
  const dir = pStr(p, 'wordnet', '/usr/share/wordnet');
  const o: Required<KgOptions> = {
    roots: pList<string>(p, 'roots', KG_DEFAULTS.roots, 'string'),
    maxNounSynsets: pInt(p, 'max_noun_synsets', KG_DEFAULTS.maxNounSynsets, 1),
    minTagCount: pInt(p, 'min_tag_count', KG_DEFAULTS.minTagCount, 0),
    minAdjTagCount: pInt(p, 'min_adj_tag_count', KG_DEFAULTS.minAdjTagCount, 0),
    minVerbTagCount: pInt(p, 'min_verb_tag_count', KG_DEFAULTS.minVerbTagCount, 0),
  };
  const key = JSON.stringify([resolve(dir), o]);
  let h = cache.get(key);
  if (!h) {
    const wn = loadWordNet(dir);
    const kg = buildKnowledgeGraph(wn, o);
    const linker = new LemmaLinker(wn.exceptions.noun);
    for (const ph of kg.phrases) linker.add(ph, 'phrase');
    for (const e of kg.entities) linker.add(e.lemma, 'entity', e.pos === 'n');
    h = { kg, linker };
    cache.set(key, h);
  }
  return h;
}

/** Links sentences into the records of documents.jsonl (`t` tokens in lemma form, `e` entity and `p` phrase spans). */
export function linkSentences(linker: LemmaLinker, sentences: string[]): LinkedSentenceRecord[] {
  return sentences.map((s) => {
    const l = linker.link(wordTokens(s));
    return {
      t: l.tokens.join(' '),
      e: l.mentions.filter((m) => m.kind === 'entity').map((m): [number, number] => [m.start, m.end]),
      p: l.mentions.filter((m) => m.kind === 'phrase').map((m): [number, number] => [m.start, m.end]),
    };
  });
}

export const wordnetGlosses: OperatorDef = {
  name: 'wordnet-glosses', kind: 'source', inType: 'none', outType: 'doc', resources: { cpu: 0 },
  description: 'Gloss documents (definitions and examples) of the WordNet knowledge graph, one sentence per line',
  create(p) {
    pOnly(p, KG_PARAMS);
    return { kind: 'source', run: async function* () {
      for (const d of knowledgeGraphFor(p).kg.glossDocuments) yield { id: d.id, source: 'wordnet', text: d.sentences.join('\n') };
    } };
  },
};

export const splitSentencesOp: OperatorDef = {
  name: 'split-sentences', kind: 'flatMap', inType: 'doc', outType: 'sentences', resources: { cpu: 0.25, memoryMb: 64 },
  description: 'Split docs into sentences (at . ? ! extra_delimiters and newlines), max_sentences per output item',
  create(p) {
    pOnly(p, ['extra_delimiters', 'max_sentences', 'min_words']);
    const extra = pStr(p, 'extra_delimiters', '');
    const max = pInt(p, 'max_sentences', 1_000_000, 1);
    const minWords = pInt(p, 'min_words', 1, 0);
    return { kind: 'flatMap', run: async (it) => {
      if (typeof it.text !== 'string') throw new KilnError('E_DATAPIPE', `item ${it.id}: no "text" field`);
      const ss = splitSentences(it.text, extra).filter((s) => wordTokens(s).filter((w) => /[a-z0-9]/.test(w)).length >= minWords);
      const out: Item[] = [];
      for (let i = 0; i < ss.length; i += max)
        out.push({ id: `${it.id}-s${String(i).padStart(6, '0')}`, source: typeof it.source === 'string' ? it.source : it.id, sentences: ss.slice(i, i + max) });
      return out;
    } };
  },
};

export const linkEntities: OperatorDef = {
  name: 'link-entities', kind: 'map', inType: 'sentences', outType: 'linked', resources: { cpu: 1, memoryMb: 512 },
  description: 'Entity linking by lemma matching against the WordNet knowledge graph (longest match, plurals)',
  create(p) {
    pOnly(p, KG_PARAMS);
    return { kind: 'map', run: async (it) => {
      if (!Array.isArray(it.sentences)) throw new KilnError('E_DATAPIPE', `item ${it.id}: no "sentences" list (put split-sentences before link-entities)`);
      const linked = linkSentences(knowledgeGraphFor(p).linker, (it.sentences as string[]).map(String)) as unknown as Json[];
      const { sentences: _s, ...rest } = it;
      void _s;
      return { ...rest, linked };
    } };
  },
};

export const knowledgeCorpus: OperatorDef = {
  name: 'knowledge-corpus', kind: 'sink', inType: 'linked', outType: 'linked', resources: { cpu: 1, memoryMb: 1024 },
  description: 'Assemble and write the ERNIE knowledge corpus (triples per sentence, relation and cloze sets, vocab)',
  create(p) {
    pOnly(p, [...KG_PARAMS, 'dir', 'test_fraction', 'max_pairs_per_relation', 'vocab_size', 'min_triple_sentences']);
    const dir = pStr(p, 'dir', 'ernie');
    const o = {
      testFraction: pNum(p, 'test_fraction', 0.2, 0, 1), maxPairsPerRelation: pInt(p, 'max_pairs_per_relation', 300, 1),
      vocabSize: pInt(p, 'vocab_size', 6000, 6), minTripleSentences: pInt(p, 'min_triple_sentences', 1, 0),
    };
    return { kind: 'sink', size: 'all', run: async (items, ctx) => {
      const { kg } = knowledgeGraphFor(p);
      // Items of one source document (ids <doc>-sNNNNNN) become consecutive documents in id order.
      const docs: LinkedDocument[] = items.map((it) => {
        if (!Array.isArray(it.linked)) throw new KilnError('E_DATAPIPE', `item ${it.id}: no "linked" list (put link-entities before knowledge-corpus)`);
        return { id: it.id, source: typeof it.source === 'string' && it.source !== 'wordnet' ? 'text' : 'wordnet',
          sentences: it.linked as unknown as LinkedSentenceRecord[] };
      });
      const corpus = assembleKnowledgeCorpus(kg, docs, o);
      const target = resolve(ctx.outDir, dir);
      writeKnowledgeCorpus(target, corpus);
      return { out: items.map((it) => ({ id: it.id, source: it.source, sentences: (it.linked as unknown[]).length, prepared: target })) };
    } };
  },
};

export const KNOWLEDGE_OPERATORS: OperatorDef[] = [wordnetGlosses, splitSentencesOp, linkEntities, knowledgeCorpus];
