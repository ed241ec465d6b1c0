/**
 * Data generators of ERNIE 3.0's pre-training tasks (arXiv 2107.02137 §3.2; ERNIE 1.0/2.0 for the details they
 * inherit). Each returns plain arrays (one example); `collate` pads a list into tensors. Label −100 = no loss there.
 * - knowledge-masked LM (§3.2.1, ERNIE 1.0): units are whole entities and phrases (from the sentence's spans) and
 *   the remaining single tokens; units are masked in random order until ≥ `rate` of the tokens are; each masked unit
 *   is replaced 80% by [MASK]s, 10% by random tokens, 10% kept — always as a whole.
 * - document LM (§3.2.1, NLG): a document cut into consecutive segments of `segLen` next-token pairs, fed in order
 *   with the recurrence memory.
 * - sentence reordering (§3.2.2, ERNIE 2.0): the paragraph split into n ∈ 1…m contiguous groups of sentences,
 *   shuffled by a random permutation π; the class is Σ_{k<n} k! + rank(π) (Lehmer code), Σ_{n≤m} n! classes.
 * - sentence distance (§3.2.2): a sentence pair that is adjacent (0), in the same document but not adjacent (1), or
 *   from different documents (2).
 * - universal knowledge-text prediction (§3.2.3): [CLS] head relation tail [SEP] sentence [SEP] for a sentence that
 *   mentions the triple's head and tail; either the relation of the triple is masked, or words (whole entities,
 *   phrases, tokens) of the sentence — the model must use both parts to fill them in. A triple no sentence mentions
 *   is used alone, [CLS] head relation tail [SEP], with its relation masked (the knowledge-graph half of the input;
 *   there is no text half to mask).
 * - generative knowledge-text prediction (an extension, not in the paper): the same triple and sentence read left
 *   to right by the NLG module, head relation tail [SEP] sentence [SEP], every next token a target — the tail is
 *   predicted from head and relation, and the sentence from the triple (knowledge-graph completion and
 *   knowledge-conditioned text on the generation path, which the paper's understanding-side task never trains).
 */
import { KilnError } from '../../errors.js';
import { fromArray } from '../../tensor/creation.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { CLS, MASK, PAD, SEP, type AnnotatedSentence, type Span, type Triple } from './synthetic-kg.js';

export const IGNORE = -100;

export interface Example {
  inputIds: number[];
  tokenTypeIds: number[];
  /** Per-token targets (−100 = none), or a single class in `label`. */
  labels?: number[];
  label?: number;
}

export interface MaskOptions {
  vocabSize: number;
  /** Fraction of tokens to mask (default 0.15). */
  rate?: number;
  /** Lowest id a random replacement may take (skips the specials; default 5). */
  firstWordId?: number;
}

/** Masks the units of `ids` (spans as wholes, other tokens singly); returns the new ids, labels and masked units. */
export function maskUnits(ids: number[], spans: Span[], gen: Generator, o: MaskOptions): { ids: number[]; labels: number[]; masked: Span[] } {
  const rate = o.rate ?? 0.15;
  const first = o.firstWordId ?? 5;
  const covered = new Array<boolean>(ids.length).fill(false);
  const units: Span[] = [];
  for (const s of spans) {
    if (s.start < 0 || s.end > ids.length || s.start >= s.end) throw new KilnError('E_ARG', `knowledge masking: span [${s.start}, ${s.end}) is outside a ${ids.length}-token sentence`);
    units.push(s);
    for (let i = s.start; i < s.end; i++) covered[i] = true;
  }
  for (let i = 0; i < ids.length; i++) if (!covered[i]) units.push({ start: i, end: i + 1, kind: 'phrase' });
  for (let i = units.length - 1; i > 0; i--) {
    const j = Math.floor(gen.uniform() * (i + 1));
    [units[i], units[j]] = [units[j], units[i]];
  }
  const out = ids.slice();
  const labels = new Array<number>(ids.length).fill(IGNORE);
  const target = Math.max(1, Math.round(rate * ids.length));
  const masked: Span[] = [];
  let n = 0;
  for (const u of units) {
    if (n >= target) break;
    const r = gen.uniform();
    for (let i = u.start; i < u.end; i++) {
      labels[i] = ids[i];
      out[i] = r < 0.8 ? MASK : r < 0.9 ? first + Math.floor(gen.uniform() * (o.vocabSize - first)) : ids[i];
    }
    masked.push(u);
    n += u.end - u.start;
  }
  masked.sort((a, b) => a.start - b.start);
  return { ids: out, labels, masked };
}

/** Knowledge-masked LM example: [CLS] sentence [SEP] with entity/phrase-level masking. */
export function knowledgeMaskedLm(s: AnnotatedSentence, gen: Generator, o: MaskOptions): Example & { masked: Span[] } {
  const m = maskUnits(s.ids, s.spans, gen, o);
  return {
    inputIds: [CLS, ...m.ids, SEP], tokenTypeIds: new Array<number>(s.ids.length + 2).fill(0), labels: [IGNORE, ...m.labels, IGNORE],
    masked: m.masked.map((u) => ({ ...u, start: u.start + 1, end: u.end + 1 })),
  };
}

/** Document LM: consecutive segments (input, next-token targets) of a document's tokens, in order. */
export function documentLmSegments(doc: number[], segLen: number): { inputIds: number[]; labels: number[] }[] {
  if (!Number.isInteger(segLen) || segLen < 1) throw new KilnError('E_ARG', `document LM: segment length must be a positive integer, got ${segLen}`);
  const out: { inputIds: number[]; labels: number[] }[] = [];
  for (let s = 0; s + 1 < doc.length; s += segLen) {
    const e = Math.min(s + segLen, doc.length - 1);
    out.push({ inputIds: doc.slice(s, e), labels: doc.slice(s + 1, e + 1) });
  }
  return out;
}

/** n! */
function factorial(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}

/** Class of permutation π of n items: Σ_{k<n} k! + its Lehmer rank. */
export function permutationClass(perm: number[]): number {
  const n = perm.length;
  let offset = 0;
  for (let k = 1; k < n; k++) offset += factorial(k);
  let rank = 0;
  for (let i = 0; i < n; i++) {
    let smaller = 0;
    for (let j = i + 1; j < n; j++) if (perm[j] < perm[i]) smaller++;
    rank += smaller * factorial(n - 1 - i);
  }
  return offset + rank;
}

/** The permutation a class stands for (inverse of `permutationClass`). */
export function classPermutation(cls: number): number[] {
  let n = 1;
  while (cls >= factorial(n)) {
    cls -= factorial(n);
    n++;
  }
  const items = Array.from({ length: n }, (_, i) => i);
  const perm: number[] = [];
  for (let i = n - 1; i >= 0; i--) {
    const f = factorial(i);
    const q = Math.floor(cls / f);
    cls -= q * f;
    perm.push(items.splice(q, 1)[0]);
  }
  return perm;
}

/**
 * Sentence reordering: split `sentences` into n ≤ min(m, #sentences) contiguous groups, emit them in the order
 * π (position k holds group π[k]) as [CLS] g_π0 [SEP] g_π1 [SEP] …; `label` = permutationClass(π).
 */
export function sentenceReordering(sentences: number[][], m: number, gen: Generator): Example & { perm: number[]; groups: number[][] } {
  const n = 1 + Math.floor(gen.uniform() * Math.min(m, sentences.length));
  const cuts = new Set<number>();
  while (cuts.size < n - 1) cuts.add(1 + Math.floor(gen.uniform() * (sentences.length - 1)));
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), sentences.length];
  const groups = bounds.slice(0, -1).map((b, i) => sentences.slice(b, bounds[i + 1]).flat());
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(gen.uniform() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const inputIds = [CLS];
  for (const g of perm) inputIds.push(...groups[g], SEP);
  return { inputIds, tokenTypeIds: new Array<number>(inputIds.length).fill(0), label: permutationClass(perm), perm, groups };
}

export const DISTANCE_ADJACENT = 0;
export const DISTANCE_SAME_DOC = 1;
export const DISTANCE_OTHER_DOC = 2;

/** Sentence distance: a pair from `docs` (each a list of sentences' ids) with label 0/1/2 (adjacent/same/other). */
export function sentenceDistance(docs: number[][][], gen: Generator): Example & { from: [number, number]; to: [number, number] } {
  const pick = (n: number) => Math.floor(gen.uniform() * n);
  const eligible = docs.map((d, i) => [d, i] as const).filter(([d]) => d.length >= 3);
  if (eligible.length < 1 || docs.length < 2) throw new KilnError('E_ARG', 'sentence distance needs ≥ 2 documents, one of them with ≥ 3 sentences');
  const [doc, d] = eligible[pick(eligible.length)];
  const label = pick(3);
  let i: number;
  let to: [number, number];
  if (label === DISTANCE_ADJACENT) {
    i = pick(doc.length - 1);
    to = [d, i + 1];
  } else if (label === DISTANCE_SAME_DOC) {
    // a pair (i, j) with |i − j| ≥ 2, drawn uniformly: i first, then j among the sentences not within 1 of it
    const pairs: [number, number][] = [];
    for (let x = 0; x < doc.length; x++) for (let y = 0; y < doc.length; y++) if (Math.abs(x - y) > 1) pairs.push([x, y]);
    const [x, y] = pairs[pick(pairs.length)];
    i = x;
    to = [d, y];
  } else {
    i = pick(doc.length);
    let e = pick(docs.length - 1);
    if (e >= d) e++;
    to = [e, pick(docs[e].length)];
  }
  const a = doc[i];
  const b = docs[to[0]][to[1]];
  return {
    inputIds: [CLS, ...a, SEP, ...b, SEP], tokenTypeIds: [...new Array<number>(a.length + 2).fill(0), ...new Array<number>(b.length + 1).fill(1)],
    label, from: [d, i], to,
  };
}

/**
 * Universal knowledge-text prediction: [CLS] head relation tail [SEP] sentence [SEP] (types 0 | 1). With
 * probability `relationMaskRate` (default ½) the relation is masked (all of it), else the sentence is
 * knowledge-masked. The sentence must mention the head and the tail (checked). `s` null: the triple alone,
 * [CLS] head relation tail [SEP] (all type 0), always with its relation masked.
 */
export function universalKnowledgeText(t: Triple, s: AnnotatedSentence | null, gen: Generator, o: MaskOptions & { relationMaskRate?: number }): Example & { maskedPart: 'relation' | 'sentence' } {
  const sIds = s?.ids ?? [];
  const has = (xs: number[]) => sIds.some((_, i) => xs.every((x, k) => sIds[i + k] === x));
  if (s && (!has(t.head) || !has(t.tail))) throw new KilnError('E_ARG', 'universal knowledge-text prediction: the sentence must mention the triple\'s head and tail');
  const triple = [...t.head, ...t.relation, ...t.tail];
  const text = s ? [...sIds, SEP] : [];
  const tt = [...new Array<number>(triple.length + 2).fill(0), ...new Array<number>(text.length).fill(1)];
  if (!s || gen.uniform() < (o.relationMaskRate ?? 0.5)) {
    const r0 = t.head.length;
    const ids = triple.slice();
    const labels = new Array<number>(triple.length).fill(IGNORE);
    for (let i = r0; i < r0 + t.relation.length; i++) {
      labels[i] = ids[i];
      ids[i] = MASK;
    }
    return {
      inputIds: [CLS, ...ids, SEP, ...text], tokenTypeIds: tt,
      labels: [IGNORE, ...labels, IGNORE, ...new Array<number>(text.length).fill(IGNORE)], maskedPart: 'relation',
    };
  }
  const m = maskUnits(sIds, s.spans, gen, o);
  return {
    inputIds: [CLS, ...triple, SEP, ...m.ids, SEP], tokenTypeIds: tt,
    labels: [IGNORE, ...new Array<number>(triple.length + 1).fill(IGNORE), ...m.labels, IGNORE], maskedPart: 'sentence',
  };
}

/** Generative knowledge-text prediction: input and next-token labels of head relation tail [SEP] (sentence [SEP]). */
export function knowledgeTextLm(t: Triple, s: AnnotatedSentence | null): { inputIds: number[]; labels: number[] } {
  const seq = [...t.head, ...t.relation, ...t.tail, SEP, ...(s ? [...s.ids, SEP] : [])];
  return { inputIds: seq.slice(0, -1), labels: seq.slice(1) };
}

export interface Batch {
  inputIds: Tensor;
  tokenTypeIds: Tensor;
  attentionMask: Tensor;
  /** [B, T] token labels (−100 padded), when the examples have them. */
  labels: Tensor | null;
  /** [B] classes, when the examples have them. */
  label: Tensor | null;
}

/** Pads examples to the longest (PAD, type 0, mask 0, label −100) as i32 tensors. */
export function collate(xs: Example[]): Batch {
  const B = xs.length;
  const T = Math.max(...xs.map((x) => x.inputIds.length));
  const ids = new Int32Array(B * T).fill(PAD);
  const tt = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const hasLabels = xs.every((x) => x.labels);
  const labels = new Int32Array(B * T).fill(IGNORE);
  xs.forEach((x, b) => {
    ids.set(x.inputIds, b * T);
    tt.set(x.tokenTypeIds, b * T);
    mask.fill(1, b * T, b * T + x.inputIds.length);
    if (x.labels) labels.set(x.labels, b * T);
  });
  const i32 = (a: Int32Array, shape: number[]) => fromArray(a, shape, { dtype: 'i32' });
  const hasLabel = xs.every((x) => x.label !== undefined);
  return {
    inputIds: i32(ids, [B, T]), tokenTypeIds: i32(tt, [B, T]), attentionMask: i32(mask, [B, T]),
    labels: hasLabels ? i32(labels, [B, T]) : null, label: hasLabel ? i32(Int32Array.from(xs.map((x) => x.label!)), [B]) : null,
  };
}
