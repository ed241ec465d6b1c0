/**
 * The multi-task sampler of ERNIE 3.0 pre-training: each step draws one of the five tasks with configurable weights
 * (seeded) and builds its batch from a corpus of annotated documents and triples (`SyntheticKg` today, the WordNet
 * corpus later — anything with the same shape). `taskLoss` runs the matching head of `Ernie3ForPreTraining`.
 */
import { KilnError } from '../../errors.js';
import { fromArray } from '../../tensor/creation.js';
import { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Ernie3ForPreTraining } from './heads.js';
import { disposeMemory, type Ernie3Memory } from './model.js';
import {
  collate, documentLmSegments, knowledgeMaskedLm, sentenceDistance, sentenceReordering, universalKnowledgeText, type Batch,
} from './pretrain-data.js';
import type { AnnotatedSentence, Triple } from './synthetic-kg.js';

export const ERNIE3_TASKS = ['knowledge_mlm', 'document_lm', 'sentence_reorder', 'sentence_distance', 'knowledge_text'] as const;
export type Ernie3Task = (typeof ERNIE3_TASKS)[number];

/** A corpus the tasks draw from: documents of annotated sentences, and triples with a sentence that mentions each. */
export interface PretrainCorpus {
  documents: AnnotatedSentence[][];
  triples: Triple[];
}

export interface SamplerOptions {
  vocabSize: number;
  /** Task weights (relative; missing = 0). Default: all five equal. */
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
}

export interface TaskBatch {
  task: Ernie3Task;
  /** Batches of every task but document LM. */
  batch: Batch | null;
  /** Document LM: consecutive segments [1, L] of one document. */
  segments: { inputIds: Tensor; labels: Tensor }[];
}

export class MultiTaskSampler {
  readonly weights: Record<Ernie3Task, number>;
  private readonly gen: Generator;
  private readonly tripleSentences: [Triple, AnnotatedSentence][];

  constructor(readonly corpus: PretrainCorpus, readonly o: SamplerOptions) {
    const w = o.weights ?? Object.fromEntries(ERNIE3_TASKS.map((t) => [t, 1]));
    for (const k of Object.keys(w)) if (!(ERNIE3_TASKS as readonly string[]).includes(k)) throw new KilnError('E_CONFIG', `multi-task sampler: unknown task '${k}'; tasks: ${ERNIE3_TASKS.join(', ')}`);
    this.weights = Object.fromEntries(ERNIE3_TASKS.map((t) => [t, w[t] ?? 0])) as Record<Ernie3Task, number>;
    const total = ERNIE3_TASKS.reduce((s, t) => s + this.weights[t], 0);
    if (ERNIE3_TASKS.some((t) => !(this.weights[t] >= 0)) || !(total > 0))
      throw new KilnError('E_CONFIG', `multi-task sampler: weights must be ≥ 0 with a positive sum, got ${JSON.stringify(w)}`);
    this.gen = new Generator(o.seed ?? 0);
    this.tripleSentences = [];
    corpus.triples.forEach((t, i) => {
      const s = corpus.documents.flat().find((x) => x.triple === i);
      if (s) this.tripleSentences.push([t, s]);
    });
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

  /** The next task and its batch. */
  next(task: Ernie3Task = this.nextTask()): TaskBatch {
    const B = this.o.batchSize ?? 8;
    const mask = { vocabSize: this.o.vocabSize, rate: this.o.maskRate ?? 0.15 };
    const docs = this.corpus.documents;
    const xs = Array.from({ length: B });
    switch (task) {
      case 'knowledge_mlm': {
        const sents = docs.flat();
        return { task, batch: collate(xs.map(() => knowledgeMaskedLm(this.pick(sents), this.gen, mask))), segments: [] };
      }
      case 'knowledge_text': {
        if (this.tripleSentences.length === 0) throw new KilnError('E_ARG', 'knowledge-text prediction needs triples with a sentence that mentions them');
        return { task, batch: collate(xs.map(() => { const [t, s] = this.pick(this.tripleSentences); return universalKnowledgeText(t, s, this.gen, mask); })), segments: [] };
      }
      case 'sentence_reorder':
        return { task, batch: collate(xs.map(() => sentenceReordering(this.pick(docs).map((s) => s.ids), this.o.reorderMaxSegments ?? 3, this.gen))), segments: [] };
      case 'sentence_distance': {
        const ids = docs.map((d) => d.map((s) => s.ids));
        return { task, batch: collate(xs.map(() => sentenceDistance(ids, this.gen))), segments: [] };
      }
      case 'document_lm': {
        const L = this.o.segLen ?? 16;
        const n = this.o.segments ?? 2;
        const long = docs.map((d) => d.flatMap((s) => s.ids)).filter((d) => d.length > L * n);
        if (long.length === 0) throw new KilnError('E_ARG', `document LM needs a document longer than ${L * n} tokens`);
        const segs = documentLmSegments(this.pick(long), L).slice(0, n);
        const t = (a: number[]) => fromArray(Int32Array.from(a), [1, a.length], { dtype: 'i32' });
        return { task, batch: null, segments: segs.map((s) => ({ inputIds: t(s.inputIds), labels: t(s.labels) })) };
      }
    }
  }
}

/** The loss of one sampled batch under its task's head (document LM: mean over its segments, through the memory). */
export function taskLoss(model: Ernie3ForPreTraining, tb: TaskBatch): Tensor {
  switch (tb.task) {
    case 'knowledge_mlm':
    case 'knowledge_text':
      return model.maskedLmLoss(tb.batch!);
    case 'sentence_reorder':
      return model.classificationLoss(tb.batch!, 'reorder').loss;
    case 'sentence_distance':
      return model.classificationLoss(tb.batch!, 'distance').loss;
    case 'document_lm': {
      let memory: Ernie3Memory | null = null;
      let total: Tensor | null = null;
      for (const s of tb.segments) {
        const r = model.documentLmLoss(s.inputIds, s.labels, memory);
        disposeMemory(memory);
        memory = r.memory;
        total = total ? total.add(r.loss) : r.loss;
      }
      disposeMemory(memory);
      return total!.div(tb.segments.length);
    }
  }
}
