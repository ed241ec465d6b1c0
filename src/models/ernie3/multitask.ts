/**
 * The multi-task sampler of ERNIE 3.0 pre-training: each step draws one of the five tasks (and the generative
 * knowledge-text extension, `knowledge_text_lm`, weight 0 unless asked for) with configurable weights
 * (seeded) and builds its batch from a corpus of annotated documents and triples (`SyntheticKg` today, the WordNet
 * corpus later — anything with the same shape). `taskLoss` runs the matching head of `Ernie3ForPreTraining`.
 *
 * Per step the trainer may change the batch size and the sequence length (progressive learning): `next(task,
 * { batchSize, seqLen })`. Every example is cut to `seqLen` tokens; document LM feeds `batchSize` documents side by
 * side, each row seqLen tokens as `segments` consecutive [B, ⌈seqLen / segments⌉] segments through the memory (a
 * shorter document's missing tail is padding with label −100). `reseed(s)` restarts
 * the generator, so a trainer can make the draws of step s a function of (seed, s) alone (bit-exact resume).
 * `knowledge: false` is the ablation without knowledge: the knowledge-masked LM masks single tokens (entity/phrase
 * spans ignored) and neither knowledge-text task is drawn (their weights are taken as 0).
 * Knowledge-text examples (`knowledgeText` options): a triple is drawn uniformly from the usable ones, then one of
 * the sentences that express it uniformly (`sentences: 'all'`, the default; the corpus's `tripleSentences`, else
 * every sentence whose `triple` is it) or its first one (`'first'`); a triple no sentence expresses is used alone
 * (relation masked) unless `alone: false` (then it is not usable). Generative knowledge-text examples draw the same
 * way and go through the NLG module as one segment (no memory) of B rows, padded tails labelled −100.
 */
import { KilnError } from '../../errors.js';
import { fromArray } from '../../tensor/creation.js';
import { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Ernie3ForPreTraining } from './heads.js';
import { disposeMemory, type Ernie3Memory } from './model.js';
import {
  collate, documentLmSegments, IGNORE, knowledgeMaskedLm, knowledgeTextLm, sentenceDistance, sentenceReordering, universalKnowledgeText, type Batch, type Example,
} from './pretrain-data.js';
import { PAD, type AnnotatedSentence, type Triple } from './synthetic-kg.js';

export const ERNIE3_TASKS = ['knowledge_mlm', 'document_lm', 'sentence_reorder', 'sentence_distance', 'knowledge_text', 'knowledge_text_lm'] as const;
export type Ernie3Task = (typeof ERNIE3_TASKS)[number];
/** The tasks that read the knowledge graph (dropped by the no-knowledge ablation). */
const KNOWLEDGE_TASKS: readonly Ernie3Task[] = ['knowledge_text', 'knowledge_text_lm'];
/** The default weights: the paper's five tasks equal, the generative extension off. */
export const DEFAULT_TASK_WEIGHTS: Readonly<Record<Ernie3Task, number>> = { ...Object.fromEntries(ERNIE3_TASKS.map((t) => [t, 1])) as Record<Ernie3Task, number>, knowledge_text_lm: 0 };

/** A corpus the tasks draw from: documents of annotated sentences, and triples with a sentence that mentions each. */
export interface PretrainCorpus {
  documents: AnnotatedSentence[][];
  triples: Triple[];
  /** Per triple, every sentence that expresses it (head and tail both mentioned); default: from `sentence.triple`. */
  tripleSentences?: AnnotatedSentence[][];
}

/** How universal knowledge-text examples are built (see the header). */
export interface KnowledgeTextOptions {
  /** 'all' sentences of a triple (default) or only its 'first'. */
  sentences?: 'all' | 'first';
  /** Use triples no sentence expresses, alone with their relation masked (default true). */
  alone?: boolean;
  /** Probability that a triple + sentence example masks the relation rather than sentence units (default 0.5). */
  relationMaskRate?: number;
}

export interface SamplerOptions {
  vocabSize: number;
  /** Task weights (relative; missing = 0). Default: `DEFAULT_TASK_WEIGHTS`. */
  weights?: Partial<Record<Ernie3Task, number>>;
  seed?: number;
  /** Examples per batch (classification and MLM tasks). Default 8. */
  batchSize?: number;
  /** Document-LM segment length. Default 16. */
  segLen?: number;
  /** Document-LM segments per step (consecutive, through the memory). Default 2. */
  segments?: number;
  maskRate?: number;
  reorderMaxSegments?: number;
  /** Longest example (tokens) of the MLM and classification tasks; longer ones are cut. Default: no limit. */
  maxLen?: number;
  /** false: no knowledge (plain token masking, no knowledge-text task). Default true. */
  knowledge?: boolean;
  knowledgeText?: KnowledgeTextOptions;
}

/** A step's batch shape (progressive learning changes it between steps). */
export interface StepShape {
  batchSize: number;
  /** Tokens per example (MLM and classification tasks) and per document-LM segment. */
  seqLen: number;
}

export interface TaskBatch {
  task: Ernie3Task;
  /** Batches of every task but document LM. */
  batch: Batch | null;
  /** Document LM: consecutive segments [B, L] of B documents (side by side; padded tails labelled −100). */
  segments: { inputIds: Tensor; labels: Tensor }[];
}

export class MultiTaskSampler {
  readonly weights: Record<Ernie3Task, number>;
  private readonly gen: Generator;
  /** The usable triples of knowledge-text prediction, each with its sentences (empty: used alone). */
  readonly tripleSentences: [Triple, AnnotatedSentence[]][];

  constructor(readonly corpus: PretrainCorpus, readonly o: SamplerOptions) {
    const w = o.weights ?? DEFAULT_TASK_WEIGHTS;
    for (const k of Object.keys(w)) if (!(ERNIE3_TASKS as readonly string[]).includes(k)) throw new KilnError('E_CONFIG', `multi-task sampler: unknown task '${k}'; tasks: ${ERNIE3_TASKS.join(', ')}`);
    this.weights = Object.fromEntries(ERNIE3_TASKS.map((t) => [t, w[t] ?? 0])) as Record<Ernie3Task, number>;
    if (o.knowledge === false) for (const t of KNOWLEDGE_TASKS) this.weights[t] = 0;
    const total = ERNIE3_TASKS.reduce((s, t) => s + this.weights[t], 0);
    if (ERNIE3_TASKS.some((t) => !(this.weights[t] >= 0)) || !(total > 0))
      throw new KilnError('E_CONFIG', `multi-task sampler: weights must be ≥ 0 with a positive sum, got ${JSON.stringify(w)}`);
    this.gen = new Generator(o.seed ?? 0);
    const kt = o.knowledgeText ?? {};
    let per = corpus.tripleSentences;
    if (per && per.length !== corpus.triples.length)
      throw new KilnError('E_ARG', `multi-task sampler: tripleSentences has ${per.length} entries for ${corpus.triples.length} triples; it must have one list per triple`);
    if (!per) {
      per = corpus.triples.map(() => []);
      for (const d of corpus.documents) for (const s of d) if (s.triple >= 0 && s.triple < per.length) per[s.triple].push(s);
    }
    this.tripleSentences = [];
    corpus.triples.forEach((t, i) => {
      const ss = kt.sentences === 'first' ? per![i].slice(0, 1) : per![i];
      if (ss.length > 0 || kt.alone !== false) this.tripleSentences.push([t, ss]);
    });
  }

  /** Restarts the generator from `seed` (the trainer reseeds it each step from (run seed, step)). */
  reseed(seed: number): void {
    this.gen.seed(seed);
  }

  /** Draws a task with probability weight / Σ weights. */
  nextTask(): Ernie3Task {
    const total = ERNIE3_TASKS.reduce((s, t) => s + this.weights[t], 0);
    let r = this.gen.uniform() * total;
    for (const t of ERNIE3_TASKS) {
      r -= this.weights[t];
      if (r < 0 && this.weights[t] > 0) return t;
    }
    return [...ERNIE3_TASKS].reverse().find((t) => this.weights[t] > 0)!;
  }

  private pick<T>(xs: T[]): T {
    return xs[Math.floor(this.gen.uniform() * xs.length)];
  }

  /** The next task and its batch (shape: this step's batch size and sequence length; default the options'). */
  next(task: Ernie3Task = this.nextTask(), shape?: StepShape): TaskBatch {
    const B = shape?.batchSize ?? this.o.batchSize ?? 8;
    const maxLen = shape?.seqLen ?? this.o.maxLen ?? Infinity;
    const mask = { vocabSize: this.o.vocabSize, rate: this.o.maskRate ?? 0.15 };
    const docs = this.corpus.documents;
    const xs = Array.from({ length: B });
    const cut = <E extends Example>(e: E): E =>
      e.inputIds.length <= maxLen ? e : { ...e, inputIds: e.inputIds.slice(0, maxLen), tokenTypeIds: e.tokenTypeIds.slice(0, maxLen), labels: e.labels?.slice(0, maxLen) };
    const batch = (f: () => Example) => collate(xs.map(() => cut(f())));
    switch (task) {
      case 'knowledge_mlm': {
        const sents = docs.flat();
        const plain = this.o.knowledge === false;
        return { task, batch: batch(() => { const s = this.pick(sents); return knowledgeMaskedLm(plain ? { ...s, spans: [] } : s, this.gen, mask); }), segments: [] };
      }
      case 'knowledge_text': {
        const rate = this.o.knowledgeText?.relationMaskRate;
        return { task, batch: batch(() => { const [t, s] = this.knowledgePair(task); return universalKnowledgeText(t, s, this.gen, { ...mask, relationMaskRate: rate }); }), segments: [] };
      }
      case 'knowledge_text_lm': {
        const rows = xs.map(() => { const [t, s] = this.knowledgePair(task); const e = knowledgeTextLm(t, s); return { inputIds: e.inputIds.slice(0, maxLen), labels: e.labels.slice(0, maxLen) }; });
        return { task, batch: null, segments: [padRows(rows)] };
      }
      case 'sentence_reorder':
        return { task, batch: batch(() => sentenceReordering(this.pick(docs).map((s) => s.ids), this.o.reorderMaxSegments ?? 3, this.gen)), segments: [] };
      case 'sentence_distance': {
        const ids = docs.map((d) => d.map((s) => s.ids));
        return { task, batch: batch(() => sentenceDistance(ids, this.gen)), segments: [] };
      }
      case 'document_lm': {
        // with a step shape, a row covers seqLen tokens in n segments of ⌈seqLen / n⌉ (the tokens of a step match the
        // other tasks'); without one, segments of segLen
        const n = this.o.segments ?? 2;
        const L = shape ? Math.max(1, Math.ceil(shape.seqLen / n)) : (this.o.segLen ?? 16);
        const long = this.docTokens().filter((d) => d.length > 1);
        if (long.length === 0) throw new KilnError('E_ARG', 'document LM needs a document of at least 2 tokens');
        // B documents side by side, n consecutive segments of each; missing tails are PAD with label −100
        const rows = xs.map(() => documentLmSegments(this.pick(long), L).slice(0, n));
        const segments = Array.from({ length: Math.max(...rows.map((r) => r.length)) }, (_, k) => padRows(rows.map((r) => r[k] ?? null), L));
        return { task, batch: null, segments };
      }
    }
  }

  /** A knowledge-text draw: a usable triple, and one of its sentences (null: the triple alone). */
  private knowledgePair(task: Ernie3Task): [Triple, AnnotatedSentence | null] {
    if (this.o.knowledge === false) throw new KilnError('E_ARG', `multi-task sampler: ${task} was asked for with knowledge: false (the no-knowledge ablation has no such task)`);
    if (this.tripleSentences.length === 0) throw new KilnError('E_ARG', 'knowledge-text prediction needs triples (with a sentence that mentions them, when alone: false)');
    const [t, ss] = this.pick(this.tripleSentences);
    return [t, ss.length === 0 ? null : ss.length === 1 ? ss[0] : this.pick(ss)];
  }

  private docTokensCache: number[][] | null = null;
  private docTokens(): number[][] {
    return (this.docTokensCache ??= this.corpus.documents.map((d) => d.flatMap((s) => s.ids)));
  }
}

/** Next-token rows (null: none) as one [B, L] segment (L: the longest row by default), PAD / −100 after each row. */
function padRows(rows: ({ inputIds: number[]; labels: number[] } | null)[], L = Math.max(1, ...rows.map((r) => r?.inputIds.length ?? 0))): { inputIds: Tensor; labels: Tensor } {
  const B = rows.length;
  const ids = new Int32Array(B * L).fill(PAD);
  const labels = new Int32Array(B * L).fill(IGNORE);
  rows.forEach((r, b) => {
    if (!r) return;
    ids.set(r.inputIds, b * L);
    labels.set(r.labels, b * L);
  });
  return { inputIds: fromArray(ids, [B, L], { dtype: 'i32' }), labels: fromArray(labels, [B, L], { dtype: 'i32' }) };
}

/** The loss of one sampled batch under its task's head (document LM: mean over its segments, through the memory). */
export function taskLoss(model: Ernie3ForPreTraining, tb: TaskBatch): Tensor {
  return taskForward(model, tb).loss;
}

export interface TaskOutput {
  loss: Tensor;
  /** Correct argmax predictions over the scored targets (masked tokens, next tokens, or classes), and their count. */
  correct: number;
  count: number;
}

/** Correct argmax predictions of logits [N, C] against targets [N] (−100 skipped). */
export function countCorrect(logits: Tensor, targets: Tensor): { correct: number; count: number } {
  const C = logits.shape[logits.ndim - 1];
  const x = logits.contiguous().data() as Float32Array;
  const t = targets.contiguous().data() as Int32Array;
  let correct = 0;
  let count = 0;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === IGNORE) continue;
    count++;
    let best = 0;
    for (let c = 1; c < C; c++) if (x[i * C + c] > x[i * C + best]) best = c;
    if (best === t[i]) correct++;
  }
  return { correct, count };
}

/** The loss of one sampled batch and the accuracy of its predictions (see `TaskOutput`). */
export function taskForward(model: Ernie3ForPreTraining, tb: TaskBatch): TaskOutput {
  switch (tb.task) {
    case 'knowledge_mlm':
    case 'knowledge_text': {
      const r = model.maskedLm(tb.batch!);
      return { loss: r.loss, ...countCorrect(r.logits, tb.batch!.labels!) };
    }
    case 'sentence_reorder':
    case 'sentence_distance': {
      const r = model.classificationLoss(tb.batch!, tb.task === 'sentence_reorder' ? 'reorder' : 'distance');
      return { loss: r.loss, ...countCorrect(r.logits, tb.batch!.label!) };
    }
    case 'document_lm':
    case 'knowledge_text_lm': {
      let memory: Ernie3Memory | null = null;
      let total: Tensor | null = null;
      let correct = 0;
      let count = 0;
      for (const s of tb.segments) {
        const r = model.documentLmLoss(s.inputIds, s.labels, memory);
        disposeMemory(memory);
        memory = r.memory;
        total = total ? total.add(r.loss) : r.loss;
        const a = countCorrect(r.logits, s.labels);
        correct += a.correct;
        count += a.count;
      }
      disposeMemory(memory);
      return { loss: total!.div(tb.segments.length), correct, count };
    }
  }
}
