/**
 * The ERNIE knowledge-corpus preparation as one call: builds the datapipe spec of data/ernie/prepare.yaml for given
 * WordNet directory, corpus files and options (`knowledgePrepareSpec`), runs it with the local executor in a scratch
 * directory, and leaves only the prepared files in `out` (`prepareKnowledgeCorpus`). `kiln ernie prepare` is this.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KilnError } from '../../errors.js';
import { builtinRegistry } from '../builtin-operators.js';
import { compileGraph, type PipelineSpec, type StageSpec } from '../graph.js';
import { runLocal } from '../local-executor.js';
import type { ProgressFn } from '../progress.js';
import type { Json } from '../types.js';
import { KG_DEFAULTS, type KgOptions } from './wordnet-kg.js';

export interface KnowledgePrepareOptions {
  wordnet: string;
  /** Plain-text corpus files (.txt). */
  corpus: string[];
  out: string;
  maxNounSynsets?: number;
  /** Other knowledge-graph options (roots, tag-count thresholds); defaults KG_DEFAULTS. */
  kg?: KgOptions;
  vocabSize?: number;
  testFraction?: number;
  maxPairsPerRelation?: number;
  /** Sentences per corpus document (default 12). */
  corpusDocSentences?: number;
  cpus?: number;
  onProgress?: ProgressFn;
}

export function knowledgePrepareSpec(o: KnowledgePrepareOptions): PipelineSpec {
  if (o.corpus.length === 0) throw new KilnError('E_ARG', 'ernie prepare: give at least one --corpus file');
  const kg: Record<string, Json> = { wordnet: resolve(o.wordnet), max_noun_synsets: o.maxNounSynsets ?? o.kg?.maxNounSynsets ?? KG_DEFAULTS.maxNounSynsets };
  if (o.kg?.roots) kg.roots = o.kg.roots;
  if (o.kg?.minTagCount !== undefined) kg.min_tag_count = o.kg.minTagCount;
  if (o.kg?.minAdjTagCount !== undefined) kg.min_adj_tag_count = o.kg.minAdjTagCount;
  if (o.kg?.minVerbTagCount !== undefined) kg.min_verb_tag_count = o.kg.minVerbTagCount;
  const stages: StageSpec[] = o.corpus.map((f, i) => ({ name: `corpus-${i}`, op: 'text-files', params: { input: resolve(f), extensions: ['txt'] } }));
  stages.push(
    { name: 'glosses', op: 'wordnet-glosses', params: kg },
    { name: 'split-corpus', op: 'split-sentences', input: o.corpus.map((_, i) => `corpus-${i}`),
      params: { extra_delimiters: ';:', max_sentences: o.corpusDocSentences ?? 12, min_words: 3 } },
    { name: 'split-glosses', op: 'split-sentences', input: 'glosses' },
    { name: 'link', op: 'link-entities', input: ['split-corpus', 'split-glosses'], params: kg },
    { name: 'write', op: 'knowledge-corpus', input: 'link',
      params: { ...kg, dir: resolve(o.out), vocab_size: o.vocabSize ?? 6000, test_fraction: o.testFraction ?? 0.2,
        max_pairs_per_relation: o.maxPairsPerRelation ?? 300 } },
  );
  return { name: 'ernie-knowledge', stages };
}

/** Runs the preparation; returns the stats it wrote (stats.json) and the wall time. */
export async function prepareKnowledgeCorpus(o: KnowledgePrepareOptions): Promise<{ stats: Record<string, unknown>; wallS: number }> {
  const spec = knowledgePrepareSpec(o);
  const noun = join(resolve(o.wordnet), 'data.noun');
  if (!existsSync(noun))
    throw new KilnError('E_IO', `${noun} not found; install Debian's wordnet-base (apt-get install -y wordnet-base) and pass its directory (/usr/share/wordnet)`);
  for (const f of o.corpus) if (!existsSync(f)) throw new KilnError('E_IO', `corpus file ${resolve(f)} does not exist; pass existing .txt files to --corpus`);
  const graph = compileGraph(spec, builtinRegistry(), { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' });
  const work = mkdtempSync(join(tmpdir(), 'kiln-ernie-prepare-'));
  try {
    const r = await runLocal(graph, { outDir: work, cpus: o.cpus, onProgress: o.onProgress, progressIntervalMs: 250 });
    if (r.summary.errors > 0)
      throw new KilnError('E_DATAPIPE', `ernie prepare: ${r.summary.errors} task(s) failed: ${readFileSync(join(work, 'errors.jsonl'), 'utf8').slice(0, 600)}`);
    return { stats: JSON.parse(readFileSync(join(resolve(o.out), 'stats.json'), 'utf8')) as Record<string, unknown>, wallS: r.wallS };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
